"""Issuing a certificate: the signed JSON, and the PDF people read, with how to verify that JSON offline.

The PDF proves nothing by itself (the JSON envelope is the certificate); it must still read well for a regulator
who has no Lethe.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF

from ledger import Signer
from ledger.errors import SignatureError
from verify._certificate import Certificate, certificate_statement
from verify._report import CERTIFICATE_PAYLOAD_TYPE, save_envelope, sign_payload


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
