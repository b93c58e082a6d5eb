"""Verify a certificate: upload a certificate JSON (and optionally a checkpoint note you kept) and see each check
of the standalone verifier (``verify/standalone.py``, the one file a regulator runs) pass or fail, with the
workspace's public key or a verifier key you upload. Each check is a ``console.certificate_checked`` event."""

from __future__ import annotations


import streamlit as st

from ui._certificate_check import check_certificate
from ui._session import page_user, record_action, services

user = page_user()
ledger = services().ledger

st.title("Verify a certificate")
st.markdown("Runs the checks of the standalone verifier — the one file anyone can run without Lethe "
            "(`python standalone.py CERT.json --vkey signing.vkey`) — and shows each one.")
with st.form("verify_certificate"):
    certificate = st.file_uploader("Certificate (signed JSON)", type=["json"], key="certificate_file")
    note = st.file_uploader("Your checkpoint note (optional: one you kept from this ledger earlier)",
                            type=["note", "txt"], key="checkpoint_file")
    vkey_file = st.file_uploader("Verifier key (optional; default: this workspace's keys/signing.vkey)",
                                 type=["vkey", "txt"], key="vkey_file")
    submitted = st.form_submit_button("Verify", type="primary")
if submitted:
    if certificate is None:
        st.error("Choose the certificate's JSON file first.")
        st.stop()
    vkey_path = ledger.workspace.root / "keys" / "signing.vkey"
    vkey = vkey_file.getvalue().decode("utf-8", "replace") if vkey_file else vkey_path.read_text(encoding="utf-8")
    result = check_certificate(certificate.getvalue(), vkey, note.getvalue() if note else None, ledger)
    predicate = result.certificate or {}
    record_action(user, "read", "console.certificate_checked", {
        "file": certificate.name, "certificate_id": predicate.get("certificate_id"), "ok": result.ok,
        "failed_step": result.failed_step, "with_checkpoint": note is not None, "own_key": vkey_file is None})
    if result.ok:
        st.success(f"Valid: certificate {predicate.get('certificate_id')} for request {predicate.get('request_id')} "
                   f"— every check passed.")
    else:
        st.error(f"Not valid: {result.failed_step or 'a check'} failed. Do not rely on this certificate.")
    marks = {"pass": ":green[:material/check_circle: PASS]", "fail": ":red[:material/cancel: FAIL]",
             "not checked": ":gray[:material/pause_circle: not checked]",
             "skipped": ":gray[:material/remove_circle: skipped]"}
    with st.container(border=True, key="verification_steps"):
        for step in result.steps:
            st.markdown(f"{marks[step.outcome]} — **{step.name}**  \n{step.detail}")
    if predicate:
        with st.expander("What the certificate states"):
            st.json({k: v for k, v in predicate.items() if k not in ("inclusion_proof", "ledger_checkpoint")})
else:
    st.caption("The file never leaves this server; only the check's result (and who ran it) is recorded.")
