"""What the console pages show, shaped as rows and figures: plain functions over the ledger, no widgets.

Pages stay a list of calls; anything that shapes data for a widget lives here so it can be read and tested
without Streamlit running.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any


from ledger import Event, Ledger, RequestRecord, SignedCheckpoint
from policies import Policy
from ui._queries import request_row
from ui._timeline import sentence
from unlearn.methods import MethodSettings
from unlearn.requests import REQUEST_STATES
from unlearn.workflow import workflow_status
from verify import AuditReport, Certificate, VerificationReport, load_audit_report, load_report, verify_certificate_file
from verify import AUDIT_COMPLETED

LEDGER_VERIFIED = "console.ledger_verified"
"""The event a console integrity check leaves: who checked, when, and what they found."""


def today() -> date:
    """Today in UTC, the calendar requests are received and due in (pages call this; tests move it)."""
    return datetime.now(timezone.utc).date()


# -- requests -----------------------------------------------------------------------------------------
def open_request_rows(ledger: Ledger, policy: Policy, today: date) -> list[dict[str, Any]]:
    """Requests not yet answered (certified or rejected; a failed one is open: it awaits a retry), most urgent
    first, with the days left to the deadline (negative: late by that many days), its status
    (:meth:`policies.Deadlines.status`: late / nearly late / on time, as the audit judges it) and the request's note
    (a failed one's reason and the retry command)."""
    rows = []
    for record in ledger.requests():
        row = request_row(record, policy)
        if not row.pop("open"):
            continue
        standing = policy.deadlines.status(record, today)
        rows.append({**row, "days left": standing.days_left, "status": standing.state.value})
    return sorted(rows, key=lambda r: r["days left"])


DEADLINE_FILTERS = ("any", "late", "due within 7 days", "on time")


def queue_rows(ledger: Ledger, policy: Policy, today: date) -> list[dict[str, Any]]:
    """Every request (the register), with its workflow and its standing against the deadline: one row each, the
    columns the queue filters and sorts on and the CSV export carries (no subject id: the pseudonym only)."""
    rows = []
    for record in ledger.requests():
        row = request_row(record, policy)
        status = workflow_status(record, policy)
        standing = policy.deadlines.status(record, today)
        rejected = record.payload("rejected") or {}
        certified = record.payload("certified") or {}
        rows.append({
            "request": record.request_id,
            "state": record.state,
            "kind": record.kind.value,
            "scope": row["scope"],
            "subject pseudonym": ", ".join(r[:12] for r in record.subject_refs),
            "received": record.received_at[:10],
            "deadline": row["deadline"],
            "days left": standing.days_left if row["open"] else None,
            "deadline status": standing.state.value if row["open"] else "answered",
            "assignee": status.assignee.payload["assignee"] if status.assignee else "",
            "identity verified": (f"{status.identity.payload['method']} ({status.identity.actor})"
                                  if status.identity else ("required" if status.identity_required else "not required")),
            "approved by": ", ".join(a.actor for a in status.approvals),
            "intake": status.intake or "",
            "filed by": status.filed_by,
            "duplicates flagged": len(status.duplicates),
            "outcome": (rejected.get("reason", "") if record.state == "rejected"
                        else certified.get("certificate_id", "") if record.state == "certified" else row["note"]),
            "open": row["open"],
            "subject_refs": record.subject_refs,
        })
    return rows


def filter_queue(rows: list[dict[str, Any]], states: list[str], kinds: list[str], deadline: str, subject: str,
                 assignee: str) -> list[dict[str, Any]]:
    """The queue rows that match every filter given (an empty list or "any" matches everything)."""
    subject = subject.strip().lower()

    def matches(row: dict[str, Any]) -> bool:
        if states and row["state"] not in states or kinds and row["kind"] not in kinds:
            return False
        if deadline == "late" and row["deadline status"] != "late":
            return False
        if deadline == "due within 7 days" and not (row["days left"] is not None and 0 <= row["days left"] <= 7):
            return False
        if deadline == "on time" and row["deadline status"] != "on time":
            return False
        if subject and not any(ref.startswith(subject) for ref in row["subject_refs"]):
            return False
        if assignee == "unassigned":
            return not row["assignee"]
        return assignee in ("", "anyone") or row["assignee"] == assignee

    return [row for row in rows if matches(row)]


def register_csv(rows: list[dict[str, Any]]) -> bytes:
    """The register as CSV (Art. 30 records, Art. 33 questions): every column but the internal ones, full
    pseudonyms."""
    import csv
    import io

    out = io.StringIO()
    columns = [c for c in rows[0] if c not in ("open", "subject_refs")] if rows else ["request"]
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "subject pseudonym": " ".join(row["subject_refs"])})
    return out.getvalue().encode("utf-8")


def state_counts(ledger: Ledger) -> dict[str, int]:
    """How many requests are in each state, in lifecycle order (states a newer engine adds come last)."""
    counts = Counter(r.state for r in ledger.requests())
    order = [s for s in REQUEST_STATES if s in counts] + sorted(set(counts) - set(REQUEST_STATES))
    return {state: counts[state] for state in order}


