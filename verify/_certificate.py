"""Certificates of erasure: a signed JSON for machines and a PDF rendering of it for people.

The JSON envelope is the certificate; the PDF only shows it and tells the reader how to verify the JSON
offline. A certificate holds request facts but no personal data: the subject appears only as the
workspace's keyed pseudonym (``Workspace.subject_ref``), never as an id or an item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fpdf import FPDF
from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ledger import NoteVerifier, SignedCheckpoint, Signer, consistency_proof, load_public_key
from ledger.errors import LedgerIntegrityError, SignatureError
from policies import gdpr_deadline  # noqa: F401 - re-exported: certificates state dates against it
from verify._report import (
    CERTIFICATE_PAYLOAD_TYPE,
    CERTIFICATE_PREDICATE_TYPE,
    FROZEN,
    CheckpointSwap,
    ErasureScope,
    Judgement,
    MetricCheck,
    ResourceDescriptor,
    Sha256Hex,
    UtcDatetime,
    evidence_passes,
    first_error,
    save_envelope,
    sign_payload,
    statement_payload,
)
from verify.standalone import (
    LaterCheckpoint,
    NoteKey,
    VerificationError,
    check_older_checkpoint,
    check_witnessed,
    parse_checkpoint,
    verify_certificate_statement,
)

APPROXIMATE_NOTICE = (
    "This erasure used an approximate unlearning method. That the erased data no longer influences the model "
    "cannot be proven from its weights; the claim rests on the statistical evidence listed below, measured "
    "against a model retrained without that data."
)

# The keyed pseudonym of Workspace.subject_ref (hex); a raw subject id can never pass as one.
SubjectRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32,64}$")]
FileSafeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]


class Verdict(Judgement):
    """One check as a certificate states it: what was measured, against what, and pass, fail or inconclusive."""

    @classmethod
    def from_check(cls, check: MetricCheck) -> Verdict:
        return cls(**check.model_dump(include=set(Judgement.model_fields)))


class DeadlineExtension(BaseModel):
    """A deadline extension granted under GDPR Art. 12(3), as the ledger's ``request.extended`` event records it."""

    model_config = FROZEN
    months: int = Field(ge=1)
    reason: str = Field(min_length=1)


class Certificate(BaseModel):
    """What a controller hands a data subject or regulator to show an erasure request was fulfilled.

    ``ledger_checkpoint`` (a signed tree head: size, root) and ``inclusion_proof`` (the request's events proven
    against it) are filled from the ledger's Merkle log; a certificate without them still verifies by signature.
    """

    model_config = FROZEN
    schema_version: Literal[2, 3] = 3  # 3: verdicts are pass, fail or inconclusive, with a role
    certificate_id: FileSafeId
    request_id: str
    regulation: str = "GDPR Art. 17"
    legal_basis: str
    subject_refs: list[SubjectRef] = Field(min_length=1, description="one per subject (several for a batch)")
    received_at: UtcDatetime
    completed_at: UtcDatetime
    deadline: date = Field(description="due date: GDPR Art. 12(3), the policy's response period from receipt, "
                                       "plus the extensions granted")
    extensions: list[DeadlineExtension] = Field(default_factory=list, description="Art. 12(3) extensions, in order")
    within_deadline: bool
    scope: ErasureScope
    method: str
    exact: bool
    approximate_notice: str | None = None
    deployment_id: str
    shards_retrained: list[int]
    checkpoints_replaced: list[CheckpointSwap]
    lineage_proof: str
    verdicts: list[Verdict]
    passed: bool
    report_digest: Sha256Hex
    ledger_head: str
    ledger_checkpoint: dict[str, Any] | None = Field(None, description="filled from the ledger's Merkle log")
    inclusion_proof: dict[str, Any] | None = Field(None, description="filled from the ledger's Merkle log")
    key_fingerprint: Sha256Hex
    issued_at: UtcDatetime

    @model_validator(mode="before")
    @classmethod
    def _default_notice(cls, data: Any) -> Any:
        # An approximate method always carries the notice, whether or not the caller remembered it.
        if isinstance(data, dict) and data.get("exact") is False and data.get("approximate_notice") is None:
            return {**data, "approximate_notice": APPROXIMATE_NOTICE}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Certificate:
        if self.exact and self.approximate_notice is not None:
            raise ValueError("an exact method's certificate carries no approximate notice")
        if self.completed_at < self.received_at:
            raise ValueError("completed_at is before received_at")
        if self.deadline < self.received_at.date():
            raise ValueError("deadline is before the request was received")
        if self.within_deadline != (self.completed_at.date() <= self.deadline):
            raise ValueError(f"within_deadline={self.within_deadline} contradicts completed_at and deadline")
        if self.passed != evidence_passes(self.verdicts, self.exact):
            raise ValueError(f"passed={self.passed} contradicts the verdicts (an empty or all-inconclusive list "
                             "never passes)")
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


