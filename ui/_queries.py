"""Read-only views the CLI and the console both show: evaluation, request lists, request histories."""

from __future__ import annotations

import json
from typing import Any

from ledger import Ledger, RequestError, RequestKind, RequestRecord
from policies import Policy
from unlearn.lifecycle import failure_note, resume_point, retry_note
from unlearn.requests import ANSWERED_STATES


SCOPE_LABELS: dict[RequestKind, str] = {
    RequestKind.SUBJECT: "whole subject", RequestKind.INTERACTIONS: "listed interactions",
    RequestKind.TIME_WINDOW: "time window", RequestKind.BATCH: "batch of subjects",
}


def request_row(record: RequestRecord, policy: Policy) -> dict[str, Any]:
    """A request as a row: id, state, scope, receipt, deadline (the policy's response period plus extensions),
    basis, whether it is still open for its deadline (a failed request is: it awaits a retry), and a note: why a
    failed request failed and what to do, or which attempt a retried one is."""
    return {
        "request_id": record.request_id,
        "state": record.state,
        "scope": SCOPE_LABELS[record.kind] + (f" ({len(record.subject_refs)})" if len(record.subject_refs) > 1 else ""),
        "received_at": record.received_at,
        "deadline": policy.deadlines.due_date(record).isoformat(),
        "basis": record.received["basis"],
        "open": record.state not in ANSWERED_STATES,
        "note": failure_note(record) or retry_note(record) or "",
    }


def request_rows(ledger: Ledger, policy: Policy) -> list[dict[str, Any]]:
    """One row per request (:func:`request_row`), in filing order."""
    return [request_row(r, policy) for r in ledger.requests()]


def event_facts(payload: dict[str, Any]) -> str:
    """A short, human line for an event payload (ids lists are counted, not printed)."""
    shown = {}
    for key, value in payload.items():
        if key == "request_id":
            continue
        if isinstance(value, list) and len(value) > 5:
            value = f"[{len(value)} items]"
        shown[key] = value
    text = json.dumps(shown, default=str)
    return text if len(text) < 240 else text[:237] + "..."


def scope_line(record: RequestRecord) -> str:
    """What a request covers, in words, from the ledger alone (no item is ever named)."""
    received, kind = record.received, record.kind
    if kind == RequestKind.BATCH:
        return f"batch: {len(record.subject_refs)} whole subjects"
    if kind == RequestKind.INTERACTIONS:
        return f"listed interactions: {len(received['interaction_ids'])} of the subject's interactions"
    if kind == RequestKind.TIME_WINDOW:
        window = received["window"]
        return (f"time window {window['start']} until {window['end']} (end excluded): "
                f"{len(received['interaction_ids'])} of the subject's interactions")
    return "whole subject: every interaction of theirs"


def request_summary(ledger: Ledger, policy: Policy, request_id: str) -> dict[str, Any]:
    """A request's state, deadline and full history (what `lethe request show` prints)."""
    record = ledger.request(request_id)
    if record is None:
        raise RequestError(f"unknown request id {request_id!r}")
    failure = None
    if record.state == "failed":
        failure = {"reason": record.require_payload("failed")["reason"],
                   "what_to_do": f"retry with `lethe request retry {request_id}` (resumes from "
                                 f"{resume_point(record)}; nothing recorded is redone, the deadline stays)"}
    return {
        "request_id": request_id,
        "state": record.state,
        "open": record.state not in ANSWERED_STATES,
        "scope": scope_line(record),
        "received_at": record.received_at,
        "deadline": policy.deadlines.due_date(record).isoformat(),
        "extensions": record.extensions,
        "failure": failure,
        "retries": record.retries,
        "note": failure_note(record) or retry_note(record) or "",
        "history": [
            {"seq": e.seq, "ts": e.ts, "state": e.kind.removeprefix("request."), "actor": e.actor,
             "facts": event_facts(e.payload), "payload": e.payload}
            for e in record.history
        ],
    }
