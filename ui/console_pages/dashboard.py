"""Dashboard: open requests against their deadlines (late ones first and red; failed ones, which await a retry,
with their reason and the retry command), requests by state, the latest audit verdict and the latest ledger
integrity check."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from policies import DeadlineState
from ui._figures import state_counts_figure
from ui._tables import audit_events, latest_integrity_check, open_request_rows, state_counts, today
from ui._session import page_user, services

STATUS_COLORS = {DeadlineState.LATE: "#f8d7da", DeadlineState.NEARLY_LATE: "#fff3cd",
                 DeadlineState.ON_TIME: "transparent"}

page_user()
ledger, policy = services().ledger, services().policy

st.title("Dashboard")

counts = state_counts(ledger)
open_rows = open_request_rows(ledger, policy, today())
late = [r for r in open_rows if r["status"] == DeadlineState.LATE]
total, still_open, late_metric, certified = st.columns(4)
total.metric("Requests", sum(counts.values()))
still_open.metric("Open", len(open_rows))
late_metric.metric("Past deadline", len(late))
certified.metric("Certified", counts.get("certified", 0))

st.subheader("Open requests")
if late:
    st.error(f"{len(late)} open request(s) past the GDPR deadline: " + ", ".join(r["request_id"] for r in late))
failed_rows = [r for r in open_rows if r["state"] == "failed"]
if failed_rows:  # not answered: their deadline still runs until a retry certifies them
    st.warning(f"{len(failed_rows)} failed request(s), still open against their deadline (officers can also retry "
               "on the Request detail page):\n\n"
               + "\n\n".join(f"**{r['request_id']}** (due {r['deadline']}, {r['status']}) — {r['note']}"
                             for r in failed_rows))
st.page_link("console_pages/requests.py", label="All requests: filter, open, export the register",
             icon=":material/inbox:")
if open_rows:
    st.dataframe(pd.DataFrame(open_rows).style.apply(
        lambda row: [f"background-color: {STATUS_COLORS[row['status']]}"] * len(row), axis=1),
        hide_index=True, key="open_requests")
else:
    st.info("No open requests.")
if counts:
    st.plotly_chart(state_counts_figure(counts), key="chart_states")
    st.caption("How many requests stand in each step of the lifecycle, from received to certified (or rejected / "
               "failed).")

integrity, audit = st.columns(2)
with integrity:
    st.subheader("Ledger integrity")
    check = latest_integrity_check(ledger)
    head = ledger.log.head()
    if check is None:
        st.warning("The ledger has not been checked from the console yet; check it on the Ledger page.")
    else:
        since = (head.seq if head else 0) - check.seq
        text = (f"checked {check.ts[:19]} UTC by {check.actor}: {check.payload['events_checked']} events; "
                f"{since} event(s) appended since")
        (st.success if check.payload["ok"] else st.error)(
            ("Intact, " if check.payload["ok"] else f"FAULT at seq {check.payload['first_bad_seq']}, ") + text)
with audit:
    st.subheader("Latest audit")
    audits = audit_events(ledger)
    if not audits:
        st.warning("No audit has run yet; run one on the Audits page.")
    else:
        latest = audits[0]
        failed = ", ".join(latest.payload["failed_checks"])
        (st.success if latest.payload["passed"] else st.error)(
            f"{latest.payload['audit_id']} ({latest.ts[:19]} UTC, {latest.actor}): "
            + ("passed" if latest.payload["passed"] else f"FAILED: {failed}"))
