"""Issuing a certificate: the signed JSON, and the PDF people read, with how to verify that JSON offline.

The PDF proves nothing by itself (the JSON envelope is the certificate); it must still read well for a regulator
who has no Lethe.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF

from ledger import REQUEST_APPROVED, REQUEST_ASSIGNED, REQUEST_IDENTITY_VERIFIED, Signer
from ledger.errors import SignatureError
from verify._certificate import Certificate, certificate_statement
from verify._organisation import Organisation, load_organisation
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


ROLE_WORDS = {"proof": "proof from the ledger", "forgetting": "model forgot the data",
              "collateral": "no harm to other users"}
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}


def _events(certificate: Certificate) -> list[dict[str, Any]]:
    """The request's events the certificate's inclusion proof carries (signed facts: who did what, when)."""
    bundle = certificate.inclusion_proof or {}
    return [entry["event"] for entry in bundle.get("events", []) if isinstance(entry.get("event"), dict)]


def responsible_officer(certificate: Certificate) -> str | None:
    """The request's assignee, else the console user who filed it (a request code or a DSR tool filed names none)."""
    events = _events(certificate)
    assigned = [e for e in events if e.get("kind") == REQUEST_ASSIGNED]
    if assigned:
        return str(assigned[-1]["payload"]["assignee"])
    received = next((e for e in events if e.get("kind") == "request.received"), None)
    if received is not None and received["payload"].get("intake") == "console":
        return str(received["actor"])
    return None


def _workflow_line(certificate: Certificate) -> str | None:
    """How the subject's identity was verified and who approved the run, from the proven events."""
    parts = []
    for event in _events(certificate):
        day = str(event.get("ts", ""))[:10]
        if event.get("kind") == REQUEST_IDENTITY_VERIFIED:
            parts.append(f"identity verified by {event['actor']} ({event['payload']['method']}) on {day}")
        elif event.get("kind") == REQUEST_APPROVED:
            parts.append(f"run approved by {event['actor']} ({event['payload']['role']}) on {day}")
    return "; ".join(parts) or None


def _result_line(c: Certificate) -> str:
    if not c.passed:
        return "Result: NOT CERTIFIED - the evidence below did not pass"
    if c.basis == "lineage":
        return f"Result: ERASED - certified on the lineage proof; statistical follow-up due by {c.statistics_due}"
    return "Result: ERASED - certified on the statistical verification"


_KIND_WORDS = {"subject": "all of the subject's", "interactions": "the listed", "time_window": "the time window's",
               "batch": "all of the subjects'"}


def _erased_phrase(c: Certificate) -> str:
    """What was erased, counted as the plan counts it: rows models trained on, and rows held out for testing."""
    scope = c.scope
    what = f"{_KIND_WORDS.get(scope.kind, 'the')} {scope.interactions} interaction record(s)"
    if scope.window is not None:
        what += f" between {scope.window.start:%Y-%m-%d %H:%M} and {scope.window.end:%Y-%m-%d %H:%M} UTC"
    return f"{what} ({scope.training_pairs} that models trained on, {scope.held_out_pairs} held out for testing)"


def _day(moment: date | datetime) -> str:
    return f"{moment.day} {moment:%B %Y}"


def _plain_summary(c: Certificate) -> str:
    subjects = "the data subject" if len(c.subject_refs) == 1 else f"{len(c.subject_refs)} data subjects"
    by = f"{c.controller} " if c.controller else "The controller "
    done = "within" if c.within_deadline else "AFTER"
    return (f"{by}received a request under {c.regulation} from {subjects} on {_day(c.received_at)}. It erased "
            f"{_erased_phrase(c)} from its records and replaced every part of its recommender model ({c.method}, "
            f"{c.deployment_id}) that had learned from that data. The work finished on {_day(c.completed_at)}, "
            f"{done} the legal deadline of {_day(c.deadline)} (GDPR Art. 12(3)). The checks below were signed "
            "by the controller's key and can be verified by anyone without its software, as explained at the end.")


