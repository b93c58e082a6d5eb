"""Certificates of erasure: a signed JSON for machines and a PDF rendering of it for people.

The JSON envelope is the certificate; the PDF only shows it and tells the reader how to verify the JSON
offline. A certificate holds request facts but no personal data: the subject appears only as the
workspace's keyed pseudonym (``Workspace.subject_ref``), never as an id or an item.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fpdf import FPDF
from pydantic import BaseModel, FiniteFloat, StringConstraints, ValidationError, model_validator

from ledger._signing import Signer, load_public_key, public_key_fingerprint
from ledger.errors import SignatureError
from verify._report import (
    FROZEN,
    CheckpointSwap,
    MetricCheck,
    UtcDatetime,
    first_error,
    save_envelope,
    sign_model,
    verify_envelope,
)

APPROXIMATE_NOTICE = (
    "This erasure used an approximate unlearning method. That the erased data no longer influences the model "
    "cannot be proven from its weights; the claim rests on the statistical evidence listed below, measured "
    "against a model retrained without that data."
)

# The keyed pseudonym of Workspace.subject_ref (hex); a raw subject id can never pass as one.
SubjectRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32,64}$")]
FileSafeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]


def gdpr_deadline(received: date, months: int = 1) -> date:
    """Last day to answer a request received on ``received``: ``months`` months, one per GDPR Art. 12(3).

    Computed as Regulation (EEC, Euratom) No 1182/71 prescribes: the day of receipt does not count, the
    period starts the day after (Art. 3(1)) and ends on the day of the month ``months`` later with the same
    date as the receipt, or on that month's last day when that date does not exist (Art. 3(2)(c)). So 15 March
    ends on 15 April and 31 January on 28 (or 29) February. The extension to the next working day when the end
    falls on a weekend or public holiday (Art. 3(4)) is not applied: holidays differ per member state, and
    the date shown is then never later than the legal one.
    """
    year, month = divmod(received.year * 12 + received.month - 1 + months, 12)
    month += 1
    return date(year, month, min(received.day, calendar.monthrange(year, month)[1]))


class Verdict(BaseModel):
    """One check as a certificate states it: what was measured, against what, and whether it passed."""

    model_config = FROZEN
    name: str
    value: FiniteFloat | None
    threshold: FiniteFloat | None
    comparison: str
    passed: bool

    @classmethod
    def from_check(cls, check: MetricCheck) -> "Verdict":
        return cls(
            name=check.name,
            value=check.value,
            threshold=check.threshold,
            comparison=check.comparison,
            passed=check.passed,
        )


class Certificate(BaseModel):
    """What a controller hands a data subject or regulator to show an erasure request was fulfilled."""

    model_config = FROZEN
    schema_version: Literal[1] = 1
    certificate_id: FileSafeId
    request_id: str
    regulation: str = "GDPR Art. 17"
    legal_basis: str
    subject_ref: SubjectRef
    received_at: UtcDatetime
    completed_at: UtcDatetime
    deadline: date
    within_deadline: bool
    method: str
    exact: bool
    approximate_notice: str | None = None
    deployment_id: str
    shards_retrained: list[int]
    checkpoints_replaced: list[CheckpointSwap]
    lineage_proof: str
    verdicts: list[Verdict]
    passed: bool
    report_digest: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    ledger_head: str
    key_fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    issued_at: UtcDatetime

    @model_validator(mode="before")
    @classmethod
    def _default_notice(cls, data: Any) -> Any:
        # An approximate method always carries the notice, whether or not the caller remembered it.
        if isinstance(data, dict) and data.get("exact") is False and data.get("approximate_notice") is None:
            return {**data, "approximate_notice": APPROXIMATE_NOTICE}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "Certificate":
        if self.exact and self.approximate_notice is not None:
            raise ValueError("an exact method's certificate carries no approximate notice")
        if self.completed_at < self.received_at:
            raise ValueError("completed_at is before received_at")
        if self.deadline < self.received_at.date():
            raise ValueError("deadline is before the request was received")
        if self.within_deadline != (self.completed_at.date() <= self.deadline):
            raise ValueError(f"within_deadline={self.within_deadline} contradicts completed_at and deadline")
        expected = bool(self.verdicts) and all(verdict.passed for verdict in self.verdicts)
        if self.passed != expected:
            raise ValueError(f"passed={self.passed} contradicts the verdicts (an empty list never passes)")
        return self


_LATIN1_SUBSTITUTES = {
    "≥": ">=", "≤": "<=", "≠": "!=", "→": "->", "←": "<-", "—": "-", "–": "-", "…": "...",
    "‘": "'", "’": "'", "“": '"', "”": '"', "•": "*", "\u00a0": " ",
}


def _latin1(text: str) -> str:
    """fpdf's core fonts are latin-1 only: spell out the symbols we use, '?' for anything else."""
    for symbol, spelled in _LATIN1_SUBSTITUTES.items():
        text = text.replace(symbol, spelled)
    return text.encode("latin-1", errors="replace").decode("latin-1")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render_certificate_pdf(certificate: Certificate, envelope_signature: dict[str, str], path: Path) -> Path:
    """Write the human-readable PDF of ``certificate`` (uncompressed, so its text can be searched)."""
    c = certificate
    pdf = FPDF(format="A4")
    pdf.set_compression(False)
    pdf.set_title(f"Certificate of erasure {c.certificate_id}")
    pdf.set_creator("Lethe")
    pdf.add_page()

    def heading(text: str, size: int = 12) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.ln(3)
        pdf.cell(0, 8, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    def paragraph(text: str, font: str = "Helvetica", style: str = "", wrapmode: str = "WORD") -> None:
        pdf.set_font(font, style, 9)
        pdf.multi_cell(0, 5, _latin1(text), wrapmode=wrapmode, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)

    heading("Certificate of erasure", 18)
    paragraph(f"{c.regulation} - request {c.request_id} - result: {'PASS' if c.passed else 'FAIL'}", style="B")

    swaps = "\n".join(f"{swap.old} -> {swap.new}" for swap in c.checkpoints_replaced) or "none"
    facts = [
        ("Certificate", c.certificate_id),
        ("Request", c.request_id),
        ("Regulation", c.regulation),
        ("Legal basis", c.legal_basis),
        ("Subject (pseudonym)", c.subject_ref),
        ("Received", _when(c.received_at)),
        ("Deadline (Art. 12(3))", c.deadline.isoformat()),
        ("Completed", _when(c.completed_at)),
        ("Within deadline", "yes" if c.within_deadline else "NO"),
        ("Method", f"{c.method} ({'exact' if c.exact else 'approximate'})"),
        ("Deployment", c.deployment_id),
        ("Shards retrained", ", ".join(map(str, c.shards_retrained)) or "none"),
        ("Checkpoints replaced", swaps),
        ("Lineage proof", c.lineage_proof),
        ("Report digest", c.report_digest),
        ("Issued", _when(c.issued_at)),
    ]
    pdf.ln(2)
    with pdf.table(col_widths=(45, 145), text_align="LEFT", first_row_as_headings=False) as table:
        for label, value in facts:
            row = table.row()
            row.cell(_latin1(label))
            row.cell(_latin1(value))
    if c.approximate_notice:
        pdf.ln(2)
        paragraph(c.approximate_notice, style="I")

    heading("Verdicts")
    with pdf.table(col_widths=(60, 35, 45, 50), text_align="LEFT") as table:
        header = table.row()
        for title in ("Check", "Value", "Threshold", "Result"):
            header.cell(title)
        for verdict in c.verdicts:
            row = table.row()
            row.cell(_latin1(verdict.name))
            row.cell(_number(verdict.value))
            row.cell(_latin1(f"{verdict.comparison} {_number(verdict.threshold)}".strip()))
            row.cell("PASS" if verdict.passed else "FAIL")

    heading("Integrity")
    paragraph(f"Ledger head: {c.ledger_head}", font="Courier")
    paragraph(f"Key fingerprint (SHA-256): {c.key_fingerprint}", font="Courier")
    paragraph(f"Ed25519 signature (base64): {envelope_signature['sig']}", font="Courier", wrapmode="CHAR")
    pdf.ln(4)
    paragraph(f"Verify offline: lethe certificate verify {c.certificate_id}.json --public-key signing.pub", style="B")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def issue_certificate(certificate: Certificate, signer: Signer, out_dir: Path) -> tuple[Path, Path]:
    """Sign ``certificate`` and write ``<certificate_id>.json`` (the envelope) and ``.pdf``; return both paths."""
    if certificate.key_fingerprint != signer.keyid:
        raise SignatureError(
            f"certificate names key {certificate.key_fingerprint[:16]}…, the signer holds {signer.keyid[:16]}…"
        )
    envelope = sign_model(certificate, signer)
    out_dir = Path(out_dir)
    json_path = save_envelope(envelope, out_dir / f"{certificate.certificate_id}.json")
    pdf_path = render_certificate_pdf(
        certificate, envelope.signatures[0].model_dump(), out_dir / f"{certificate.certificate_id}.pdf"
    )
    return json_path, pdf_path


def verify_certificate_file(path: Path, public_key: Ed25519PublicKey | str | Path) -> Certificate:
    """Check a certificate JSON offline with the public key alone; return it, or raise SignatureError."""
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(Path(public_key))
    payload = verify_envelope(Path(path), key)
    try:
        certificate = Certificate.model_validate(payload)
    except ValidationError as exc:
        raise SignatureError(f"{path}: the signed payload is not a valid certificate: {first_error(exc)}") from exc
    if certificate.key_fingerprint != public_key_fingerprint(key):
        raise SignatureError(f"{path}: the certificate names another signing key than the one that signed it")
    return certificate