# -- plans --------------------------------------------------------------------------------------------
def _cell(value: Any) -> Any:
    """A table cell: lists are counted (ids are many and opaque), mappings shown as ``key=value`` pairs."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return value


PLAN_HELP = {
    "deployment": "the trained model (a set of shard checkpoints) the plan acts on",
    "method": "how it forgets: exact methods retrain the parts that saw the data; approximate ones adjust weights",
    "shards hit": "parts of the model that trained on the subject's rows and are retrained; index = which part",
    "training interactions hit": "the subject's rows in the training split, which models learned from; the "
                                 "certificate counts these as 'training' and adds the held-out test rows no model "
                                 "trained on",
    "training set": "all training rows of the deployment",
    "estimated cost": "the retraining work as a share of retraining the whole model",
    "other methods that could forget it": "methods registered for this deployment's model besides its own",
}


def plan_rows(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per deployment plan, each number named for what it counts (see :data:`PLAN_HELP`)."""
    rows = []
    for plan in plans:
        parts = plan.get("shards") or plan.get("groups") or []
        indices = [str(p.get("shard", p.get("group"))) for p in parts if isinstance(p, dict)]
        rows.append({
            "deployment": plan["deployment_id"],
            "method": f"{plan['method']} ({'exact' if plan.get('exact') else 'approximate'})",
            "shards hit": f"{len(indices)} (index {', '.join(indices)})" if indices else "0",
            "training interactions hit": plan.get("interactions_hit"),
            "training set": plan.get("training_interactions"),
            "estimated cost": f"{plan.get('estimated_cost_fraction', 0):.1%} of a full retrain",
            "other methods that could forget it": ", ".join(plan.get("applicable_methods") or []) or "none",
        })
    return rows


