"""Ledger: check its integrity (recorded with who checked), the signed checkpoints auditors keep, a search by
request or subject (a subject's placements only while their data exists), and the latest events."""

from __future__ import annotations

import streamlit as st

from ui._queries import request_summary
from ui._tables import (
    LEDGER_VERIFIED,
    latest_event_rows,
    latest_integrity_check,
    signed_checkpoint_rows,
    subject_view,
)
from ui._session import page_user, record_action, reported_errors, services
from ui._timeline import timeline_rows

user = page_user()
ledger = services().ledger

st.title("Ledger integrity")
st.markdown(f"Signing key fingerprint: `{ledger.workspace.signer.keyid}`")
if user.can("verify_ledger") and st.button("Verify ledger", key="verify_ledger"):
    with reported_errors():
        result = ledger.verify()
        record_action(user, "verify_ledger", LEDGER_VERIFIED,
                      {"ok": result.ok, "events_checked": result.events_checked, "head_hash": result.head_hash,
                       "first_bad_seq": result.first_bad_seq, "reason": result.reason})
        if result.ok:
            st.success(f"Ledger ok: {result.events_checked} events, head {result.head_hash}")
        else:
            st.error(f"Ledger verification failed at seq {result.first_bad_seq}: {result.reason}")
else:
    check = latest_integrity_check(ledger)
    if check is not None:
        st.caption(f"Last checked {check.ts[:19]} UTC by {check.actor}: {'ok' if check.payload['ok'] else 'FAULT'}")

st.subheader("Signed checkpoints")
heads = signed_checkpoint_rows(ledger)
if heads:
    st.dataframe([{k: v for k, v in h.items() if k != "note"} for h in heads], hide_index=True, key="checkpoints")
    st.download_button(f"Latest checkpoint note (size {heads[0]['tree size']})", heads[0]["note"],
                       file_name=f"{heads[0]['tree size']}.note", mime="text/plain", key="download_note",
                       on_click=record_action,
                       args=(user, "download", "console.checkpoint_downloaded", {"tree_size": heads[0]["tree size"]}))
else:
    st.info("No checkpoint signed yet: the engine signs one after every request (or run `lethe ledger checkpoint`).")

st.subheader("Search")
with st.form("search"):
    kind = st.radio("Search by", ["request id", "subject id"], horizontal=True, key="search_kind")
    query = st.text_input("Request id, or subject id as in the data set", key="search_query")
    searched = st.form_submit_button("Search")
if searched and query.strip():
    query = query.strip()
    with reported_errors():
        if kind == "request id":
            summary = request_summary(ledger, services().policy, query)
            st.markdown(f"**{query}**: {summary['state']} (received {summary['received_at'][:19]}, "
                        f"deadline {summary['deadline']})")
            st.dataframe(timeline_rows(ledger.request(query).history), hide_index=True, key="search_history")
            st.page_link("console_pages/request_detail.py", label=f"Open {query}", query_params={"id": query})
        else:
            view = subject_view(ledger, query)
            # looking a person up is itself accountable: who looked, and the pseudonym, go to the ledger
            record_action(user, "read", "console.subject_looked_up",
                          {"subject_ref": view["subject_ref"], "data_in_store": view["data_in_store"]})
            if view["data_in_store"]:
                st.markdown(f"Subject ref `{view['subject_ref']}`: {view['interactions']} interaction(s) in the store.")
                st.dataframe(view["placements"], hide_index=True, key="search_placements")
            else:
                st.markdown(f"Subject ref `{view['subject_ref']}`: **erased** — the store holds no data of "
                            "theirs; the ledger keeps only opaque interaction ids and the requests below.")
            st.dataframe(view["requests"], hide_index=True, key="search_requests")

st.subheader("Latest 50 events")
events = latest_event_rows(ledger, 50)
st.dataframe(events, hide_index=True, key="events", column_config={"what happened": st.column_config.TextColumn(
    width="large")})
with st.expander("Raw event (as signed in the ledger)"):
    seq = st.selectbox("Event", [e["seq"] for e in events], key="raw_ledger_event")
    if seq is not None:
        raw = next(e for e in ledger.recent_events(50) if e.seq == seq)
        st.json({"seq": raw.seq, "ts": raw.ts, "kind": raw.kind, "actor": raw.actor, "payload": raw.payload,
                 "prev_hash": raw.prev_hash, "hash": raw.hash})
