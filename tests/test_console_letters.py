"""Letters, the certificate PDF, the in-console certificate check, the register and the timeline (issue 23, points
1, 3, 4, 5), tested without Streamlit on one certified request of a small workspace."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import pytest

from ui._certificate_check import check_certificate
from ui._session import _message
from ui._tables import filter_queue, queue_rows, register_csv, today
from ui._timeline import sentence, timeline_rows
from ui.letters import LetterError, available_letters, issue_letter, issued_letters, render_letter_text
from ui.services import Services
from unlearn.requests import ErasureRequest
from unlearn.workflow import assign, close, record_identity
from verify import ORGANISATION_FILE, Certificate, load_organisation

ORGANISATION = """name = "Acme Streaming Ltd"
dpo_name = "Dana Privacy"
dpo_email = "dpo@acme.example"
supervisory_authority = "the Belgian Data Protection Authority"
"""


def _subjects(services: Services) -> list[str]:
    frame = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return [str(s) for s in frame["subject"]]


@pytest.fixture
def certified(workspace: Services) -> tuple[Services, str]:
    """A console request with the organisation's details, identity verified, assigned, run to its certificate."""
    (workspace.ledger.workspace.root / ORGANISATION_FILE).write_text(ORGANISATION, encoding="utf-8")
    ledger, policy = workspace.ledger, workspace.policy
    request_id = workspace.engine.file(ErasureRequest(subject=_subjects(workspace)[0]), actor="olivia",
                                       intake="console")
    record_identity(ledger, policy, request_id, "knowledge-based questions", "olivia")
    assign(ledger, policy, request_id, "omar", actor="olivia")
    workspace.engine.extend(request_id, 1, "three deployments to retrain", actor="olivia")
    assert workspace.engine.run(request_id, actor="worker").state == "certified"
    return workspace, request_id


def _pdf_text(path: Path) -> str:
    """The text fpdf wrote (uncompressed): enough to check what a letter or certificate says."""
    raw = path.read_bytes().decode("latin-1")
    return " ".join(re.findall(r"\((.*?)\) ?Tj", raw)).replace("\\(", "(").replace("\\)", ")")


def test_the_certificate_names_the_controller_and_the_officer_and_its_pdf_reads_without_lethe(
    certified: tuple[Services, str]
) -> None:
    services, request_id = certified
    record = services.ledger.request(request_id)
    root = services.ledger.workspace.root
    envelope = json.loads((root / record.payload("certified")["json_path"]).read_text())
    certificate = Certificate.model_validate(json.loads(base64.b64decode(envelope["payload"]))["predicate"])
    assert (certificate.controller, certificate.officer) == ("Acme Streaming Ltd", "omar")  # the assignee
    text = _pdf_text(root / record.payload("certified")["pdf_path"])
    for words in ("Acme Streaming Ltd", "Officer responsible", "Dana Privacy <dpo@acme.example>",
                  "certified on the lineage proof", "identity verified by olivia (knowledge-based questions)",
                  "INCONCLUSIVE: the check could not tell", "held out for testing", "python standalone.py",
                  "1 (shard index"):
        assert words in text, words


def test_a_certificate_without_the_new_fields_keeps_verifying(certified: tuple[Services, str]) -> None:
    """Certificates signed before controller/officer existed carry neither key: their statement must stay theirs."""
    from verify._certificate import certificate_statement

    services, request_id = certified
    root = services.ledger.workspace.root
    envelope = json.loads((root / services.ledger.request(request_id).payload("certified")["json_path"]).read_text())
    predicate = json.loads(base64.b64decode(envelope["payload"]))["predicate"]
    old = {k: v for k, v in predicate.items() if k not in ("controller", "officer")}
    assert certificate_statement(Certificate.model_validate(old))["predicate"] == old


def test_letters_follow_the_request_and_are_recorded(certified: tuple[Services, str]) -> None:
    services, request_id = certified
    ledger, policy = services.ledger, services.policy
    record = ledger.request(request_id)
    assert available_letters(record) == ["acknowledgement", "extension", "completion"]
    subject_line, body = render_letter_text(ledger, policy, record, "extension")
    assert request_id in subject_line and "three deployments to retrain" in body
    assert "Belgian Data Protection Authority" in body and "{{" not in body
    _, completion = render_letter_text(ledger, policy, record, "completion")
    json_file = ledger.workspace.root / record.payload("certified")["json_path"]
    import hashlib

    assert hashlib.sha256(json_file.read_bytes()).hexdigest() in completion
    assert "python standalone.py" in completion and "Dana Privacy" in completion
    letter = issue_letter(ledger, policy, record, "completion", actor="olivia")
    assert letter.path.read_bytes().startswith(b"%PDF") and "Acme Streaming Ltd" in _pdf_text(letter.path)
    with pytest.raises(LetterError, match="no refusal letter"):
        issue_letter(ledger, policy, record, "refusal", actor="olivia")
    record = ledger.request(request_id)
    assert [(x.kind, x.actor) for x in issued_letters(ledger, record)] == [("completion", "olivia")]
    assert record.state == "certified"  # a letter annotates, it does not move the request


