"""Policy files fail loudly at load time, naming the offending field."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies import DEFAULT_POLICY_PATH, PolicyError, load_policy


def test_shipped_default_policy_loads_with_a_stable_digest() -> None:
    assert load_policy().digest == load_policy(DEFAULT_POLICY_PATH).digest


@pytest.mark.parametrize(("text", "field"), [
    ("name: p\nverification:\n  max_recal_drop: 0.1\n", "verification.max_recal_drop"),
    ("name: p\nverification:\n  rbo_persistence: 1.5\n", "verification.rbo_persistence"),
    ("verification: {}\n", "name"),
    ("name: p\ndeadlines:\n  response_months: zero\n", "deadlines.response_months"),
])
def test_bad_field_is_named(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=f"field '{field}'"):
        load_policy(path)


def test_non_yaml_and_missing_files_are_clear_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(broken)
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "absent.yaml")


def test_policy_digest_changes_with_any_threshold(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: default\nverification:\n  max_recall_drop: 0.06\n")
    assert load_policy(path).digest != load_policy().digest
