"""New request: the form a privacy officer files an erasure request with; the engine validates it.

The scope is chosen first (it changes the form): the whole subject, chosen interactions of theirs (picked from
what the store holds for the subject, by item), or a time window of whole UTC days.
"""

from __future__ import annotations

import csv
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import streamlit as st

from ledger import RequestKind
from policies import gdpr_deadline
from ui._access import require
from ui._tables import today
from ui._session import page_user, reported_errors, services
from unlearn.requests import ErasureRequest, ListedInteractions, TimeWindow, WholeSubject

# The kinds one subject's request can have (a batch is filed from the command line). No bare strings in pages:
# Streamlit's "magic" prints them.
SCOPES = {RequestKind.SUBJECT: "Whole subject", RequestKind.INTERACTIONS: "Chosen interactions",
          RequestKind.TIME_WINDOW: "A time window"}

user = page_user()
ledger, engine, policy = services().ledger, services().engine, services().policy

st.title("New erasure request")
if not user.can("file_request"):
    st.info(f"You are signed in as an {user.role}: an {user.role} reads, verifies and audits, but cannot file "
            "requests.")
    st.stop()


def subject_items(subject: str) -> list[str]:
    """The items the subject interacted with, while the store holds their data (empty for an unknown subject),
    in natural order (item 2 before item 10)."""
    found = ledger.store.subject(subject.strip()) if subject.strip() and ledger.dataset() else None
    if found is None:
        return []
    item_of = ledger.store.items_frame().set_index("item_idx")["item"]
    items = {str(item_of[i]) for i in ledger.store.interactions(user_idx=found[1])["item_idx"]}
    return sorted(items, key=lambda item: (0, int(item), "") if item.isdigit() else (1, 0, item))


def subject_card(subject: str) -> None:
    """What the store holds for the subject typed in, so the officer confirms the right person before filing; an
    open request for them is flagged here already (filing again would only be recorded on it as a duplicate)."""
    from unlearn.workflow import open_request_for

    found = ledger.store.subject(subject) if subject and ledger.dataset() else None
    if found is None:
        st.warning(f"No data of subject {subject!r} in the store: check the id (erased subjects have none left).")
        return
    rows = ledger.store.interactions(user_idx=found[1])
    st.success(f"Subject {subject}: {len(rows)} interaction(s) in the store ({int((rows['split'] == 'train').sum())} "
               f"that models trained on); ledger pseudonym `{found[0]}`.")
    duplicate = open_request_for(ledger, [found[0]])
    if duplicate is not None:
        st.error(f"Possible duplicate: request {duplicate.request_id} for this subject is still open "
                 f"({duplicate.state}, received {duplicate.received_at[:10]}). Open it instead of filing again; a "
                 "new filing is refused and flagged on it.")
        st.page_link("console_pages/request_detail.py", label=f"Open {duplicate.request_id}",
                     query_params={"id": duplicate.request_id}, icon=":material/arrow_forward:")


IDENTITIES_FILE = "identities.csv"


def identity_map(root: Path) -> dict[str, dict[str, str]]:
    """``{identity type: {value (lower case): subject id}}`` from the workspace's identity map, if it has one: how a
    privacy team knows a subject (an e-mail, an account number), mapped to the id the interaction data uses."""
    path = root / IDENTITIES_FILE
    if not path.exists():
        return {}
    table: dict[str, dict[str, str]] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            table.setdefault(row["identity_type"], {})[row["identity_value"].strip().lower()] = row["subject"].strip()
    return table


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


defaults = ErasureRequest.model_fields
st.caption(f"If filed today, the response is due by {gdpr_deadline(today(), policy.deadlines.response_months)} "
           f"(policy {policy.name!r}: {policy.deadlines.response_months} month(s), GDPR Art. 12(3)).")
identities = identity_map(ledger.workspace.root)
by = "subject id"
if identities:
    by = st.radio("Identify the subject by", ["subject id", *sorted(identities)], key="identify_by", horizontal=True,
                  help=f"From the workspace's {IDENTITIES_FILE} (the map `lethe serve --identities` reads too): "
                       "identity_type,identity_value,subject.")
if by == "subject id":
    subject = st.text_input("Subject id (the customer id your recommender data uses)", key="subject",
                            help="The id in the interaction data, e.g. the customer or account number. Lethe keeps "
                                 "only a keyed pseudonym of it in the ledger.").strip()
else:
    value = st.text_input(f"The subject's {by}", key="identity_value",
                          help="Looked up in the identity map; the value itself is never recorded.").strip()
    subject = identities[by].get(value.lower(), "") if value else ""
    if value and not subject:
        st.warning(f"No subject with this {by} in {IDENTITIES_FILE}.")
if subject:
    subject_card(subject)
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
        chosen = st.multiselect("Interactions to erase (by item)", options, key="items",
                                format_func=lambda item: f"item {item}")
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
        if not subject:
            st.error("Enter the subject's id first.")
            st.stop()
        if kind == RequestKind.INTERACTIONS and not chosen:
            st.error("Choose at least one interaction to erase, or file for the whole subject.")
            st.stop()
        scope = (WholeSubject() if kind == RequestKind.SUBJECT
                 else ListedInteractions(items=chosen) if kind == RequestKind.INTERACTIONS
                 else TimeWindow(start=utc_midnight(first_day), end=utc_midnight(last_day + timedelta(days=1))))
        request = ErasureRequest(subject=subject, scope=scope, regulation=regulation, basis=basis, notes=notes)
        request_id = engine.file(request, actor=user.name, intake="console")
        st.success(f"Filed request {request_id}. Next: verify the subject's identity and review the plan on the "
                   "request's page.")
        st.page_link("console_pages/request_detail.py", label="Open the request", query_params={"id": request_id},
                     icon=":material/arrow_forward:")
