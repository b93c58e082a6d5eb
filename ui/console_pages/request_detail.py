"""Request detail: one request's plan (from the ledger, before running), its run (queued for a worker, followed
from the ledger), a retry of a failed request (officers; recorded with the signed-in user as the actor), its verification report with plots, the
certificate downloads and the full event history."""

from __future__ import annotations

import streamlit as st

from ui._access import require
from ui._queries import request_summary
from ui._figures import latent_figure, metrics_figure, mia_figure, rbo_figure
from ui._tables import certificate_files, check_rows, history_rows, plan_parts, plan_rows, today, verified_report
from ui._session import page_user, record_action, reported_errors, services
from ui.worker import is_queued, last_queued, queue_request
from unlearn.lifecycle import resume_point
from unlearn.requests import ANSWERED_STATES, FINAL_STATES

user = page_user()
ledger, engine, policy = services().ledger, services().engine, services().policy

st.title("Request detail")
# Plain ids as options: with the state in the label, Chromium kept showing the state from before a run.
request_ids = [r.request_id for r in reversed(ledger.requests())]  # newest first
if not request_ids:
    st.info("No requests filed yet." + (" File one on the New request page." if user.can("file_request") else ""))
    st.stop()
if st.session_state.get("request_id") not in request_ids:
    st.session_state.pop("request_id", None)  # a request of another workspace, or none yet: the newest opens
request_id = st.selectbox("Request", request_ids, key="request_id")
record = engine.require(request_id)
summary = request_summary(ledger, policy, request_id)

state, received, deadline, left = st.columns(4)
state.metric("State", summary["state"])
received.metric("Received", summary["received_at"][:10])
deadline.metric("GDPR deadline", summary["deadline"])
standing = policy.deadlines.status(record, today())
if record.state not in ANSWERED_STATES:  # a failed request's deadline still runs: it awaits a retry
    left.metric("Days left", standing.days_left)
    if standing.days_left < 0:
        st.error(f"This request is {-standing.days_left} day(s) past its deadline.")
st.caption(f"Scope — {summary['scope']}")
if record.extensions:
    st.caption("Deadline extended: "
               + "; ".join(f"+{x['months']} month(s) — {x['reason']}" for x in record.extensions))
if record.state == "rejected":
    st.warning(f"rejected: {record.require_payload('rejected')['reason']}")
if summary["failure"] is not None:
    st.warning(f"failed: {summary['failure']['reason']} — {summary['failure']['what_to_do']}"
               + (", or press Retry below" if user.can("run_request") else "; an officer can retry it"))
if summary["note"] and record.state != "failed":
    st.caption(f"Retried — {summary['note']}")

# -- the plan: recorded once planned, else what the ledger says a run would hit now --------------------------
planned = record.payload("planned")
plans = planned["deployments"] if planned else None
if plans is None and record.state not in FINAL_STATES:
    if all(ledger.store.subject_by_ref(ref) is not None for ref in record.subject_refs):
        plans = [plan.model_dump(mode="json") for plan in engine.preview_request(record)]
if plans is not None:
    st.subheader("Plan (recorded)" if planned else "Plan preview (from the ledger, nothing run yet)")
    st.dataframe(plan_rows(plans), hide_index=True, key="plan")
    for plan in plans:
        with st.expander(f"{plan['deployment_id']}: parts hit ({plan['method']})"):
            for part, rows in plan_parts(plan).items():
                st.caption(part)
                st.dataframe(rows, hide_index=True)

# -- running: the button only queues (a worker runs it: nothing depends on this tab staying open); officers only --
@st.fragment(run_every=2.0)
def follow_run(request_id: str, shown_state: str) -> None:
    """The queued request's progress, read from the ledger every 2 s (any session, after any reload)."""
    current = ledger.request(request_id)
    queued = last_queued(current)
    steps = [e for e in current.history if queued is not None and e.seq > queued.seq and e.kind != "request.queued"]
    st.info(f"Queued by {queued.actor} at {queued.ts[:19].replace('T', ' ')} UTC; a worker runs it"
            + (": " + " → ".join(e.kind.removeprefix("request.") for e in steps) if steps else " (waiting for one)"))
    if current.state == "data_erased" and engine.defer_verification:
        st.caption("Erased; the policy defers verification to the next audit, which certifies it.")
    if current.state != shown_state:
        st.rerun(scope="app")  # a new step: redraw the page (plan, report, certificate) from it


if record.state not in FINAL_STATES:
    if is_queued(record):
        follow_run(request_id, record.state)
    elif user.can("run_request"):
        if st.button("Run erasure", key="run", type="primary"):
            with reported_errors():
                require(page_user(), "run_request")
                queue_request(services(), request_id, user.name)
                st.rerun()  # redraw the page: it now follows the run
    else:
        st.info(f"An {user.role} cannot run requests; an officer runs this one.")

# -- a retry of a failed request (officers): recorded with the user as actor; the run button then resumes it -----
if record.state == "failed" and user.can("run_request"):
    st.caption(f"A retry resumes from {resume_point(record)}: nothing recorded is redone, the deadline stays.")
    if st.button("Retry", key="retry", type="primary"):
        with reported_errors():
            require(page_user(), "run_request")
            engine.retry(request_id, actor=user.name)
            st.rerun()

# -- a deadline extension (GDPR Art. 12(3)), for the roles the policy names; the engine enforces its limits ------
room = policy.deadlines.max_extension_months - record.extension_months
if record.state not in ANSWERED_STATES and room > 0 and user.role in policy.approvers.extend_deadline:
    with st.expander("Extend the deadline"), st.form("extend"):
        months = st.number_input("Months", min_value=1, max_value=room, value=1, key="extend_months")
        reason = st.text_input("Reason (told to the data subject)", key="extend_reason")
        if st.form_submit_button("Extend deadline"):
            with reported_errors():
                engine.extend(request_id, int(months), reason, actor=user.name, role=user.role)
                st.rerun()

# -- the report and its plots -------------------------------------------------------------------------------
report = verified_report(ledger, record)
if report is not None:
    st.subheader(f"Verification report {report.report_id} ({'passed' if report.passed else 'failed'})")
    st.dataframe(check_rows(report), hide_index=True, key="checks")
    if report.figures is not None:
        st.plotly_chart(metrics_figure(report.metrics), key="chart_metrics")
        st.plotly_chart(rbo_figure(report), key="chart_rbo")
        st.plotly_chart(mia_figure(report), key="chart_mia")
        st.plotly_chart(latent_figure(report.metrics), key="chart_latent")

# -- the certificate ------------------------------------------------------------------------------------------
files = certificate_files(ledger, record)
if files and user.can("download"):
    st.subheader("Certificate")
    st.caption("Anyone checks it offline with the workspace's public key: "
               f"`lethe certificate verify {files['json'].name} --public-key signing.pub`")
    for column, (kind, label, mime) in zip(
        st.columns(2), [("pdf", "Certificate (PDF)", "application/pdf"),
                        ("json", "Certificate (signed JSON)", "application/json")]
    ):
        column.download_button(
            label, files[kind].read_bytes(), file_name=files[kind].name, mime=mime, key=f"download_{kind}",
            on_click=record_action, args=(user, "download", "console.certificate_downloaded",
                                          {"request_id": request_id, "format": kind, "file": files[kind].name}),
        )

st.subheader("History")
st.dataframe(history_rows(summary), hide_index=True, key="history")
