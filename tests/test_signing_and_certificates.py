"""Signed reports and certificates: they verify offline, and any edit, wrong key or broken file is refused."""

from __future__ import annotations

import json
import stat
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest
from pydantic import ValidationError

from ledger._signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, Signer
from ledger.errors import LetheError, SignatureError
from verify import (
    APPROXIMATE_NOTICE,
    Certificate,
    MetricCheck,
    Verdict,
    VerificationReport,
    gdpr_deadline,
    issue_certificate,
    report_digest,
    save_envelope,
    sign_model,
    verify_certificate_file,
    verify_envelope,
)


@pytest.fixture()
def signer(tmp_path: Path) -> Signer:
    return Signer.load_or_create(tmp_path / "keys")


def make_report() -> VerificationReport:
    return VerificationReport(
        report_id="rep-1", request_id="req-2026-0042", deployment_id="dep-1", method="sisa", exact=True,
        created_at="2026-03-20T10:00:00Z", subjects_count=1, forgotten_interactions=12, shards_retrained=[2, 5],
        checkpoints_replaced=[{"old": "ck-a", "new": "ck-b"}],
        metrics={"original": {"recall@20": 0.21}, "unlearned": {"recall@20": 0.2}},
        checks=[MetricCheck(name="rbo@10", value=0.93, threshold=0.85, comparison="≥", passed=True, detail="")],
        passed=True, ledger_head="ab" * 32, policy_digest="cd" * 32, seed=7, data_digest="ef" * 32,
    )


def make_certificate(signer: Signer, **overrides: Any) -> Certificate:
    fields: dict[str, Any] = dict(
        certificate_id="cert-req-2026-0042",
        request_id="req-2026-0042",
        legal_basis="Art. 17(1)(b): consent withdrawn",
        subject_ref="5f" * 16,
        received_at="2026-03-15T09:30:00Z",
        completed_at="2026-03-20T10:00:00Z",
        deadline=gdpr_deadline(date(2026, 3, 15)),
        within_deadline=True,
        method="sisa",
        exact=True,
        deployment_id="dep-1",
        shards_retrained=[2, 5],
        checkpoints_replaced=[{"old": "ck-a", "new": "ck-b"}],
        lineage_proof="serving checkpoints' training sets exclude all 12 erased interactions",
        verdicts=[
            {"name": "lineage", "value": None, "threshold": None, "comparison": "", "passed": True},
            {"name": "rbo@10", "value": 0.93, "threshold": 0.85, "comparison": "≥", "passed": True},
        ],
        passed=True,
        report_digest=report_digest(make_report()),
        ledger_head="ab" * 32,
        key_fingerprint=signer.keyid,
        issued_at="2026-03-20T10:01:00Z",
    )
    return Certificate(**{**fields, **overrides})


@pytest.fixture()
def issued(signer: Signer, tmp_path: Path) -> tuple[Path, Path]:
    return issue_certificate(make_certificate(signer), signer, tmp_path / "certs")


def test_an_issued_certificate_verifies_with_the_public_key(
    issued: tuple[Path, Path], signer: Signer, tmp_path: Path
) -> None:
    json_path, _ = issued
    assert json_path.name == "cert-req-2026-0042.json"
    assert verify_certificate_file(json_path, signer.public_key) == make_certificate(signer)
    assert verify_certificate_file(json_path, tmp_path / "keys" / PUBLIC_KEY_FILE).request_id == "req-2026-0042"


def _set_verdict_value(payload: dict[str, Any]) -> None:
    payload["verdicts"][1]["value"] = 0.99


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "method": lambda p: p.update(method="retrain"),
    "passed": lambda p: p.update(passed=False),
    "verdict value": _set_verdict_value,
    "deadline": lambda p: p.update(deadline="2026-05-15"),
    "shards_retrained": lambda p: p.update(shards_retrained=[2]),
    "within_deadline": lambda p: p.update(within_deadline=False),
    "subject_ref": lambda p: p.update(subject_ref="00" * 16),
    "added field": lambda p: p.update(note="fine"),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_editing_any_field_is_rejected(issued: tuple[Path, Path], signer: Signer, edit: Callable) -> None:
    json_path, _ = issued
    envelope = json.loads(json_path.read_text())
    edit(envelope["payload"])
    json_path.write_text(json.dumps(envelope, indent=2))
    with pytest.raises(SignatureError, match="altered"):
        verify_certificate_file(json_path, signer.public_key)


def test_a_duplicated_key_cannot_smuggle_a_second_value(issued: tuple[Path, Path], signer: Signer) -> None:
    json_path, _ = issued
    text = json_path.read_text()
    json_path.write_text(text.replace('"method": "sisa"', '"method": "noop",\n    "method": "sisa"', 1))
    with pytest.raises(SignatureError, match="duplicate key 'method'"):
        verify_certificate_file(json_path, signer.public_key)


def test_another_key_pair_is_rejected(issued: tuple[Path, Path], tmp_path: Path) -> None:
    other = Signer.load_or_create(tmp_path / "other-keys")
    with pytest.raises(SignatureError, match="not signed by key"):
        verify_certificate_file(issued[0], other.public_key)


