"""Request: one request at its own address (``/request?id=req-…``, which survives a reload and a sign-in).

From top to bottom: where it stands against its deadline; its workflow (assignee, identity verification, the
second approval the policy may want, refusing or closing it with a reason); the plan (from the ledger, before
running) and Run, which only queues it for a worker (the page follows the run from the ledger); a retry of a
failed request; a deadline extension; the verification report with its plots, its inconclusive checks said as
such, and the statistical follow-up of a certificate issued on the lineage proof; the certificate; the letters to
the data subject; and the timeline in words, the raw events one click away. Every action re-checks the signed-in
user's role and is a ledger event with them as the actor.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui._access import load_users, require
from ui._figures import latent_figure, metrics_figure, mia_figure, rbo_figure
from ui._queries import request_summary
from ui._session import page_user, record_action, reported_errors, services
from ui._tables import (
    PLAN_HELP,
    certificate_files,
    check_rows,
    issued_certificate,
    plan_parts,
    plan_rows,
    today,
    verified_report,
)
from ui._timeline import timeline_rows
from ui.letters import LETTER_TITLES, available_letters, issue_letter, issued_letters
from ui.worker import is_queued, last_queued, queue_request
from unlearn.lifecycle import awaiting_window, resume_point
from unlearn.requests import ANSWERED_STATES, FINAL_STATES
from unlearn.workflow import CLOSABLE_STATES, approve, assign, close, record_identity, workflow_status
from verify import load_report

user = page_user()
ledger, engine, policy = services().ledger, services().engine, services().policy

records = {r.request_id: r for r in reversed(ledger.requests())}  # newest first
wanted = st.query_params.get("id")
if wanted not in records:
    st.title("Request")
    if not records:
        st.info("No requests filed yet." + (" File one on the New request page." if user.can("file_request") else ""))
        st.stop()
    if wanted:
        st.warning(f"There is no request {wanted!r} in this workspace.")
    choice = st.selectbox("Open a request", list(records), index=None, key="open_request",
                          placeholder="choose a request (newest first), or use the Requests page",
                          format_func=lambda rid: f"{rid} · {records[rid].state} · received "
                                                  f"{records[rid].received_at[:10]}")
    if choice:
        st.query_params["id"] = choice
        st.rerun()
    st.stop()

request_id = wanted
record = engine.require(request_id)
summary = request_summary(ledger, policy, request_id)
status = workflow_status(record, policy)
officer = user.can("file_request")

st.title(f"Request {request_id}")
state_column, received, deadline, left = st.columns(4)
state_column.metric("State", summary["state"])
received.metric("Received", summary["received_at"][:10])
deadline.metric("GDPR deadline", summary["deadline"])
standing = policy.deadlines.status(record, today())
if record.state not in ANSWERED_STATES:  # a failed request's deadline still runs: it awaits a retry
    left.metric("Days left", standing.days_left)
    if standing.days_left < 0:
        st.error(f"This request is {-standing.days_left} day(s) past its deadline.")
st.caption(f"Scope — {summary['scope']} · subject pseudonym `{', '.join(record.subject_refs)}` · filed by "
           f"{status.filed_by}" + (f" ({status.intake})" if status.intake else ""))
if record.extensions:
    st.caption("Deadline extended: "
               + "; ".join(f"+{x['months']} month(s) — {x['reason']}" for x in record.extensions))
if record.state == "rejected":
    rejected_event = next(e for e in reversed(record.history) if e.kind == "request.rejected")
    st.warning(f"{rejected_event.payload.get('outcome', 'rejected').capitalize()} by {rejected_event.actor} on "
               f"{rejected_event.ts[:10]}: {rejected_event.payload['reason']}")
for duplicate in status.duplicates:
    st.warning(f"Duplicate flagged: {duplicate.actor} filed this subject again on {duplicate.ts[:10]}"
               f"{' (' + duplicate.payload['intake'] + ')' if duplicate.payload.get('intake') else ''}; it was "
               "recorded here instead of opening a second request.")
if summary["failure"] is not None:
    st.warning(f"failed: {summary['failure']['reason']} — {summary['failure']['what_to_do']}"
               + (", or press Retry below" if user.can("run_request") else "; an officer can retry it"))
if summary["note"] and record.state != "failed":
    st.caption(f"Retried — {summary['note']}")

# -- workflow: assignee, identity verification, second approval, refuse / close -----------------------------------
st.subheader("Workflow")
with st.container(border=True):
    owner, identity, approval = st.columns(3)
    owner.markdown("**Assignee**  \n" + (f"{status.assignee.payload['assignee']} (since {status.assignee.ts[:10]})"
                                         if status.assignee else "nobody yet"))
    if status.identity:
        identity.markdown(f"**Identity verified** :material/check_circle:  \n{status.identity.payload['method']} — by "
                          f"{status.identity.actor}, {status.identity.ts[:16].replace('T', ' ')} UTC")
    else:
        identity.markdown("**Identity verification**  \n" + (":material/pending: required before it can run" if status.identity_required
                                                             else "not required for this intake by the policy"))
    if status.approval_roles:
        approval.markdown("**Second approval**  \n" + (":material/check_circle: approved by " + ", ".join(f"{a.actor} ({a.payload['role']})"
                                                                          for a in status.approvals)
                                                        if status.approvals else
                                                        f":material/pending: needed from an "
                                                        f"{' or '.join(status.approval_roles)} "
                                                        "other than who filed it or verified the identity"))
    else:
        approval.markdown("**Second approval**  \nnot required by the policy")

    open_for_workflow = record.state not in FINAL_STATES or record.state == "failed"
    if officer and open_for_workflow:
        officers = sorted(name for name, u in load_users(ledger.workspace.root).items() if u.role == "officer")
        with st.expander("Assign"), st.form("assign"):
            current = status.assignee.payload["assignee"] if status.assignee else None
            assignee = st.selectbox("Officer responsible", officers, key="assignee",
                                    index=officers.index(current) if current in officers else
                                    (officers.index(user.name) if user.name in officers else 0))
            if st.form_submit_button("Assign"):
                with reported_errors():
                    require(page_user(), "file_request")
                    assign(ledger, policy, request_id, assignee, actor=user.name)
                    st.rerun()
    if officer and status.identity is None and record.state == "received":
        with st.expander("Identity verification", expanded=status.identity_required), st.form("identity"):
            st.caption("Record how you verified that the request comes from the data subject. Lethe keeps the "
                       "method and your name only: never upload or copy an identity document here.")
            method = st.selectbox("Method", policy.workflow.identity_methods, key="identity_method")
            note = st.text_input("Note (optional: what was checked, not the document's content)", key="identity_note",
                                 max_chars=500)
            if st.form_submit_button("Record identity verification"):
                with reported_errors():
                    require(page_user(), "file_request")
                    record_identity(ledger, policy, request_id, method, actor=user.name, note=note)
                    st.rerun()
    can_approve = (status.approval_roles and user.role in policy.approvers.run_request and record.state == "received"
                   and status.identity is not None and user.name not in (status.filed_by, status.identity.actor)
                   and all(a.actor != user.name for a in status.approvals))
    if can_approve and st.button("Approve running this request", key="approve", icon=":material/how_to_reg:"):
        with reported_errors():
            approve(ledger, policy, request_id, actor=page_user().name, role=page_user().role)
            st.rerun()
    if officer and record.state in CLOSABLE_STATES and not is_queued(record):
        with st.expander("Refuse or close"), st.form("close"):
            outcome = st.radio("Outcome", ["refused", "closed"], horizontal=True, key="close_outcome",
                               format_func={"refused": "Refuse (the subject gets a refusal letter with the reason and "
                                                       "their right to complain)",
                                            "closed": "Close without an answer of its own (a duplicate, withdrawn)"}
                               .__getitem__)
            reason = st.text_area("Reason (told to the subject when refused)", key="close_reason")
            if st.form_submit_button("Refuse or close the request"):
                with reported_errors():
                    require(page_user(), "file_request")
                    close(ledger, policy, request_id, outcome, reason, actor=user.name)
                    st.rerun()

# -- the plan: recorded once planned, else what the ledger says a run would hit now --------------------------
planned = record.payload("planned")
plans = planned["deployments"] if planned else None
if plans is None and record.state not in FINAL_STATES:
    if all(ledger.store.subject_by_ref(ref) is not None for ref in record.subject_refs):
        plans = [plan.model_dump(mode="json") for plan in engine.preview_request(record)]
if plans is not None:
    st.subheader("Plan (recorded)" if planned else "Plan preview (from the ledger, nothing run yet)")
    st.dataframe(plan_rows(plans), hide_index=True, key="plan",
                 column_config={name: st.column_config.Column(help=text) for name, text in PLAN_HELP.items()})
    st.caption("Training interactions are the subject's rows models learned from; the certificate counts them as "
               "'training' and adds the held-out test rows no model trained on. Hover a column name for what it "
               "counts.")
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
    if awaiting_window(record):
        st.info(f"Erased; no check could decide on this request alone (every one inconclusive). It waits for the "
                f"audit due by {record.require_payload('awaiting_window')['audit_due']}, whose window verifies its "
                "subjects together; there is nothing to run until then.")
    elif is_queued(record):
        follow_run(request_id, record.state)
    elif user.can("run_request"):
        blockers = status.blockers if record.state == "received" else []
        if blockers:
            st.warning("Before it can run: " + "; ".join(b.split(" (console:")[0] for b in blockers) + ".")
        if st.button("Run erasure", key="run", type="primary", disabled=bool(blockers)):
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
VERDICT_COLOURS = {"PASS": "#d1e7dd", "FAIL": "#f8d7da", "INCONCLUSIVE": "#e2e3e5"}
READING = {
    "chart_metrics": "Each group is one measure, each bar one model. The unlearned model (red) should sit with the "
                     "reference retrained without the data (green), not with the original (blue).",
    "chart_rbo": "How much each user's recommendations agree with the reference's (1 = the same list). Forgetting "
                 "users: the unlearned model should agree with the reference as much as an honest retrain does.",
    "chart_mia": "Each curve is an attacker trying to tell erased interactions from unseen ones; the dotted diagonal "
                 "is guessing. The unlearned model's curve should be near it, like the reference's.",
    "chart_latent": "Distances between each model's embeddings and the reference's after aligning them; the "
                    "unlearned model should be about as far as an honest retrain (Retrain*).",
}


def report_has_controls(report) -> bool:  # noqa: ANN001 - a VerificationReport
    return any(check.controls is not None for check in report.checks)


def show_report(report, key: str) -> None:  # noqa: ANN001 - a VerificationReport
    """A signed report's checks (verdicts with their controls) and plots, each with how to read it."""
    inconclusive = [c.name for c in report.checks if c.verdict == "inconclusive"]
    rows = pd.DataFrame(check_rows(report))
    details = rows.pop("detail")
    if not report_has_controls(report):
        rows = rows.drop(columns=[c for c in rows.columns if "control" in c])
    st.dataframe(rows.style.apply(lambda row: [f"background-color: {VERDICT_COLOURS.get(row['verdict'], '')}"
                                               if column == "verdict" else "" for column in row.index], axis=1),
                 hide_index=True, key=f"checks_{key}",
                 column_config={"value": st.column_config.NumberColumn(format="%.4f")})
    with st.expander("What each check measured"):
        for name, detail in zip(rows["check"], details):
            st.markdown(f"**{name}** — {detail}")
    if inconclusive:
        st.caption(f"Inconclusive ({', '.join(inconclusive)}): the controls did not separate or the sample was too "
                   "small, so the check could not have failed — it counts neither for nor against, never as a pass.")
    if report.figures is not None:
        for chart, figure in (("chart_metrics", metrics_figure(report.metrics)), ("chart_rbo", rbo_figure(report)),
                              ("chart_mia", mia_figure(report)), ("chart_latent", latent_figure(report.metrics))):
            st.plotly_chart(figure, key=f"{chart}_{key}")
            st.caption(READING[chart])


