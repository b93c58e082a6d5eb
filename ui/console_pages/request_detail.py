"""Request detail: one request's history, what erasing will cost, the run itself, its report and certificate."""

from __future__ import annotations

import streamlit as st

from ui._reports import request_summary
from ui._views import (
    StreamlitProgress,
    certificate_files,
    check_rows,
    history_rows,
    latent_figure,
    metrics_figure,
    mia_figure,
    plan_rows,
    rbo_figure,
    reported_errors,
    services,
    verified_report,
)
from unlearn.requests import FINAL_STATES

ledger, engine = services().ledger, services().engine

st.title("Request detail")
states = {r.request_id: r.state for r in reversed(ledger.requests())}  # newest first
if not states:
    st.info("No requests filed yet; file one on the Requests page.")
    st.stop()
request_id = st.selectbox("Request", list(states), format_func=lambda rid: f"{rid} ({states[rid]})", key="request_id")
record = engine.require(request_id)
summary = request_summary(ledger, services().policy, request_id)

state, received, deadline = st.columns(3)
state.metric("State", summary["state"])
received.metric("Received", summary["received_at"][:10])
deadline.metric("GDPR deadline", summary["deadline"])
if record.state in ("rejected", "failed"):
    st.warning(f"{record.state}: {record.history[-1].payload['reason']}")

st.subheader("History")
st.dataframe(history_rows(summary), hide_index=True)

if record.state not in FINAL_STATES:
    subject_ref = record.received["subject_ref"]
    if ledger.store.subject_by_ref(subject_ref) is not None:
        st.subheader("Plan preview")
        st.dataframe(plan_rows(engine.preview(subject_ref)), hide_index=True)
    if st.button("Run erasure", key="run", type="primary"):
        with reported_errors():
            engine.run(request_id, StreamlitProgress(), actor="console")
            st.rerun()  # redraw the page from the new state

report = verified_report(ledger, record)
if report is not None:
    st.subheader(f"Verification report {report.report_id} ({'passed' if report.passed else 'failed'})")
    st.dataframe(check_rows(report), hide_index=True)
    if report.figures is not None:
        st.plotly_chart(metrics_figure(report.metrics), key="chart_metrics")
        st.plotly_chart(rbo_figure(report), key="chart_rbo")
        st.plotly_chart(mia_figure(report), key="chart_mia")
        st.plotly_chart(latent_figure(report.metrics), key="chart_latent")

files = certificate_files(ledger, record)
if files:
    st.subheader("Certificate")
    pdf_column, json_column = st.columns(2)
    pdf_column.download_button("Certificate (PDF)", files["pdf"].read_bytes(), file_name=files["pdf"].name,
                               mime="application/pdf", key="download_pdf")
    json_column.download_button("Certificate (signed JSON)", files["json"].read_bytes(),
                                file_name=files["json"].name, mime="application/json", key="download_json")
