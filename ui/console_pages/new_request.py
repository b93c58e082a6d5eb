"""New request: the form a privacy officer files an erasure request with; the engine validates it.

The scope is chosen first (it changes the form): the whole subject, chosen interactions of theirs (picked from
what the store holds for the subject, by item), or a time window of whole UTC days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import streamlit as st

from ledger import RequestKind
from policies import gdpr_deadline
from ui._access import require
from ui._tables import today
from ui._session import page_user, reported_errors, services
from unlearn.requests import ErasureRequest, ListedInteractions, TimeWindow, WholeSubject

SCOPES = {RequestKind.SUBJECT: "Whole subject", RequestKind.INTERACTIONS: "Chosen interactions",
          RequestKind.TIME_WINDOW: "A time window"}
"""The kinds one subject's request can have (a batch is filed from the command line)."""

user = page_user()
ledger, engine, policy = services().ledger, services().engine, services().policy

st.title("New erasure request")
if not user.can("file_request"):
    st.info(f"You are signed in as an {user.role}: an {user.role} reads, verifies and audits, but cannot file "
            "requests.")
    st.stop()


def subject_items(subject: str) -> list[str]:
    """The items the subject interacted with, while the store holds their data (empty for an unknown subject)."""
    found = ledger.store.subject(subject.strip()) if subject.strip() and ledger.dataset() else None
    if found is None:
        return []
    item_of = ledger.store.items_frame().set_index("item_idx")["item"]
    return sorted({str(item_of[i]) for i in ledger.store.interactions(user_idx=found[1])["item_idx"]})


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


defaults = ErasureRequest.model_fields
st.caption(f"If filed today, the response is due by {gdpr_deadline(today(), policy.deadlines.response_months)} "
           f"(policy {policy.name!r}: {policy.deadlines.response_months} month(s), GDPR Art. 12(3)).")
subject = st.text_input("Subject id (as in the data set)", key="subject")
kind = st.radio("Scope", list(SCOPES), format_func=SCOPES.__getitem__, key="scope", horizontal=True)
with st.form("new_request"):
    chosen: list[str] = []
    first_day = last_day = today()
    if kind == RequestKind.SUBJECT:
        st.markdown("Every interaction of the subject, in every deployment; their salt and index leave the store.")
    elif kind == RequestKind.INTERACTIONS:
        options = subject_items(subject)
        if not options:
            st.caption("Enter the id of a subject whose data is in the store to choose their interactions.")
        chosen = st.multiselect("Interactions to erase (by item)", options, key="items")
    else:
        from_column, to_column = st.columns(2)
        first_day = from_column.date_input("From (UTC, first day included)", value=today() - timedelta(days=30),
                                           key="window_from")
        last_day = to_column.date_input("To (UTC, last day included)", value=today(), key="window_to")
    regulation = st.text_input("Regulation", value=defaults["regulation"].default, key="regulation")
    basis = st.text_input("Legal basis", value=defaults["basis"].default, key="basis")
    notes = st.text_area("Notes", key="notes")
    submitted = st.form_submit_button("File request")
if submitted:
    with reported_errors():
        require(page_user(), "file_request")  # the role is re-read from the users file at the moment of filing
        if kind == RequestKind.INTERACTIONS and not chosen:
            st.error("Choose at least one interaction to erase, or file for the whole subject.")
            st.stop()
        scope = (WholeSubject() if kind == RequestKind.SUBJECT
                 else ListedInteractions(items=chosen) if kind == RequestKind.INTERACTIONS
                 else TimeWindow(start=utc_midnight(first_day), end=utc_midnight(last_day + timedelta(days=1))))
        request = ErasureRequest(subject=subject, scope=scope, regulation=regulation, basis=basis, notes=notes)
        request_id = engine.file(request, actor=user.name)
        st.session_state["request_id"] = request_id  # the detail page opens on it
        st.success(f"Filed request {request_id}; review its plan and run it on the Request detail page.")
        st.page_link("console_pages/request_detail.py", label="Open the request", icon=":material/arrow_forward:")