report = verified_report(ledger, record)
follow_up = record.payload("statistically_verified")
if report is not None:
    verdict = "passed" if report.passed else "failed"
    st.subheader(f"Verification report {report.report_id} ({verdict}; signature verified)")
    if report.basis == "lineage":
        certificate = issued_certificate(ledger, record)
        due = (f" due by {certificate.statistics_due.day} {certificate.statistics_due:%B %Y}"
               if certificate and certificate.statistics_due else "")
        if follow_up is None:
            st.info(f"Certified on the lineage proof; the statistical checks are{due or ' due'} at the next audit, "
                    "which signs them as a second report (shown here when it has run).")
        else:
            (st.success if follow_up["passed"] else st.error)(
                f"Certified on the lineage proof; the statistical follow-up{due and ' (' + due.strip() + ')'} "
                + ("passed" if follow_up["passed"] else "FAILED: " + ", ".join(follow_up.get("failed_checks") or []))
                + f" — report {follow_up['report_id']}, below.")
    show_report(report, "first")
    if follow_up is not None:
        second = load_report(ledger.workspace.root / follow_up["report_path"], ledger.workspace.signer.public_key)
        st.subheader(f"Statistical follow-up {second.predicate.report_id} "
                     f"({'passed' if second.predicate.passed else 'FAILED'}; signature verified)")
        show_report(second.predicate, "follow_up")

