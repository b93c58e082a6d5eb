"""Letters to the data subject (issue 23, point 3): acknowledgement, extension notice, completion, refusal.

Each is a PDF rendered from a plain-text Jinja2 template. The shipped templates are in ``ui/templates/letters``;
an organisation overrides any of them by putting a file of the same name in the folder its ``organisation.toml``
names (``letter_templates``), and its name, address, DPO contact and logo come from that file too
(:mod:`verify._organisation`). Templates run sandboxed with strict undefined variables: a misspelt field fails
loudly instead of printing an empty line to a data subject. The first line of a template is the letter's subject
line; blank lines separate paragraphs.

Letters are written into the workspace (``letters/<request_id>/<kind>-<n>.pdf``) and recorded as a
``request.letter_issued`` event (kind, file, sha256, who). Lethe sends nothing: the officer downloads the letter and
sends it through the organisation's own channel. The letters hold no personal data beyond what the request's
ledger holds (the subject is addressed by the request's reference, never by name or id).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

from fpdf import FPDF
from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from ledger import REQUEST_LETTER_ISSUED, Ledger, LetheError, RequestRecord
from policies import Policy
from ui._queries import scope_line
from verify import Certificate, Organisation, load_organisation

LetterKind = Literal["acknowledgement", "extension", "completion", "refusal"]
LETTER_TITLES: dict[str, str] = {
    "acknowledgement": "Acknowledgement of receipt",
    "extension": "Extension notice (Art. 12(3))",
    "completion": "Completion, with the certificate",
    "refusal": "Refusal, with the right to complain",
}
SHIPPED_TEMPLATES = Path(__file__).parent / "templates" / "letters"
LETTERS_DIR = "letters"


class LetterError(LetheError):
    """A letter cannot be written for this request (yet), or its template is broken."""

    exit_code = 2


@dataclass(frozen=True)
class IssuedLetter:
    kind: str
    path: Path
    sha256: str
    actor: str
    ts: str


def available_letters(record: RequestRecord) -> list[str]:
    """The letters this request's state allows: an acknowledgement always; an extension notice once extended; the
    completion once certified; the refusal once refused (a request closed as a duplicate gets none of its own)."""
    kinds = ["acknowledgement"]
    if record.extensions:
        kinds.append("extension")
    if record.state == "certified":
        kinds.append("completion")
    rejected = record.payload("rejected")
    if record.state == "rejected" and rejected is not None and rejected.get("outcome", "refused") == "refused":
        kinds.append("refusal")
    return kinds


def _longdate(value: date | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = value.date()
    return f"{value.day} {value:%B %Y}"


def _environment(organisation: Organisation, workspace_root: Path) -> SandboxedEnvironment:
    folders = [SHIPPED_TEMPLATES]
    if organisation.letter_templates:
        folders.insert(0, Path(workspace_root) / organisation.letter_templates)
    environment = SandboxedEnvironment(loader=ChoiceLoader([FileSystemLoader(str(f)) for f in folders]),
                                       undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    environment.filters["longdate"] = _longdate
    return environment


def letter_context(ledger: Ledger, policy: Policy, record: RequestRecord, kind: str) -> dict[str, Any]:
    """What a template may use: ``org``, ``request``, ``officer`` and, per kind, ``extension``, ``certificate`` or
    ``refusal``."""
    from unlearn.workflow import workflow_status  # the assignee signs

    organisation = load_organisation(ledger.workspace.root)
    status = workflow_status(record, policy)
    context: dict[str, Any] = {
        "org": organisation.model_dump(),
        "request": {
            "id": record.request_id, "received": record.received_at, "regulation": record.received["regulation"],
            "basis": record.received["basis"], "deadline": policy.deadlines.due_date(record).isoformat(),
            "scope": _scope_words(record),
        },
        "officer": status.assignee.payload["assignee"] if status.assignee else None,
        "today": datetime.now(timezone.utc).date().isoformat(),
    }
    if kind == "extension":
        if not record.extensions:
            raise LetterError(f"request {record.request_id} has not been extended")
        latest = record.extensions[-1]
        context["extension"] = {"months": latest["months"], "reason": latest["reason"],
                                "previous_deadline": latest.get("previous_due") or context["request"]["deadline"],
                                "new_deadline": context["request"]["deadline"]}
    elif kind == "completion":
        certified = record.payload("certified")
        if certified is None:
            raise LetterError(f"request {record.request_id} is {record.state}: the completion letter follows the "
                              "certificate")
        json_path = ledger.workspace.root / certified["json_path"]
        predicate = json.loads(base64.b64decode(json.loads(json_path.read_text())["payload"]))["predicate"]
        certificate = Certificate.model_validate(predicate)
        context["certificate"] = {
            "id": certificate.certificate_id, "file": json_path.name,
            "sha256": hashlib.sha256(json_path.read_bytes()).hexdigest(),
            "key_fingerprint": certificate.key_fingerprint, "completed": certificate.completed_at.date().isoformat(),
            "within_deadline": certificate.within_deadline, "basis": certificate.basis,
            "statistics_due": certificate.statistics_due.isoformat() if certificate.statistics_due else None,
        }
    elif kind == "refusal":
        rejected = record.payload("rejected")
        if record.state != "rejected" or rejected is None:
            raise LetterError(f"request {record.request_id} is {record.state}, not refused")
        context["refusal"] = {"reason": rejected["reason"]}
    elif kind != "acknowledgement":
        raise LetterError(f"no letter of kind {kind!r}; the kinds are {', '.join(LETTER_TITLES)}")
    return context


def _scope_words(record: RequestRecord) -> str:
    """The scope as the subject reads it: no ids, no counts of rows they never saw."""
    line = scope_line(record)
    if line.startswith("whole subject"):
        return "all the personal data about you that we use for recommendations"
    if line.startswith("time window"):
        window = record.received["window"]
        return (f"the records of your activity between {_longdate(window['start'])} and {_longdate(window['end'])} "
                "(that day excluded) that we use for recommendations")
    if line.startswith("batch"):
        return "the personal data of the people named in your request that we use for recommendations"
    return "the records of your activity you listed that we use for recommendations"


def render_letter_text(ledger: Ledger, policy: Policy, record: RequestRecord, kind: str) -> tuple[str, str]:
    """``(subject line, body)`` of the letter, rendered from the organisation's template or the shipped one."""
    organisation = load_organisation(ledger.workspace.root)
    context = letter_context(ledger, policy, record, kind)
    try:
        text = _environment(organisation, ledger.workspace.root).get_template(f"{kind}.txt.j2").render(**context)
    except TemplateError as exc:
        raise LetterError(f"the {kind} letter's template cannot be rendered: {exc}") from None
    subject, _, body = text.strip().partition("\n")
    return subject.strip(), body.strip()


