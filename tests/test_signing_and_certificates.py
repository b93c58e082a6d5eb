"""Signed reports and certificates: they verify offline, and any edit, wrong key or broken file is refused.

Envelopes are DSSE v1 (issue 5, issue 18): base64 of the statement's RFC 8785 bytes, ``PAE(payloadType, bytes)``
signed with Ed25519. Edits below change the decoded statement and re-encode it without re-signing.
"""

from __future__ import annotations

import base64
import copy
import dataclasses

import json
import stat
from datetime import date
from pathlib import Path
from typing import Any, Callable

import pytest
from pydantic import ValidationError

from ledger import Event, SignedCheckpoint, canonical_json
from ledger._events import GENESIS_HASH, event_hash, event_leaf
from ledger._merkle import inclusion_proof, leaf_hash, root_hash
from ledger._proofs import make_bundle
from ledger._signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, VKEY_FILE, Signer
from ledger.errors import LetheError, SignatureError
from verify import (
    APPROXIMATE_NOTICE,
    REPORT_PAYLOAD_TYPE,
    Certificate,
    MetricCheck,
    ReportStatement,
    Verdict,
    VerificationReport,
    gdpr_deadline,
    issue_certificate,
    load_report,
    pae,
    payload_digest,
    save_envelope,
    sign_payload,
    verify_certificate_file,
    verify_envelope,
)
from verify._report import ErasureScope

def statement_of(envelope: dict[str, Any]) -> dict[str, Any]:
    """The statement an envelope carries, read without verifying (for building tampered copies only)."""
    return json.loads(base64.b64decode(envelope["payload"]))