def test_a_refused_request_gets_a_refusal_letter_with_the_reason_and_the_right_to_complain(
    workspace: Services, tmp_path: Path
) -> None:
    ledger, policy = workspace.ledger, workspace.policy
    request_id = workspace.engine.file(ErasureRequest(subject=_subjects(workspace)[0]), actor="olivia",
                                       intake="console")
    close(ledger, policy, request_id, "refused", "we could not confirm that the request came from you", "olivia")
    record = ledger.request(request_id)
    assert available_letters(record) == ["acknowledgement", "refusal"]
    _, body = render_letter_text(ledger, policy, record, "refusal")
    assert "we could not confirm that the request came from you" in body and "lodge a complaint" in body
    assert "[data protection officer: set it in organisation.toml]" in body  # no invented company
    # the organisation's own template replaces the shipped one; a misspelt field is an error, not a blank
    own = ledger.workspace.root / "letters-own"
    own.mkdir()
    (ledger.workspace.root / ORGANISATION_FILE).write_text(ORGANISATION + 'letter_templates = "letters-own"\n')
    (own / "refusal.txt.j2").write_text("Re: {{ request.id }}\n\nSorry: {{ refusal.reason }}. {{ org.name }}\n")
    assert render_letter_text(ledger, policy, record, "refusal")[1] == (
        "Sorry: we could not confirm that the request came from you. Acme Streaming Ltd")
    (own / "refusal.txt.j2").write_text("Re: x\n\n{{ org.nmae }}\n")
    with pytest.raises(LetterError, match="nmae"):
        render_letter_text(ledger, policy, record, "refusal")
    assert load_organisation(ledger.workspace.root).configured


def test_the_console_check_shows_each_step_and_catches_a_forged_certificate(certified: tuple[Services, str]) -> None:
    services, request_id = certified
    root = services.ledger.workspace.root
    data = (root / services.ledger.request(request_id).payload("certified")["json_path"]).read_bytes()
    vkey = (root / "keys" / "signing.vkey").read_text()
    result = check_certificate(data, vkey, None, services.ledger)
    assert result.ok and [s.outcome for s in result.steps] == ["pass"] * 3 + ["skipped", "pass"]
    note = sorted((root / "checkpoints").glob("*.note"), key=lambda p: int(p.stem))[0].read_bytes()
    assert check_certificate(data, vkey, note, services.ledger).ok  # an older note: a consistency proof

    envelope = json.loads(data)
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["passed"] = not statement["predicate"]["passed"]
    forged = json.dumps({**envelope, "payload": base64.b64encode(json.dumps(statement).encode()).decode()}).encode()
    result = check_certificate(forged, vkey, None, services.ledger)
    assert not result.ok and result.failed_step.startswith("Signature")
    assert [s.outcome for s in result.steps[1:]] == ["not checked", "not checked", "skipped", "not checked"]


def test_the_register_filters_and_exports_every_request(certified: tuple[Services, str]) -> None:
    services, request_id = certified
    other = services.engine.file(ErasureRequest(subject=_subjects(services)[1]), actor="olivia", intake="console")
    rows = queue_rows(services.ledger, services.policy, today())
    assert {r["request"] for r in rows} == {request_id, other}
    assert [r["request"] for r in filter_queue(rows, ["certified"], [], "any", "", "anyone")] == [request_id]
    assert [r["request"] for r in filter_queue(rows, [], [], "any", "", "omar")] == [request_id]
    assert [r["request"] for r in filter_queue(rows, [], [], "any", "", "unassigned")] == [other]
    ref = services.ledger.request(other).subject_refs[0]
    assert [r["request"] for r in filter_queue(rows, [], [], "any", ref[:8], "anyone")] == [other]
    assert filter_queue(rows, [], [], "late", "", "anyone") == []
    exported = list(csv.DictReader(io.StringIO(register_csv(rows).decode())))
    mine = next(r for r in exported if r["request"] == request_id)
    assert mine["identity verified"] == "knowledge-based questions (olivia)" and mine["outcome"].startswith("cert-")
    assert mine["subject pseudonym"] == services.ledger.request(request_id).subject_refs[0]
    assert _subjects(services)[0] not in register_csv(rows).decode().split(",")  # never the subject's id


def test_the_timeline_says_each_step_in_words(certified: tuple[Services, str]) -> None:
    services, request_id = certified
    record = services.ledger.request(request_id)
    lines = [row["what happened"] for row in timeline_rows(record.history)]
    assert lines[0] == ("olivia filed an erasure request for the whole subject in the console (GDPR Art. 17; basis: "
                        "Art. 17(1)(b): consent withdrawn)")
    assert "olivia verified the subject's identity (knowledge-based questions)" in lines
    assert "olivia assigned it to omar" in lines
    assert any(re.fullmatch(r"worker retrained shard \d+ of sisa-\w+ \(\d+ s\)", line) for line in lines), lines
    assert any(line.startswith("worker issued certificate cert-") for line in lines)
    unknown = type(record.history[0])(seq=1, ts="2026-01-01T00:00:00+00:00", kind="future.thing", actor="x",
                                      payload={"a": 1}, prev_hash="", hash="")
    assert sentence(unknown) == 'x future.thing: {"a": 1}'


def test_rejected_input_is_said_in_plain_words() -> None:
    from pydantic import ValidationError

    try:
        ErasureRequest(subject="")
    except ValidationError as exc:
        assert _message(exc) == "Enter the subject's id: it cannot be empty."