def test_a_forged_signature_under_the_right_keyid_is_rejected(
    issued: tuple[Path, Path], signer: Signer, tmp_path: Path
) -> None:
    json_path, _ = issued
    envelope = json.loads(json_path.read_text())
    forger = Signer.load_or_create(tmp_path / "forger")
    envelope["signatures"] = [{"keyid": signer.keyid, "sig": forger.sign(envelope["payload"])["sig"]}]
    json_path.write_text(json.dumps(envelope))
    with pytest.raises(SignatureError, match="altered"):
        verify_certificate_file(json_path, signer.public_key)


@pytest.mark.parametrize(
    "content",
    [
        "TRUNCATED",
        "",
        "not json at all",
        "[]",
        '{"payload": {}, "signatures": []}',
        '{"payload": {"a": NaN}, "signatures": [{"keyid": "x", "sig": "y"}]}',
        '{"payload": "x", "signatures": [{"keyid": "x", "sig": "y"}]}',
    ],
    ids=["truncated", "empty", "garbage", "list", "no-signatures", "nan", "payload-not-object"],
)
def test_a_malformed_file_gives_a_one_line_lethe_error(
    issued: tuple[Path, Path], signer: Signer, tmp_path: Path, content: str
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(issued[0].read_text()[:200] if content == "TRUNCATED" else content)
    with pytest.raises(LetheError) as caught:
        verify_certificate_file(path, signer.public_key)
    assert "\n" not in str(caught.value) and str(caught.value)


def test_a_missing_file_is_a_clear_error(signer: Signer, tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="file not found"):
        verify_certificate_file(tmp_path / "absent.json", signer.public_key)


def test_a_signed_payload_that_is_not_a_certificate_is_rejected(signer: Signer, tmp_path: Path) -> None:
    path = save_envelope(sign_model(make_report(), signer), tmp_path / "report.json")
    assert verify_envelope(path, signer.public_key)["report_id"] == "rep-1"
    with pytest.raises(SignatureError, match="not a valid certificate"):
        verify_certificate_file(path, signer.public_key)


def test_the_pdf_is_searchable_and_states_the_verdicts(issued: tuple[Path, Path]) -> None:
    _, pdf_path = issued
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    for text in (b"Certificate of erasure", b"req-2026-0042", b"PASS", b">= 0.85", b"Verify offline"):
        assert text in data


def test_an_approximate_certificate_carries_the_notice_and_a_failing_one_says_fail(
    signer: Signer, tmp_path: Path
) -> None:
    certificate = make_certificate(
        signer,
        method="alteraser",
        exact=False,
        verdicts=[{"name": "re-predict", "value": 0.7, "threshold": 0.55, "comparison": "≤", "passed": False}],
        passed=False,
    )
    assert certificate.approximate_notice == APPROXIMATE_NOTICE
    json_path, pdf_path = issue_certificate(certificate, signer, tmp_path)
    assert verify_certificate_file(json_path, signer.public_key).approximate_notice == APPROXIMATE_NOTICE
    assert b"FAIL" in pdf_path.read_bytes() and b"approximate" in pdf_path.read_bytes()


def test_the_private_key_is_readable_by_its_owner_only(signer: Signer, tmp_path: Path) -> None:
    assert stat.S_IMODE((tmp_path / "keys" / PRIVATE_KEY_FILE).stat().st_mode) == 0o600


def test_issuing_with_a_key_the_certificate_does_not_name_is_refused(signer: Signer, tmp_path: Path) -> None:
    other = Signer.load_or_create(tmp_path / "other-keys")
    with pytest.raises(SignatureError):
        issue_certificate(make_certificate(signer), other, tmp_path / "certs")


@pytest.mark.parametrize(
    "overrides",
    [
        {"passed": True, "verdicts": []},
        {"verdicts": [Verdict(name="rbo@10", value=0.1, threshold=0.85, comparison="≥", passed=False)]},
        {"within_deadline": False},
        {"completed_at": "2026-04-16T08:00:00Z"},  # after the deadline but claimed within it
        {"subject_ref": "alice@example.com"},
        {"certificate_id": "../escape"},
        {"exact": True, "approximate_notice": "contradiction"},
    ],
    ids=["no-verdicts", "failed-verdict", "deadline-flag", "late", "raw-subject", "path-id", "exact-notice"],
)
def test_an_inconsistent_certificate_cannot_be_built(signer: Signer, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_certificate(signer, **overrides)


@pytest.mark.parametrize(
    ("received", "deadline"),
    [
        (date(2026, 3, 15), date(2026, 4, 15)),
        (date(2026, 1, 31), date(2026, 2, 28)),
        (date(2028, 1, 31), date(2028, 2, 29)),
        (date(2026, 3, 31), date(2026, 4, 30)),
        (date(2026, 12, 20), date(2027, 1, 20)),
        (date(2026, 2, 28), date(2026, 3, 28)),
    ],
)
def test_gdpr_deadline_is_one_month_per_regulation_1182_71(received: date, deadline: date) -> None:
    assert gdpr_deadline(received) == deadline