# -- the certificate ------------------------------------------------------------------------------------------
files = certificate_files(ledger, record)
if files and user.can("download"):
    st.subheader("Certificate")
    st.caption("Anyone checks it offline with the workspace's public key (`python standalone.py CERT.json --vkey "
               "signing.vkey`), or here on the *Verify a certificate* page.")
    for column, (kind, label, mime) in zip(
        st.columns(2), [("pdf", "Certificate (PDF)", "application/pdf"),
                        ("json", "Certificate (signed JSON)", "application/json")]
    ):
        column.download_button(
            label, files[kind].read_bytes(), file_name=files[kind].name, mime=mime, key=f"download_{kind}",
            on_click=record_action, args=(user, "download", "console.certificate_downloaded",
                                          {"request_id": request_id, "format": kind, "file": files[kind].name}),
        )
    st.page_link("console_pages/verify_certificate.py", label="Verify a certificate in the console",
                 icon=":material/verified:")

# -- letters to the data subject: written here, downloaded, sent by the organisation (Lethe e-mails nothing) ------
st.subheader("Letters to the data subject")
letters = issued_letters(ledger, record)
if officer:
    kinds = available_letters(record)
    buttons = st.columns(len(kinds))
    for column, kind in zip(buttons, kinds):
        if column.button(f"Write: {LETTER_TITLES[kind]}", key=f"letter_{kind}", icon=":material/mail:"):
            with reported_errors():
                require(page_user(), "file_request")
                issue_letter(ledger, policy, engine.require(request_id), kind, actor=user.name)
                st.rerun()
    st.caption("Letters use the organisation's name, DPO contact, logo and templates (Organisation page). Lethe sends "
               "nothing: download the PDF and send it through your usual channel.")