def render_certificate_pdf(certificate: Certificate, envelope_signature: dict[str, str], path: Path,
                           organisation: Organisation | None = None, logo: Path | None = None) -> Path:
    """Write the human-readable PDF of ``certificate`` (uncompressed, so its text can be searched).

    Written for a regulator or the data subject, who have no Lethe: who answered (the controller, its officer and
    DPO contact), what was done in plain words, the facts with what each number counts, every check with what it
    shows and its verdict (inconclusive said as such, never folded into a pass), and how to verify the signed JSON.
    """
    c = certificate
    pdf = FPDF(format="A4")
    pdf.set_compression(False)
    pdf.set_auto_page_break(True, margin=12)
    pdf.set_title(f"Certificate of erasure {c.certificate_id}")
    pdf.set_author(_latin1(c.controller or "Lethe"))
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

    if logo is not None:
        pdf.image(str(logo), x=pdf.w - pdf.r_margin - 30, y=8, h=14)
    if c.controller:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(0, 5, _latin1(c.controller), new_x="LMARGIN", new_y="NEXT")
    heading("Certificate of erasure", 16)
    paragraph(f"{c.regulation} - request {c.request_id}", style="B")
    paragraph(_result_line(c), style="B")
    pdf.ln(1)
    paragraph(_plain_summary(c))
    pdf.ln(2)

    swaps = "\n".join(f"{swap.old} -> {swap.new}" for swap in c.checkpoints_replaced) or "none"
    checkpoint = c.ledger_checkpoint or {}
    workflow = _workflow_line(c)
    facts = [
        *((("Controller", c.controller),) if c.controller else ()),
        *((("Officer responsible", c.officer),) if c.officer else ()),
        *((("Data protection officer", organisation.dpo_contact),) if organisation and organisation.configured else ()),
        ("Certificate", c.certificate_id),
        ("Legal basis", c.legal_basis),
        ("Subject (pseudonym)" if len(c.subject_refs) == 1 else f"Subjects ({len(c.subject_refs)}, pseudonyms)",
         "\n".join(c.subject_refs) + "\n(a keyed code, not the person's id: no personal data is in this document)"),
        ("Received / due / completed",
         f"{_when(c.received_at)} / {c.deadline.isoformat()} (Art. 12(3)) / {_when(c.completed_at)}"
         f" - {'within the deadline' if c.within_deadline else 'LATE'}"),
        *((("Deadline extended", "; ".join(f"{e.months} month(s): {e.reason}" for e in c.extensions)),)
          if c.extensions else ()),
        *((("Workflow", workflow),) if workflow else ()),
        ("What was erased", _erased_phrase(c) + f"; {c.scope.deployments} model deployment(s) affected, "
                            f"{c.scope.checkpoints_replaced} model checkpoint(s) replaced"),
        ("Method", f"{c.method} ({'exact: the affected model parts were retrained without the data' if c.exact else 'approximate'}) "
                   f"on deployment {c.deployment_id}"),
        ("Shards retrained", _shards_line(c.shards_retrained) + " - a shard is one of the parts the model is "
                                                              "trained in; only parts that saw the data retrain"),
        ("Checkpoints replaced", swaps),
        ("Lineage proof", c.lineage_proof),
        ("Basis", "lineage proof (statistics follow)" if c.basis == "lineage" else "statistical verification"),
        ("Report digest", f"SHA-256 {c.report_digest} (the signed verification report this certificate rests on)"),
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
    if c.basis_notice:
        heading("Basis of this certificate")
        paragraph(c.basis_notice, style="I")
    if c.approximate_notice:
        heading("Limitations")
        paragraph(c.approximate_notice, style="I")

    heading("Checks")
    paragraph("PASS: the check held. FAIL: it did not. INCONCLUSIVE: the check could not tell (its control models did "
              "not separate, or too few data); it counts neither for nor against, and is never shown as a pass.")
    with pdf.table(col_widths=(52, 38, 22, 50, 28), text_align="LEFT", line_height=4) as table:
        header = table.row()
        for title in ("Check", "What it shows", "Value", "Threshold", "Result"):
            header.cell(title)
        for verdict in c.verdicts:
            row = table.row()
            row.cell(_latin1(verdict.name))
            row.cell(ROLE_WORDS.get(verdict.role or "", "-"))
            row.cell(_number(verdict.value))
            row.cell(_latin1(f"{verdict.comparison} {_number(verdict.threshold) if verdict.threshold is not None else ''}".strip()))
            row.cell(VERDICT_WORDS[verdict.verdict])

    heading("How to verify this certificate")
    paragraph(f"1. Ask {c.controller or 'the controller'} for the signed file {c.certificate_id}.json and its public "
              "key (signing.vkey); this PDF only shows that file.")
    paragraph(f"2. Run: python standalone.py {c.certificate_id}.json --vkey signing.vkey  (one file, needs Python and "
              "the 'cryptography' package, no Lethe). It prints OK only if the signature, the ledger proof and the "
              "request's events all check out.")
    paragraph(f"3. Check that the key's fingerprint is the one below. With Lethe: lethe certificate verify "
              f"{c.certificate_id}.json --public-key signing.pub")
    paragraph("The JSON is a DSSE v1 envelope around an in-toto Statement v1; its ledger proof is RFC 9162 over RFC "
              "8785 leaves under a C2SP signed checkpoint (VERIFYING.md).")
    paragraph(f"Key fingerprint (SHA-256): {c.key_fingerprint}", font="Courier")
    paragraph(f"Ledger head: {c.ledger_head}", font="Courier")
    paragraph(f"Ed25519 signature (base64): {envelope_signature['sig']}", font="Courier", wrapmode="CHAR")
    if organisation is not None and organisation.configured:
        pdf.ln(1)
        paragraph(f"Questions: {organisation.dpo_contact}, data protection officer of {organisation.name}"
                  + (f", {organisation.address}" if organisation.address else "") + ".")

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def issue_certificate(certificate: Certificate, signer: Signer, out_dir: Path,
                      workspace_root: Path | None = None) -> tuple[Path, Path]:
    """Sign ``certificate`` and write ``<certificate_id>.json`` (the envelope) and ``.pdf``; return both paths.

    Before signing, the certificate is given the controller's name (``organisation.toml`` of ``workspace_root``,
    which defaults to ``out_dir``'s parent: certificates live in the workspace's ``certificates/``) and the officer
    responsible (from the request events it proves), unless it already names them; the PDF shows the DPO contact
    and the logo."""
    root = Path(workspace_root) if workspace_root is not None else Path(out_dir).parent
    organisation = load_organisation(root)
    certificate = certificate.model_copy(update={
        "controller": certificate.controller or (organisation.name if organisation.configured else None),
        "officer": certificate.officer or responsible_officer(certificate),
    })
    if certificate.key_fingerprint != signer.keyid:
        raise SignatureError(
            f"certificate names key {certificate.key_fingerprint[:16]}…, the signer holds {signer.keyid[:16]}…"
        )
    envelope = sign_payload(certificate_statement(certificate), CERTIFICATE_PAYLOAD_TYPE, signer)
    out_dir = Path(out_dir)
    json_path = save_envelope(envelope, out_dir / f"{certificate.certificate_id}.json")
    pdf_path = render_certificate_pdf(
        certificate, envelope.signatures[0].model_dump(), out_dir / f"{certificate.certificate_id}.pdf",
        organisation, organisation.logo_path(root),
    )
    return json_path, pdf_path