def _ledger_line(value: dict[str, Any] | None, summary: str) -> str:
    return summary if value is not None else "not attached (see the ledger's Merkle log)"


def _shards_line(shards: list[int]) -> str:
    """Shard *indices* retrained, said as such: "Shards retrained: 2" read as a count of two."""
    if not shards:
        return "none"
    return f"{len(shards)} (shard index{'es' if len(shards) > 1 else ''} {', '.join(map(str, shards))})"


def render_certificate_pdf(certificate: Certificate, envelope_signature: dict[str, str], path: Path) -> Path:
    """Write the human-readable PDF of ``certificate`` (uncompressed, so its text can be searched).

    Compact type keeps a typical certificate (sixteen verdicts) on one page; longer ones flow onto a second.
    """
    c = certificate
    pdf = FPDF(format="A4")
    pdf.set_compression(False)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_title(f"Certificate of erasure {c.certificate_id}")
    pdf.set_creator("Lethe")
    pdf.add_page()

    def heading(text: str, size: int = 11) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.ln(1.5)
        pdf.cell(0, 6, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)

    def paragraph(text: str, font: str = "Helvetica", style: str = "", wrapmode: str = "WORD") -> None:
        pdf.set_font(font, style, 8)
        pdf.multi_cell(0, 4, _latin1(text), wrapmode=wrapmode, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)

    heading("Certificate of erasure", 16)
    paragraph(f"{c.regulation} - request {c.request_id} - result: {'PASS' if c.passed else 'FAIL'}", style="B")

    swaps = "\n".join(f"{swap.old} -> {swap.new}" for swap in c.checkpoints_replaced) or "none"
    checkpoint = c.ledger_checkpoint or {}
    facts = [
        ("Certificate", c.certificate_id),
        ("Legal basis", c.legal_basis),
        ("Subject (pseudonym)" if len(c.subject_refs) == 1 else f"Subjects ({len(c.subject_refs)}, pseudonyms)",
         "\n".join(c.subject_refs)),
        ("Received / due / completed",
         f"{_when(c.received_at)} / {c.deadline.isoformat()} (Art. 12(3)) / {_when(c.completed_at)}"
         f" - {'within the deadline' if c.within_deadline else 'LATE'}"),
        *((("Deadline extended", "; ".join(f"{e.months} month(s): {e.reason}" for e in c.extensions)),)
          if c.extensions else ()),
        ("Scope", c.scope.describe()),
        ("Method", f"{c.method} ({'exact' if c.exact else 'approximate'}) on {c.deployment_id}"),
        ("Shards retrained", _shards_line(c.shards_retrained)),
        ("Checkpoints replaced", swaps),
        ("Lineage proof", c.lineage_proof),
        ("Report digest", c.report_digest),
        ("Ledger checkpoint", _ledger_line(c.ledger_checkpoint,
                                           f"tree size {checkpoint.get('tree_size')}, root {checkpoint.get('root')}")),
        ("Inclusion proof", _ledger_line(c.inclusion_proof, "attached in the signed JSON")),
        ("Issued", _when(c.issued_at)),
    ]
    with pdf.table(col_widths=(40, 150), text_align="LEFT", first_row_as_headings=False, line_height=4) as table:
        for label, value in facts:
            row = table.row()
            row.cell(_latin1(label))
            row.cell(_latin1(value))
    if c.approximate_notice:
        heading("Limitations")
        paragraph(c.approximate_notice, style="I")

    heading("Verdicts")
    with pdf.table(col_widths=(70, 30, 50, 40), text_align="LEFT", line_height=4) as table:
        header = table.row()
        for title in ("Check", "Value", "Threshold", "Result"):
            header.cell(title)
        for verdict in c.verdicts:
            row = table.row()
            row.cell(_latin1(verdict.name))
            row.cell(_number(verdict.value))
            row.cell(_latin1(f"{verdict.comparison} {_number(verdict.threshold)}".strip()))
            row.cell(verdict.verdict.upper())

    heading("Integrity")
    paragraph(f"Ledger head: {c.ledger_head}", font="Courier")
    paragraph(f"Key fingerprint (SHA-256): {c.key_fingerprint}", font="Courier")
    paragraph(f"Ed25519 signature (base64): {envelope_signature['sig']}", font="Courier", wrapmode="CHAR")
    paragraph(f"Verify offline: lethe certificate verify {c.certificate_id}.json --public-key signing.pub", style="B")
    paragraph(f"or without Lethe: python standalone.py {c.certificate_id}.json --vkey signing.vkey (verify/standalone.py: "
              "Python and cryptography only). The JSON is a DSSE v1 envelope around an in-toto Statement v1; its "
              "ledger proof is RFC 9162 over RFC 8785 leaves under a C2SP signed checkpoint (VERIFYING.md).")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def certificate_statement(certificate: Certificate) -> dict[str, Any]:
    """The in-toto Statement v1 a certificate is signed as: its subject is the signed verification report (the
    SHA-256 of that envelope's payload bytes), its predicate the certificate."""
    subject = [ResourceDescriptor(name="verification-report", digest={"sha256": certificate.report_digest})]
    return statement_payload(subject, CERTIFICATE_PREDICATE_TYPE, certificate.model_dump(mode="json"))