if letters and user.can("download"):
    for number, letter in enumerate(reversed(letters)):
        left_column, right_column = st.columns([3, 1])
        left_column.markdown(f"**{LETTER_TITLES[letter.kind]}** — written by {letter.actor}, "
                             f"{letter.ts[:16].replace('T', ' ')} UTC · `{letter.path.name}`")
        right_column.download_button("Download PDF", letter.path.read_bytes(), file_name=f"{request_id}-"
                                     f"{letter.path.name}", mime="application/pdf", key=f"download_letter_{number}",
                                     on_click=record_action, args=(user, "download", "console.letter_downloaded",
                                                                   {"request_id": request_id, "file": letter.path.name}))
elif not letters:
    st.caption("No letter written yet.")

st.subheader("Timeline")
with st.container(border=True, key="timeline"):
    for row in timeline_rows(record.history):
        after = f" (+{row['after']})" if row["after"] else ""
        st.markdown(f"`{row['time (UTC)']}`{after} — {row['what happened']}")
with st.expander("Raw events (as signed in the ledger)"):
    seq = st.selectbox("Event", [e.seq for e in record.history], key="raw_event",
                       format_func=lambda s: f"#{s} {next(e.kind for e in record.history if e.seq == s)}")
    event = next(e for e in record.history if e.seq == seq)
    st.json({"seq": event.seq, "ts": event.ts, "kind": event.kind, "actor": event.actor, "payload": event.payload,
             "prev_hash": event.prev_hash, "hash": event.hash})
