"""Audits: the schedule the policy sets, an audit run now (both roles, as the policy's approvers allow), and
every audit so far with its verdict, checks and signed report to download."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import streamlit as st

from ui._tables import audit_check_rows, audit_events, audit_rows, next_audit_runs, verified_audit
from ui._session import StreamlitProgress, page_user, record_action, reported_errors, services
from verify import run_audit

user = page_user()
ledger, policy = services().ledger, services().policy

st.title("Audits")
st.markdown(
    "An audit re-checks the ledger's integrity, that no live checkpoint or the store holds an erased interaction "
    "again, the erasures of its window (with one shared reference retrain), and every open request's deadline."
)

st.subheader("Schedule")
schedule = policy.audit
verification = "deferred to the audit" if schedule.defer_verification else "at each request"
st.markdown(f"Policy **{policy.name}** (v{policy.version}): cron `{schedule.cron}` (UTC), window "
            f"{schedule.window_days} day(s); verification {verification}.")
st.caption("Next runs: " + ", ".join(next_audit_runs(schedule.cron, datetime.now(timezone.utc)))
           + " — while `lethe audit schedule` is running.")

if user.role in policy.approvers.run_audit:
    if st.button("Run audit now", key="run_audit", type="primary"):
        with reported_errors():  # run_audit checks the role against the policy's approvers again
            report = run_audit(ledger, policy, role=user.role, actor=user.name, progress=StreamlitProgress())
            verdict = "passed" if report.passed else "FAILED: " + ", ".join(report.failed_checks)
            (st.success if report.passed else st.error)(f"Audit {report.audit_id}: {verdict}")
else:
    st.info(f"Policy {policy.name!r} lets {', '.join(policy.approvers.run_audit)} run audits, not an {user.role}.")

st.subheader("History")
events = audit_events(ledger)
if not events:
    st.info("No audit has run yet.")
    st.stop()
rows = audit_rows(events)
st.dataframe(pd.DataFrame(rows).style.apply(
    lambda row: ["background-color: #f8d7da" if row["verdict"] == "FAIL" else ""] * len(row), axis=1),
    hide_index=True, key="audits")
chosen = st.selectbox("Audit report", [r["audit"] for r in rows], key="audit_id")
with reported_errors():
    event = next(e for e in events if e.payload["audit_id"] == chosen)
    report, path = verified_audit(ledger, event)
    st.markdown(f"**{report.audit_id}** — {'passed' if report.passed else 'failed'}; signature verified. "
                f"{report.events_checked} events checked, window from {report.window_start:%Y-%m-%d %H:%M} UTC, "
                f"{report.seconds:.1f} s.")
    st.dataframe(audit_check_rows(report), hide_index=True, key="audit_checks")
    if report.requests:
        st.caption("Erasures of the window")
        st.dataframe([r.model_dump(mode="json") for r in report.requests], hide_index=True, key="audit_window")
    if report.deadlines:
        st.caption("Open requests against their deadlines")
        st.dataframe([d.model_dump(mode="json") for d in report.deadlines], hide_index=True, key="audit_deadlines")
    if report.retention_due:
        st.warning("Due for deletion under the retention policy: " + ", ".join(report.retention_due))
    if user.can("download"):
        st.download_button("Signed audit report (JSON)", path.read_bytes(), file_name=path.name,
                           mime="application/json", key="download_audit", on_click=record_action,
                           args=(user, "download", "console.audit_report_downloaded", {"audit_id": report.audit_id}))