def _latin1(text: str) -> str:
    return text.replace("’", "'").replace("–", "-").replace("—", "-").encode("latin-1", "replace").decode("latin-1")


def render_letter_pdf(ledger: Ledger, policy: Policy, record: RequestRecord, kind: str, signer_name: str,
                      path: Path) -> Path:
    """Write the letter as an A4 PDF: the organisation's logo and address, the date, the subject line, the body
    and the signature block (the officer and the DPO contact)."""
    organisation = load_organisation(ledger.workspace.root)
    subject, body = render_letter_text(ledger, policy, record, kind)
    pdf = FPDF(format="A4")
    pdf.set_compression(False)
    pdf.set_margins(22, 20, 22)
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_title(_latin1(subject))
    pdf.set_author(_latin1(organisation.name))
    pdf.set_creator("Lethe")
    pdf.add_page()
    logo = organisation.logo_path(ledger.workspace.root)
    if logo is not None:
        pdf.image(str(logo), x=pdf.w - pdf.r_margin - 40, y=14, h=18)
    pdf.set_font("Helvetica", "B", 12)
    pdf.cell(0, 6, _latin1(organisation.name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    for line in filter(None, [organisation.address, f"Data protection officer: {organisation.dpo_contact}"]):
        pdf.cell(0, 4.5, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 5, _latin1(f"To: the data subject of request {record.request_id}"), new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 5, _latin1(f"Date: {_longdate(datetime.now(timezone.utc).date())}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 5.5, _latin1(subject), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 10)
    for paragraph in body.split("\n\n"):
        pdf.multi_cell(0, 5, _latin1(paragraph.strip()), align="L", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2.5)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 5, _latin1(signer_name), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.cell(0, 5, _latin1(f"Privacy team, {organisation.name}"), new_x="LMARGIN", new_y="NEXT")
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def issue_letter(ledger: Ledger, policy: Policy, record: RequestRecord, kind: str, actor: str) -> IssuedLetter:
    """Write the letter into the workspace and record ``request.letter_issued``; the officer sends it."""
    if kind not in available_letters(record):
        raise LetterError(f"no {kind} letter for request {record.request_id} as it stands ({record.state}); "
                          f"available: {', '.join(available_letters(record))}")
    folder = ledger.workspace.root / LETTERS_DIR / record.request_id
    number = len(list(folder.glob(f"{kind}-*.pdf"))) + 1 if folder.exists() else 1
    path = render_letter_pdf(ledger, policy, record, kind, actor, folder / f"{kind}-{number}.pdf")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    relative = str(path.relative_to(ledger.workspace.root))
    event = ledger.append(REQUEST_LETTER_ISSUED, {"request_id": record.request_id, "kind": kind, "file": relative,
                                                  "sha256": digest}, actor=actor)
    return IssuedLetter(kind, path, digest, actor, event.ts)


def issued_letters(ledger: Ledger, record: RequestRecord) -> list[IssuedLetter]:
    """Every letter written for the request, oldest first (a file deleted since is left out)."""
    letters = []
    for event in record.history:
        if event.kind == REQUEST_LETTER_ISSUED:
            path = ledger.workspace.root / event.payload["file"]
            if path.exists():
                letters.append(IssuedLetter(event.payload["kind"], path, event.payload["sha256"], event.actor, event.ts))
    return letters