def with_statement(envelope: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    """``envelope`` carrying ``statement`` instead (canonical bytes), its signatures left as they were."""
    return {**envelope, "payload": base64.b64encode(canonical_json(statement)).decode()}


def edit_statement(path: Path, edit: Callable[[dict[str, Any]], Any]) -> None:
    envelope = json.loads(path.read_text())
    statement = statement_of(envelope)
    edit(statement)
    path.write_text(json.dumps(with_statement(envelope, statement), indent=2))


SCOPE = ErasureScope(subjects=1, interactions=15, training_pairs=12, held_out_pairs=3, deployments=1,
                     checkpoints_replaced=2)


@pytest.fixture()
def signer(tmp_path: Path) -> Signer:
    return Signer.load_or_create(tmp_path / "keys")


def make_report() -> VerificationReport:
    return VerificationReport(
        report_id="rep-1", request_id="req-2026-0042", deployment_id="dep-1", method="sisa", exact=True,
        created_at="2026-03-20T10:00:00Z", scope=SCOPE, shards_retrained=[2, 5],
        checkpoints_replaced=[{"old": "ck-a", "new": "ck-b"}], reference=None,
        metrics={"original": {"recall@20": 0.21}, "unlearned": {"recall@20": 0.2}}, figures=None,
        checks=[MetricCheck(name="rbo@10", value=0.93, threshold=0.85, comparison="≥", passed=True, detail="")],
        passed=True, ledger_head="ab" * 32, policy_digest="cd" * 32, seed=7, data_digest="ef" * 32,
    )


def make_statement() -> ReportStatement:
    return ReportStatement(
        subject=[{"name": "unlearned/dep-1/s2/v2", "digest": {"sha256": "12" * 32}},
                 {"name": "reference", "digest": {"sha256": "34" * 32}}],
        predicate=make_report(),
    )


_PROOFS: dict[tuple[str, str], dict[str, Any]] = {}


def make_ledger_proof(signer: Signer, request_id: str = "req-2026-0042") -> dict[str, Any]:
    """A real inclusion-proof bundle over a tiny log holding the request's received and verified events.

    Made once per key and request (a checkpoint carries its signing time), returned as a fresh copy.
    """
    key = (signer.keyid, request_id)
    if key not in _PROOFS:
        _PROOFS[key] = _build_ledger_proof(signer, request_id)
    return copy.deepcopy(_PROOFS[key])


def _build_ledger_proof(signer: Signer, request_id: str) -> dict[str, Any]:
    prev, events = GENESIS_HASH, []
    for seq, kind in enumerate(["dataset.ingested", "request.received", "request.verified"], start=1):
        payload = {} if seq == 1 else {"request_id": request_id}
        digest = event_hash(prev, seq, "2026-03-15T09:30:00+00:00", kind, "test", canonical_json(payload))
        events.append(Event(seq, "2026-03-15T09:30:00+00:00", kind, "test", payload, prev, digest))
        prev = digest
    leaves = [leaf_hash(event_leaf(e)) for e in events]
    head = SignedCheckpoint.sign(signer, len(leaves), root_hash(leaves))
    return make_bundle(head, [(dataclasses.asdict(e), e.seq - 1, inclusion_proof(e.seq - 1, leaves)) for e in events[1:]])


def make_certificate(signer: Signer, **overrides: Any) -> Certificate:
    proof = make_ledger_proof(signer)
    head = SignedCheckpoint.from_note(proof["checkpoint"])
    fields: dict[str, Any] = dict(
        certificate_id="cert-req-2026-0042",
        request_id="req-2026-0042",
        legal_basis="Art. 17(1)(b): consent withdrawn",
        subject_refs=["5f" * 16],
        received_at="2026-03-15T09:30:00Z",
        completed_at="2026-03-20T10:00:00Z",
        deadline=gdpr_deadline(date(2026, 3, 15)),
        within_deadline=True,
        scope=SCOPE,
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
        report_digest=payload_digest(make_statement().payload()),
        ledger_head="ab" * 32,
        ledger_checkpoint={"tree_size": head.tree_size, "root": head.root.hex(), "note": proof["checkpoint"]},
        inclusion_proof=proof,
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


def _changed(value: Any) -> Any:
    """Some other JSON value of the same shape (the signature must catch it before any schema check)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "0"
    if isinstance(value, list):
        return value[:-1] if value else [{"name": "x"}]
    if isinstance(value, dict):
        return {**value, "x": 1}
    return {"tree_size": 1, "root": "00" * 32}  # None: an optional ledger field filled in after signing


@pytest.mark.parametrize("field", list(Certificate.model_fields))
def test_editing_any_field_is_rejected(issued: tuple[Path, Path], signer: Signer, field: str) -> None:
    json_path, _ = issued
    # a field added to the schema later and unset here is absent from the signed JSON: adding it is an edit too
    edit_statement(json_path, lambda s: s["predicate"].update({field: _changed(s["predicate"].get(field))}))
    with pytest.raises(SignatureError, match="altered"):
        verify_certificate_file(json_path, signer.public_key)


EDITS: dict[str, Callable[[dict[str, Any]], None]] = {
    "verdict value": lambda e: e.update(with_statement(e, _edited(statement_of(e), ["predicate", "verdicts", 1],
                                                                   value=0.99))),
    "added field": lambda e: e.update(with_statement(e, _edited(statement_of(e), ["predicate"], note="fine"))),
    "removed field": lambda e: e.update(with_statement(e, {**statement_of(e), "predicate": {
        k: v for k, v in statement_of(e)["predicate"].items() if k != "legal_basis"}})),
    "subject digest": lambda e: e.update(with_statement(e, _edited(statement_of(e), ["subject", 0, "digest"],
                                                                    sha256="56" * 32))),
    "predicate type": lambda e: e.update(with_statement(e, _edited(statement_of(e), [], predicateType="x:y"))),
    "payload type": lambda e: e.update(payloadType="application/vnd.lethe.certificate+json;version=9"),
    "payload in URL-safe base64 of other bytes": lambda e: e.update(
        payload=base64.urlsafe_b64encode(canonical_json({**statement_of(e), "_type": "x"})).decode()),
}


def _edited(document: Any, path: list[Any], **changes: Any) -> Any:
    target = document
    for step in path:
        target = target[step]
    target.update(changes)
    return document


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_editing_nested_values_or_the_type_is_rejected(issued: tuple[Path, Path], signer: Signer,
                                                       edit: Callable) -> None:
    json_path, _ = issued
    envelope = json.loads(json_path.read_text())
    edit(envelope)
    json_path.write_text(json.dumps(envelope, indent=2))
    with pytest.raises(SignatureError, match="altered"):
        verify_certificate_file(json_path, signer.public_key)


def test_pae_matches_the_dsse_specification() -> None:
    # The example of the DSSE protocol document (and securesystemslib's test_dsse.py).
    assert pae("http://example.com/HelloWorld", b"hello world") == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_a_signed_report_is_an_in_toto_statement_about_checkpoint_digests(signer: Signer, tmp_path: Path) -> None:
    statement = make_statement()
    path = save_envelope(sign_payload(statement.payload(), REPORT_PAYLOAD_TYPE, signer), tmp_path / "report.json")
    envelope = json.loads(path.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(envelope["payload"]) == canonical_json(statement.payload())  # the exact bytes signed
    assert statement_of(envelope)["_type"] == "https://in-toto.io/Statement/v1"
    assert statement_of(envelope)["subject"][0]["digest"] == {"sha256": "12" * 32}
    assert load_report(path, signer.public_key) == statement


@pytest.mark.parametrize("edit", [
    lambda p: p["subject"][1]["digest"].update(sha256="56" * 32),
    lambda p: p["predicate"]["metrics"]["unlearned"].update({"recall@20": 0.3}),
    lambda p: p["predicate"]["checks"][0].update(passed=False),
], ids=["reference digest", "metric", "verdict"])
def test_an_edited_report_is_rejected(signer: Signer, tmp_path: Path, edit: Callable) -> None:
    path = save_envelope(sign_payload(make_statement().payload(), REPORT_PAYLOAD_TYPE, signer), tmp_path / "r.json")
    edit_statement(path, edit)
    with pytest.raises(SignatureError, match="altered"):
        load_report(path, signer.public_key)


def test_a_duplicated_key_cannot_smuggle_a_second_value(issued: tuple[Path, Path], signer: Signer) -> None:
    json_path, _ = issued
    envelope = json.loads(json_path.read_text())
    other = with_statement(envelope, _edited(statement_of(envelope), ["predicate"], method="noop"))["payload"]
    text = json_path.read_text()
    json_path.write_text(text.replace('"payload": ', f'"payload": "{other}",\n  "payload": ', 1))
    with pytest.raises(SignatureError, match="duplicate key 'payload'"):
        verify_certificate_file(json_path, signer.public_key)


def test_a_signed_payload_with_a_duplicated_key_is_refused_after_its_signature(signer: Signer, tmp_path: Path) -> None:
    from verify._report import sign_bytes

    body = b'{"_type":"https://in-toto.io/Statement/v1","method":"noop","method":"sisa"}'
    path = save_envelope(sign_bytes(body, REPORT_PAYLOAD_TYPE, signer), tmp_path / "dup.json")
    with pytest.raises(SignatureError, match="duplicate key 'method'"):
        verify_envelope(path, signer.public_key)


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
    forged = sign_payload(statement_of(envelope), envelope["payloadType"], forger).signatures[0]
    envelope["signatures"] = [{"keyid": signer.keyid, "sig": forged.sig}]
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
        '{"payloadType": "x", "payload": {}, "signatures": []}',
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


def test_a_signed_report_is_not_a_certificate(signer: Signer, tmp_path: Path) -> None:
    path = save_envelope(sign_payload(make_statement().payload(), REPORT_PAYLOAD_TYPE, signer), tmp_path / "r.json")
    assert verify_envelope(path, signer.public_key)["predicate"]["report_id"] == "rep-1"
    with pytest.raises(SignatureError, match="expected 'https://lethe.dev/attestations/erasure-certificate/v1'"):
        verify_certificate_file(path, signer.public_key)


def test_the_pdf_shows_the_ledger_checkpoint(issued: tuple[Path, Path]) -> None:
    assert b"tree size 3" in issued[1].read_bytes()


def test_a_certificate_without_an_inclusion_proof_is_refused(signer: Signer, tmp_path: Path) -> None:
    json_path, _ = issue_certificate(make_certificate(signer, inclusion_proof=None), signer, tmp_path)
    with pytest.raises(LetheError, match="no ledger inclusion proof"):
        verify_certificate_file(json_path, signer.public_key)


def test_a_proof_of_another_requests_events_is_refused(signer: Signer, tmp_path: Path) -> None:
    other = make_ledger_proof(signer, request_id="req-someone-else")
    head = SignedCheckpoint.from_note(other["checkpoint"])
    certificate = make_certificate(signer, inclusion_proof=other, ledger_checkpoint={
        "tree_size": head.tree_size, "root": head.root.hex(), "note": other["checkpoint"]})
    json_path, _ = issue_certificate(certificate, signer, tmp_path)
    with pytest.raises(LetheError, match="another request"):
        verify_certificate_file(json_path, signer.public_key)


def test_a_forged_proof_node_is_refused_even_when_re_signed(signer: Signer, tmp_path: Path) -> None:
    """The signer itself cannot swap a proof node: the path no longer leads to the signed checkpoint's root."""
    proof = make_ledger_proof(signer)
    node = proof["events"][0]["audit_path"][0]
    proof["events"][0]["audit_path"][0] = ("A" if node[0] != "A" else "B") + node[1:]
    json_path, _ = issue_certificate(make_certificate(signer, inclusion_proof=proof), signer, tmp_path)
    with pytest.raises(LetheError, match="root"):
        verify_certificate_file(json_path, signer.public_key)


def test_an_auditors_checkpoint_with_another_root_reveals_a_fork(
    issued: tuple[Path, Path], signer: Signer
) -> None:
    statement = statement_of(json.loads(issued[0].read_text()))
    genuine = SignedCheckpoint.from_note(statement["predicate"]["ledger_checkpoint"]["note"])
    assert verify_certificate_file(issued[0], signer.public_key, genuine).request_id == "req-2026-0042"
    forked = SignedCheckpoint.sign(signer, genuine.tree_size, b"\1" * 32)
    with pytest.raises(LetheError, match="forked"):
        verify_certificate_file(issued[0], signer.public_key, forked)


def test_the_pdf_is_searchable_and_states_the_verdicts(issued: tuple[Path, Path]) -> None:
    _, pdf_path = issued
    data = pdf_path.read_bytes()
    assert data.startswith(b"%PDF")
    for text in (b"Certificate of erasure", b"req-2026-0042", b"PASS", b">= 0.85", b"How to verify this certificate"):
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
        {"subject_refs": ["alice@example.com"]},
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


def _open_key_dir(key_dir: str) -> str:
    return Signer.load_or_create(Path(key_dir)).keyid


def test_processes_racing_to_create_a_key_all_get_the_same_one(tmp_path: Path) -> None:
    """Workers opening a brand-new workspace at once must agree on one key, never crash or read half a file."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(4) as pool:
        keyids = set(pool.map(_open_key_dir, [str(tmp_path / "keys")] * 8))
    assert len(keyids) == 1
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == sorted([PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, VKEY_FILE])
    assert stat.S_IMODE((tmp_path / "keys" / PRIVATE_KEY_FILE).stat().st_mode) == 0o600