def issue_certificate(certificate: Certificate, signer: Signer, out_dir: Path) -> tuple[Path, Path]:
    """Sign ``certificate`` and write ``<certificate_id>.json`` (the envelope) and ``.pdf``; return both paths."""
    if certificate.key_fingerprint != signer.keyid:
        raise SignatureError(
            f"certificate names key {certificate.key_fingerprint[:16]}…, the signer holds {signer.keyid[:16]}…"
        )
    envelope = sign_payload(certificate_statement(certificate), CERTIFICATE_PAYLOAD_TYPE, signer)
    out_dir = Path(out_dir)
    json_path = save_envelope(envelope, out_dir / f"{certificate.certificate_id}.json")
    pdf_path = render_certificate_pdf(
        certificate, envelope.signatures[0].model_dump(), out_dir / f"{certificate.certificate_id}.pdf"
    )
    return json_path, pdf_path


def verify_certificate_file(
    path: Path, public_key: Ed25519PublicKey | str | Path, checkpoint: SignedCheckpoint | None = None,
    leaf_hashes: Callable[[int], list[bytes]] | None = None, witnesses: tuple[NoteKey, ...] = (),
    witnessed: Callable[[int], LaterCheckpoint | None] | None = None,
) -> Certificate:
    """Check a certificate JSON offline with the public key alone; return it, or raise a LetheError.

    The cryptographic and evidence checks are ``verify/standalone.py``'s (the one file an auditor copies; its
    docstring lists them in order): the DSSE envelope and its in-toto Statement, the inclusion proof of the
    request's events under the signed checkpoint, an auditor's own ``checkpoint`` (same root at the same size; at a
    smaller one, an RFC 9162 consistency proof computed here from ``leaf_hashes``, the ledger's
    ``log.leaf_hashes``; why the certificate does not carry it: ``standalone.check_older_checkpoint``), and each of
    ``witnesses``' cosignature, on the certificate's checkpoint or on the later one ``witnessed(size)`` finds
    (``standalone.check_witnessed``). On top, only what needs Lethe's models: the predicate must validate as a
    :class:`Certificate` and the statement must be exactly its statement.
    """
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(Path(public_key))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise SignatureError(f"{path}: file not found") from exc
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read the file ({exc})") from exc
    log_key = NoteVerifier.for_key(key)
    try:
        statement = verify_certificate_statement(data, log_key)
        head = parse_checkpoint(statement["predicate"]["inclusion_proof"]["checkpoint"])  # verified just now
        if checkpoint is not None:
            proof = None
            if 0 < checkpoint.tree_size < head.tree_size and leaf_hashes is not None:
                proof = consistency_proof(checkpoint.tree_size, leaf_hashes(head.tree_size))
            check_older_checkpoint(checkpoint.to_note(), head, log_key, proof)
        if witnesses:
            check_witnessed(head, log_key, witnesses, witnessed(head.tree_size) if witnessed else None)
    except VerificationError as exc:
        error = SignatureError if exc.kind == "signature" else LedgerIntegrityError
        raise error(f"{path}: {exc}") from None
    try:
        certificate = Certificate.model_validate(statement.get("predicate"))
    except ValidationError as exc:
        raise SignatureError(f"{path}: the signed payload is not a valid certificate: {first_error(exc)}") from exc
    if statement != certificate_statement(certificate):
        raise SignatureError(f"{path}: the statement's subject or fields are not the certificate's")
    return certificate
