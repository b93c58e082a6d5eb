"""Requests: the register of every request, filtered by state, kind, deadline, subject pseudonym and assignee,
sorted, each row opening the request (``/request?id=…``, an address that survives a reload and a sign-in), and
exported as CSV — the record an officer hands a supervisory authority (Art. 30 records, Art. 33 questions)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui._session import page_user, record_action, services
from ui._tables import DEADLINE_FILTERS, filter_queue, queue_rows, register_csv, today

user = page_user()
ledger, policy = services().ledger, services().policy

st.title("Requests")
rows = queue_rows(ledger, policy, today())
if not rows:
    st.info("No requests filed yet." + (" File one on the New request page." if user.can("file_request") else ""))
    st.stop()

states = sorted({r["state"] for r in rows})
kinds = sorted({r["kind"] for r in rows})
assignees = ["anyone", "unassigned", *sorted({r["assignee"] for r in rows if r["assignee"]})]
first, second, third, fourth, fifth = st.columns([1.4, 1.2, 1, 1.2, 1])
chosen_states = first.multiselect("State", states, key="queue_states", placeholder="any state")
chosen_kinds = second.multiselect("Kind", kinds, key="queue_kinds", placeholder="any kind")
deadline = third.selectbox("Deadline", DEADLINE_FILTERS, key="queue_deadline")
subject = fourth.text_input("Subject pseudonym (start of it)", key="queue_subject",
                            help="The keyed pseudonym the ledger holds (shown on each request); never the person's id")
assignee = fifth.selectbox("Assignee", assignees, key="queue_assignee")
shown = filter_queue(rows, chosen_states, chosen_kinds, deadline, subject, assignee)
sort_by = st.radio("Sort by", ["deadline", "received", "state", "assignee"], horizontal=True, key="queue_sort")
shown = sorted(shown, key=lambda r: (not r["open"], str(r[sort_by]))) if sort_by == "deadline" else \
    sorted(shown, key=lambda r: str(r[sort_by]), reverse=sort_by == "received")

late = sum(r["deadline status"] == "late" for r in shown)
st.caption(f"{len(shown)} of {len(rows)} request(s)" + (f"; **{late} past the GDPR deadline**" if late else "")
           + ". Click a row to open the request; click a column header to sort by it.")
columns = ["request", "state", "kind", "scope", "subject pseudonym", "received", "deadline", "days left",
           "deadline status", "assignee", "identity verified", "approved by", "outcome"]
frame = pd.DataFrame(shown, columns=[*columns, "open"]) if shown else pd.DataFrame(columns=[*columns, "open"])
frame.insert(1, "link", [f"request?id={rid}" for rid in frame["request"]])
STATUS_COLOURS = {"late": "#f8d7da", "nearly late": "#fff3cd"}
styled = frame.drop(columns=["open"]).style.apply(
    lambda row: [f"background-color: {STATUS_COLOURS.get(row['deadline status'], 'transparent')}"] * len(row), axis=1)
selection = st.dataframe(
    styled, hide_index=True, key="queue", on_select="rerun", selection_mode="single-row",
    column_config={
        "link": st.column_config.LinkColumn("open", display_text="open ↗", help="the request's own address"),
        "days left": st.column_config.NumberColumn(help="negative: late by that many days"),
        "subject pseudonym": st.column_config.TextColumn(help="first 12 characters of the keyed pseudonym"),
    },
)
picked = selection.selection.rows if selection else []
if picked:
    st.switch_page("console_pages/request_detail.py", query_params={"id": frame.iloc[picked[0]]["request"]})

if user.can("download"):
    st.download_button("Export the register (CSV)", register_csv(shown), file_name=f"lethe-register-{today()}.csv",
                       mime="text/csv", key="export_register", icon=":material/download:",
                       on_click=record_action, args=(user, "download", "console.register_exported",
                                                     {"rows": len(shown)}))
    st.caption("The export holds what the table shows (the filters apply) with full pseudonyms, the workflow and "
               "each request's outcome; no subject id or personal data.")
