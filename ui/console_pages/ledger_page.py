"""Ledger: re-check the hash chain on demand, the key that signs reports, and the latest events."""

from __future__ import annotations

import streamlit as st

from ui._views import latest_event_rows, services

ledger = services().ledger

st.title("Ledger integrity")
st.markdown(f"Signing key fingerprint: `{ledger.workspace.signer.keyid}`")
if st.button("Verify ledger", key="verify_ledger"):
    result = ledger.verify()
    if result.ok:
        st.success(f"Ledger ok: {result.events_checked} events, head {result.head_hash}")
    else:
        st.error(f"Ledger verification failed at seq {result.first_bad_seq}: {result.reason}")

st.subheader("Latest 50 events")
st.dataframe(latest_event_rows(ledger, 50), hide_index=True)
