"""Policy files fail loudly at load time, naming the offending field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger import RequestError
from policies import (
    DEFAULT_POLICY_PATH,
    POLICY_ACTIVATED,
    Policy,
    PolicyError,
    Routing,
    activate_policy,
    load_policy,
)
from ui.services import Services, open_services
from unlearn.engine import ErasureEngine
from unlearn.requests import ErasureRequest


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


@pytest.mark.parametrize(("text", "field"), [
    ("name: p\nverification:\n  rbo_margin: .inf\n", "verification.rbo_margin"),
    ("name: p\nverification:\n  rbo_margin: .nan\n", "verification.rbo_margin"),
    ("name: p\nverification:\n  rbo_margin: 1000\n", "verification.rbo_margin"),
    ("name: p\nverification:\n  mia_auc_margin: 0.9\n", "verification.mia_auc_margin"),
    ("name: p\nverification:\n  max_cka_drop: 2\n", "verification.max_cka_drop"),
    ("name: p\nverification:\n  rbo_depths: [1000000000]\n", "verification.rbo_depths.0"),
    ("name: p\ndeadlines:\n  response_months: 100000\n", "deadlines.response_months"),
    ("name: p\ndeadlines:\n  max_extension_months: 3\n", "deadlines.max_extension_months"),
    ("name: p\naudit:\n  window_days: 1000000000\n", "audit.window_days"),
    ("name: p\nretention:\n  reports_days: 1000000000\n", "retention.reports_days"),
    ("name: p\nversion: 100000000000000000000\n", "version"),
    ("name: ''\n", "name"),
])
def test_policies_are_bounded_by_the_metrics_and_the_law(tmp_path: Path, text: str, field: str) -> None:
    """Margins beyond their metric's range pass anything (.inf broke every command), and GDPR Art. 12(3) allows one
    month plus at most two: such a policy is refused when loaded, naming the field, on one line."""
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=f"field '{re.escape(field)}'") as raised:
        load_policy(path)
    assert "\n" not in str(raised.value)


def test_routing_to_an_unregistered_method_is_refused_where_the_policy_meets_the_registry(
        workspace: Services, tmp_path: Path) -> None:
    """Policies cannot import the registry (layering); the services and `lethe policy activate` check it."""
    from typer.testing import CliRunner

    from ui.cli import app

    path = tmp_path / "typo.yaml"
    path.write_text("name: typo\nrouting:\n  subject: sisaa\n")
    root = workspace.ledger.workspace.root
    with pytest.raises(PolicyError, match="routing.subject: 'sisaa' is not a registered unlearning method"):
        open_services(root, path)
    result = CliRunner().invoke(app, ["policy", "activate", str(path), "-w", str(root)])
    assert result.exit_code == 2 and "'sisaa' is not a registered" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (root / "policy.yaml").exists() and not workspace.ledger.log.events([POLICY_ACTIVATED])


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


@pytest.mark.parametrize(("text", "field", "reason"), [
    ("name: p\naudit:\n  cron: '61 3 * * *'\n", "audit.cron", "higher than the maximum"),
    ("name: p\naudit:\n  cron: '0 3 * *'\n", "audit.cron", "Wrong number of fields"),
    ("name: p\napprovers:\n  extend_deadline: [intern]\n", "approvers.extend_deadline.0", "'officer' or 'auditor'"),
    ("name: p\napprovers:\n  run_audit: []\n", "approvers.run_audit", "at least 1"),
    ("name: p\ndeadlines:\n  nearly_late_days: 40\n", "deadlines", "shorter than the response period"),
    ("name: p\nretention:\n  reports_days: 0\n", "retention.reports_days", "greater than or equal to 1"),
    ("name: p\nrouting:\n  whole_subject: sisa\n", "routing.whole_subject", "Extra inputs"),
])
def test_bad_policy_names_the_field_and_the_reason(tmp_path: Path, text: str, field: str, reason: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=f"field '{re.escape(field)}': .*{re.escape(reason)}"):
        load_policy(path)


def test_shipped_policy_documents_every_section() -> None:
    policy = load_policy()
    text = DEFAULT_POLICY_PATH.read_text()
    for section in ("routing", "verification", "deadlines", "audit", "retention", "approvers"):
        assert f"\n{section}:" in text
    for key in Policy.model_fields["deadlines"].annotation.model_fields:
        assert f"  {key}:" in text
    assert policy.deadlines.response_months == 1 and policy.deadlines.max_extension_months == 2
    assert policy.routing.method_for("subject") is None


def test_changing_the_policy_is_a_ledger_event(workspace: Services, tmp_path: Path) -> None:
    ledger, default = workspace.ledger, workspace.policy
    subject = str(ledger.store.subjects_frame().iloc[0]["subject"])
    first = workspace.engine.file(ErasureRequest(subject=subject))
    assert [e.payload["digest"] for e in ledger.log.events([POLICY_ACTIVATED])] == [default.digest]

    stricter = tmp_path / "stricter.yaml"
    stricter.write_text("name: stricter\nversion: 2\ndeadlines:\n  nearly_late_days: 10\n")
    with pytest.raises(PolicyError, match="role 'auditor' may not approve activate policy"):
        activate_policy(ledger, stricter, role="auditor")
    assert len(ledger.log.events([POLICY_ACTIVATED])) == 1

    policy = activate_policy(ledger, stricter, role="officer", actor="dpo")
    events = ledger.log.events([POLICY_ACTIVATED])
    assert [e.payload["digest"] for e in events] == [default.digest, policy.digest]
    assert events[-1].payload["previous_digest"] == default.digest and events[-1].actor == "dpo"
    assert events[-1].payload["document"]["deadlines"]["nearly_late_days"] == 10
    activate_policy(ledger, stricter, role="officer")  # the same policy again: nothing new to record
    assert len(ledger.log.events([POLICY_ACTIVATED])) == 2

    reopened = open_services(ledger.workspace.root)  # the workspace now runs under the activated policy
    assert reopened.policy.digest == policy.digest
    reopened.engine.extend(first, 1, "records held by a processor")
    assert ledger.log.events(["request.extended"])[-1].payload["policy_digest"] == policy.digest
    assert ledger.verify().ok


def test_routing_a_kind_to_a_method_no_deployment_can_use_refuses_the_request(workspace: Services) -> None:
    routed = workspace.policy.model_copy(update={"routing": Routing(subject="retrain")})
    engine = ErasureEngine(workspace.ledger, routed, workspace.engine.verifier)
    count = len(workspace.ledger.log.events())
    subject = str(workspace.ledger.store.subjects_frame().iloc[0]["subject"])
    with pytest.raises(RequestError, match="routes subject requests to 'retrain'.*trained with 'sisa'"):
        engine.file(ErasureRequest(subject=subject))
    assert len(workspace.ledger.log.events()) == count
    sisa = workspace.policy.model_copy(update={"routing": Routing(subject="sisa")})
    request_id = ErasureEngine(workspace.ledger, sisa, workspace.engine.verifier).file(ErasureRequest(subject=subject))
    assert workspace.ledger.request(request_id).received["routed_method"] == "sisa"