def plan_parts(plan: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each list of records in a plan (``shards``, a method's ``groups``...) as a table, one row per part hit."""
    return {
        key: [{k.replace("_", " "): _cell(v) for k, v in part.items()} for part in value]
        for key, value in plan.items()
        if isinstance(value, list) and value and all(isinstance(part, dict) for part in value)
    }


# -- reports and certificates ---------------------------------------------------------------------------
def verified_report(ledger: Ledger, record: RequestRecord) -> VerificationReport | None:
    """The request's verification report, only if its signature verifies with the workspace key."""
    verified = record.payload("verified")
    if verified is None:
        return None
    workspace = ledger.workspace
    return load_report(workspace.root / verified["report_path"], workspace.signer.public_key).predicate


VERDICT_LABELS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
ROLE_LABELS = {"proof": "proof from the ledger", "forgetting": "model forgot the data",
               "collateral": "no harm to other users"}


def _control(control: Any) -> str:
    value = "not measured" if control.value is None else f"{control.value:.3f}"
    return f"{control.model} {value} ({'meets' if control.passed else 'misses'} it)"


def check_rows(report: VerificationReport) -> list[dict[str, Any]]:
    """Each check with what it shows, its verdict (inconclusive said as such) and its controls: the model that must
    fail it and the one that must pass it, which is what makes a pass mean something."""
    return [
        {
            "check": check.name,
            "shows": ROLE_LABELS.get(check.role or "", ""),
            "verdict": VERDICT_LABELS[check.verdict],
            "value": "" if check.value is None else f"{check.value:.4f}",  # the lineage proof has no number
            "threshold": "" if check.threshold is None else f"{check.comparison} {check.threshold:.4f}",
            "must fail it (negative control)": _control(check.controls.negative) if check.controls else "",
            "must pass it (positive control)": _control(check.controls.positive) if check.controls else "",
            "detail": check.detail,
        }
        for check in report.checks
    ]


def certificate_files(ledger: Ledger, record: RequestRecord) -> dict[str, Path]:
    """``{"pdf": path, "json": path}`` of a certified request's certificate; empty otherwise."""
    certified = record.payload("certified")
    if certified is None:
        return {}
    root = ledger.workspace.root
    return {"pdf": root / certified["pdf_path"], "json": root / certified["json_path"]}


def issued_certificate(ledger: Ledger, record: RequestRecord) -> Certificate | None:
    """A certified request's certificate, only if it verifies with the workspace key (signature and ledger proof)."""
    files = certificate_files(ledger, record)
    if not files:
        return None
    return verify_certificate_file(files["json"], ledger.workspace.signer.public_key)


# -- models and lineage ---------------------------------------------------------------------------------
def deployment_rows(ledger: Ledger) -> list[dict[str, Any]]:
    rows = []
    for d in ledger.deployments():
        settings = MethodSettings(**d.settings)
        rows.append({
            "deployment": d.deployment_id,
            "method": d.method,
            "base model": settings.base_model,
            "exact": d.exact,
            "shards": settings.shards,
            "serving": d.serving,
            "shard sizes": ", ".join(str(n) for n in d.shard_sizes),
        })
    return rows


def checkpoint_rows(ledger: Ledger, deployment_id: str) -> list[dict[str, Any]]:
    """The checkpoint serving each shard now, with its parent: the lineage after every erasure so far."""
    return [
        {
            "shard": shard,
            "checkpoint": c.checkpoint_id,
            "parent": c.parent,
            "artifact sha256": c.artifact_sha256,
            "interactions": c.n_interactions,
            "train seconds": c.train_seconds,
        }
        for shard, c in sorted(ledger.live_checkpoints(deployment_id).items())
    ]


def parent_chain_rows(ledger: Ledger, checkpoint_id: str) -> list[dict[str, Any]]:
    """A checkpoint and its ancestors, newest first: which erasures each generation already excludes."""
    return [
        {
            "checkpoint": c.checkpoint_id,
            "parent": c.parent or "-",
            "interactions": c.n_interactions,
            "training-set digest": c.training_set_digest,
            "excludes requests": ", ".join(c.excludes_requests) or "-",
        }
        for c in ledger.checkpoint_lineage(checkpoint_id)
    ]


# -- audits ---------------------------------------------------------------------------------------------
def next_audit_runs(cron: str, now: datetime, n: int = 3) -> list[str]:
    """The next ``n`` times the policy's cron fires (UTC), as ``lethe audit schedule`` would run the audit."""
    from ui._scheduler import audit_trigger  # APScheduler, only where the schedule is shown

    trigger, runs, previous = audit_trigger(cron), [], None
    for _ in range(n):
        previous = trigger.get_next_fire_time(previous, previous or now)
        if previous is None:
            break
        runs.append(previous.strftime("%Y-%m-%d %H:%M UTC"))
    return runs


def audit_events(ledger: Ledger) -> list[Event]:
    """Every completed audit, newest first."""
    return list(reversed(ledger.log.events([AUDIT_COMPLETED])))


def audit_rows(events: list[Event]) -> list[dict[str, Any]]:
    return [
        {
            "audit": e.payload["audit_id"],
            "time": e.ts[:19],
            "actor": e.actor,
            "verdict": "PASS" if e.payload["passed"] else "FAIL",
            "failed checks": ", ".join(e.payload["failed_checks"]),
            "erasures in window": e.payload["requests"],
            "reference retrains": e.payload["references_trained"],
        }
        for e in events
    ]


def verified_audit(ledger: Ledger, event: Event) -> tuple[AuditReport, Path]:
    """An audit's signed report and its file, only if the signature verifies with the workspace key."""
    path = ledger.workspace.root / event.payload["report_path"]
    return load_audit_report(path, ledger.workspace.signer.public_key).predicate, path


def audit_check_rows(report: AuditReport) -> list[dict[str, Any]]:
    return [
        {"check": c.name, "verdict": "PASS" if c.passed else "FAIL", "detail": c.detail,
         "findings": "; ".join(c.findings)}
        for c in report.checks
    ]


# -- ledger ---------------------------------------------------------------------------------------------
def latest_event_rows(ledger: Ledger, n: int = 50) -> list[dict[str, Any]]:
    """The newest ``n`` events, newest first."""
    return [
        {"seq": e.seq, "time (UTC)": e.ts[:19].replace("T", " "), "kind": e.kind, "what happened": sentence(e)}
        for e in ledger.recent_events(n)
    ]


def latest_integrity_check(ledger: Ledger) -> Event | None:
    """The last integrity check someone ran from the console (its payload says what it found)."""
    events = ledger.log.events([LEDGER_VERIFIED])
    return events[-1] if events else None


def signed_checkpoint_rows(ledger: Ledger) -> list[dict[str, Any]]:
    """Every signed tree head, newest first: the notes an auditor keeps to check the log only grows."""
    heads = [SignedCheckpoint.from_note(note, "a stored checkpoint") for note in ledger.log.tree_heads()]
    return [
        {"tree size": h.tree_size, "signed at": h.timestamp, "root": base64.b64encode(h.root).decode(),
         "key": h.keyid[:16], "note": h.to_note()}
        for h in reversed(heads)
    ]


def subject_view(ledger: Ledger, subject: str) -> dict[str, Any]:
    """What the console may show of a subject: placements only while their data is in the store; after
    erasure only the requests that touched them (the ledger keeps opaque ids, never the data)."""
    lineage = ledger.subject_lineage(subject)
    present = lineage["data_in_store"]
    return {
        "subject_ref": lineage["subject_ref"],
        "data_in_store": present,
        "interactions": len(lineage["interaction_ids"]) if present else None,
        "placements": _placement_rows(lineage["placements"]) if present else [],
        "requests": lineage["requests"],
    }


def _placement_rows(placements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per deployment and shard: how many of the subject's interactions it holds and still trains on."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in placements:
        groups.setdefault((row["deployment_id"], row["shard"], row["checkpoint"], row["serving"]), []).append(row)
    return [
        {"deployment": d, "shard": s, "live checkpoint": c or "-", "serving": serving, "interactions": len(rows),
         "still trained on": sum(r["in_training_set"] for r in rows)}
        for (d, s, c, serving), rows in groups.items()
    ]
