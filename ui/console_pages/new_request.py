"""New request: the form a privacy officer files an erasure request with; the engine validates it."""

from __future__ import annotations

import streamlit as st

from policies import gdpr_deadline
from ui._access import require
from ui._tables import today
from ui._views import page_user, reported_errors, services
from unlearn.requests import ErasureRequest

user = page_user()
engine, policy = services().engine, services().policy

st.title("New erasure request")
if not user.can("file_request"):
    st.info(f"You are signed in as an {user.role}: an {user.role} reads, verifies and audits, but cannot file "
            "requests.")
    st.stop()

defaults = ErasureRequest.model_fields
st.caption(f"If filed today, the response is due by {gdpr_deadline(today(), policy.deadlines.response_months)} "
           f"(policy {policy.name!r}: {policy.deadlines.response_months} month(s), GDPR Art. 12(3)).")
with st.form("new_request"):
    subject = st.text_input("Subject id (as in the data set)", key="subject")
    st.markdown("**Scope:** the whole subject — every interaction of theirs, in every deployment. "
                "(The engine serves whole-subject requests; chosen interactions and time windows are not "
                "supported yet.)")
    regulation = st.text_input("Regulation", value=defaults["regulation"].default, key="regulation")
    basis = st.text_input("Legal basis", value=defaults["basis"].default, key="basis")
    notes = st.text_area("Notes", key="notes")
    submitted = st.form_submit_button("File request")
if submitted:
    with reported_errors():
        require(page_user(), "file_request")  # the role is re-read from the users file at the moment of filing
        request_id = engine.file(ErasureRequest(subject=subject, regulation=regulation, basis=basis, notes=notes),
                                 actor=user.name)
        st.session_state["request_id"] = request_id  # the detail page opens on it
        st.success(f"Filed request {request_id}; review its plan and run it on the Request detail page.")
        st.page_link("console_pages/request_detail.py", label="Open the request", icon=":material/arrow_forward:")
