"""A request's lifecycle read from its events: where a retry resumes, and the one-line notes people see.

Kept apart from the engine (which imports the methods, hence torch) so that listings, audits and the CLI read a
request's state without loading any model; and which deployments a request answers for.
"""

from __future__ import annotations

from ledger import (
    REQUEST_AWAITING_WINDOW,
    REQUEST_RETRIED,
    REQUEST_STATISTICALLY_VERIFIED,
    DeploymentRecord,
    Event,
    Ledger,
    LedgerIntegrityError,
    RequestRecord,
)
from unlearn.requests import FINAL_STATES, REQUEST_STATES


def latest_event(record: RequestRecord, kind: str) -> Event:
    return next(e for e in reversed(record.history) if e.kind == kind)


def resume_point(record: RequestRecord) -> str:
    """The state a retry of a failed request resumes from: the last lifecycle step that completed before its latest
    failure. A verification that did not pass is not a completed step, so a failure at verification resumes from
    ``data_erased`` (verification only); after an earlier retry, the state that retry resumed from."""
    steps = [e for e in record.history
             if e.kind == REQUEST_RETRIED or e.kind.removeprefix("request.") in REQUEST_STATES]
    failures = [i for i, e in enumerate(steps) if e.kind == "request.failed"]
    before = steps[:failures[-1]] if failures else []
    while before and before[-1].kind == "request.verified" and not before[-1].payload.get("passed"):
        before.pop()
    if not before or before[-1].kind in ("request.failed", "request.rejected"):
        raise LedgerIntegrityError(f"request {record.request_id}: no completed step before its failure to resume from")
    last = before[-1]
    return str(last.payload["resumes_from"]) if last.kind == REQUEST_RETRIED else last.kind.removeprefix("request.")


def awaiting_window(record: RequestRecord) -> bool:
    """Whether the request waits at ``data_erased`` for the audit window because its last verification was all
    inconclusive (``request.awaiting_window`` is its latest verification step: a retry since then runs again)."""
    if record.state != "data_erased":
        return False
    steps = (REQUEST_AWAITING_WINDOW, REQUEST_RETRIED, "request.verified", "request.failed")
    latest = next((e for e in reversed(record.history) if e.kind in steps), None)
    return latest is not None and latest.kind == REQUEST_AWAITING_WINDOW


def certified_on_lineage(record: RequestRecord) -> bool:
    """Whether the request's certificate rests on the lineage proof alone (policy ``certify_exact_on: lineage``)."""
    verified = record.payload("verified")
    return record.state == "certified" and verified is not None and verified.get("basis") == "lineage"


def statistics_pending(record: RequestRecord) -> bool:
    """Whether a certificate issued on the lineage proof still awaits its statistical follow-up (none recorded, or
    the last one did not pass): the audit runs it, and until it passes the request keeps its escrowed pairs and the
    checkpoints it replaced."""
    if not certified_on_lineage(record):
        return False
    follow_up = record.payload(REQUEST_STATISTICALLY_VERIFIED.removeprefix("request."))
    return follow_up is None or not follow_up["passed"]


def failure_note(record: RequestRecord) -> str | None:
    """Why a failed request failed and what to do, in one line (what audits, the dashboard and listings show);
    ``None`` for a request in any other state."""
    if record.state != "failed":
        return None
    reason = record.require_payload("failed")["reason"]
    return f"failed: {reason} — retry with `lethe request retry {record.request_id}`"


def retry_note(record: RequestRecord) -> str | None:
    """For an open request that was retried: which attempt it is, who retried it, after which failure; else ``None``."""
    if record.state in FINAL_STATES or not record.retries:
        return None
    retried = latest_event(record, REQUEST_RETRIED)
    return (f"attempt {retried.payload['attempt']}, retried by {retried.actor} after: "
            f"{retried.payload['retries_failure']}; resumes from {retried.payload['resumes_from']}")


def complete_deployments(ledger: Ledger) -> list[DeploymentRecord]:
    """The deployments an erasure plans against and its lineage proof covers: every one in use with all its shards
    trained. An interrupted training's (fewer live shards than it was built with) serves nothing and cannot load:
    re-running its `lethe train` finishes it without whatever was erased meanwhile; `lethe deployment retire` gives it
    up."""
    return [d for d in ledger.deployments()
            if sum(1 for shard in ledger.live_checkpoints(d.deployment_id) if shard >= 0) >= int(d.settings["shards"])]
