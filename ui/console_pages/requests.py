"""Requests: every erasure request with its GDPR deadline, and the form a privacy officer files one with."""

from __future__ import annotations

import streamlit as st

from ui._reports import request_rows
from ui._views import reported_errors, services
from unlearn.requests import ErasureRequest

ledger, engine = services().ledger, services().engine

st.title("Erasure requests")
listing = st.container()  # filled after the form so a request filed in this run is already listed

with st.form("new_request"):
    st.subheader("File a request")
    subject = st.text_input("Subject id (as in the data set)", key="subject")
    basis = st.text_input("Legal basis", value="Art. 17(1)(b): consent withdrawn", key="basis")
    notes = st.text_area("Notes", key="notes")
    submitted = st.form_submit_button("File request")
if submitted:
    with reported_errors():
        request_id = engine.file(ErasureRequest(subject=subject, basis=basis, notes=notes), actor="console")
        st.session_state["request_id"] = request_id  # the detail page opens on it
        st.success(f"Filed request {request_id}; run it from the Request detail page.")

with listing:
    rows = request_rows(ledger, services().policy)
    if rows:
        st.dataframe(rows, hide_index=True)
    else:
        st.info("No requests filed yet.")
