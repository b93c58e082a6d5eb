"""Ledger events said in words (issue 23, point 4): "olivia filed …; worker retrained shard 3 of sisa-41 (12 s)".

One sentence per event, from its kind, actor and payload; the raw event stays one click away on every page that
shows a timeline. Kinds this module does not know read as their name and a short JSON of the payload, so a newer
engine's events are never hidden.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger import Event
from ui._queries import event_facts

INTAKE_WORDS = {"console": "in the console", "api": "through the DSR API", "cli": "from the command line",
                "system": "from a script"}
KIND_WORDS = {"subject": "the whole subject", "interactions": "listed interactions",
              "time_window": "a time window", "batch": "a batch of subjects"}


def _shards(plan: dict[str, Any]) -> str:
    parts = plan.get("shards") or plan.get("groups") or []
    indices = [str(p.get("shard", p.get("group", "?"))) for p in parts if isinstance(p, dict)]
    return (f"shard{'s' if len(indices) != 1 else ''} {', '.join(indices)}" if indices else "no shard")


def _received(p: dict[str, Any]) -> str:
    via = INTAKE_WORDS.get(p.get("intake") or "", "")
    return (f"filed an erasure request for {KIND_WORDS.get(p.get('kind', 'subject'), p.get('kind'))}"
            + (f" {via}" if via else "") + f" ({p['regulation']}; basis: {p['basis']})")


def _planned(p: dict[str, Any]) -> str:
    return "planned it: " + "; ".join(
        f"{d['deployment_id']} ({d['method']}) hit {_shards(d)}, {d.get('interactions_hit', '?')} training "
        f"interaction(s), about {d.get('estimated_cost_fraction', 0):.0%} of a full retrain"
        for d in p.get("deployments", [])) if p.get("deployments") else "planned it: no deployment holds the data"


def _unlearned(p: dict[str, Any]) -> str:
    parts = []
    for d in p.get("deployments", []):
        shards = ", ".join(str(r.get("shard")) for r in d.get("replaced", [])) or "nothing"
        parts.append(f"retrained shard {shards} of {d['deployment_id']} ({d.get('seconds', 0):.0f} s)")
    return "; ".join(parts) or "unlearned it (no checkpoint replaced)"


def _verified(p: dict[str, Any]) -> str:
    basis = "on the lineage proof" if p.get("basis") == "lineage" else "statistically"
    verdict = "passed" if p.get("passed") else "FAILED: " + ", ".join(p.get("failed_checks") or [])
    return f"verified it {basis}: {verdict} (signed report {p.get('report_id')})"


def _follow_up(p: dict[str, Any]) -> str:
    verdict = "passed" if p.get("passed") else "FAILED: " + ", ".join(p.get("failed_checks") or [])
    return f"ran the statistical follow-up to the lineage certificate: {verdict} (signed report {p.get('report_id')})"


def _rejected(p: dict[str, Any]) -> str:
    verb = {"refused": "refused", "closed": "closed"}.get(p.get("outcome", ""), "rejected")
    return f"{verb} it: {p.get('reason')}"


SENTENCES: dict[str, Callable[[dict[str, Any]], str]] = {
    "request.received": _received,
    "request.validated": lambda p: "validated it: the subject's data is in the store",
    "request.planned": _planned,
    "request.unlearned": _unlearned,
    "request.data_erased": lambda p: f"erased {p.get('rows_erased')} row(s) from the store (file rewritten)",
    "request.verified": _verified,
    "request.certified": lambda p: f"issued certificate {p.get('certificate_id')}",
    "request.rejected": _rejected,
    "request.failed": lambda p: f"failed: {p.get('reason')}",
    "request.retried": lambda p: f"retried it after “{p.get('retries_failure')}”, resuming from {p.get('resumes_from')}",
    "request.extended": lambda p: f"extended the deadline by {p.get('months')} month(s) (was {p.get('previous_due')}): "
                                  f"{p.get('reason')}",
    "request.queued": lambda p: "queued it for a worker",
    "request.statistically_verified": _follow_up,
    "request.awaiting_window": lambda p: f"could not decide it on this request alone (every check inconclusive): it "
                                         f"waits for the audit due by {p.get('audit_due')} (signed report "
                                         f"{p.get('report_id')})",
    "request.assigned": lambda p: f"assigned it to {p.get('assignee')}",
    "request.identity_verified": lambda p: f"verified the subject's identity ({p.get('method')})"
                                           + (f": {p['note']}" if p.get("note") else ""),
    "request.approved": lambda p: f"approved running it (as {p.get('role')})",
    "request.duplicate_received": lambda p: "filed the same subject again "
                                            + (INTAKE_WORDS.get(p.get("intake") or "", "") + " ").lstrip()
                                            + "— flagged here as a duplicate, not filed twice",
    "request.letter_issued": lambda p: f"wrote the {p.get('kind')} letter to the subject ({p.get('file')})",
    "console.signed_in": lambda p: "signed in to the console",
    "console.signed_out": lambda p: "signed out",
    "console.sign_in_failed": lambda p: f"a sign-in failed: {p.get('reason')}",
    "console.certificate_downloaded": lambda p: f"downloaded the certificate of {p.get('request_id')} "
                                                f"({p.get('format')})",
    "console.ledger_verified": lambda p: "checked the ledger's integrity: " + ("intact" if p.get("ok") else "FAULT"),
    "console.certificate_checked": lambda p: f"verified certificate {p.get('certificate_id')} in the console: "
                                             + ("valid" if p.get("ok") else f"INVALID ({p.get('failed_step')})"),
    "console.register_exported": lambda p: f"exported the request register ({p.get('rows')} request(s), CSV)",
    "audit.completed": lambda p: f"ran audit {p.get('audit_id')}: " + ("passed" if p.get("passed") else "FAILED"),
}


def sentence(event: Event) -> str:
    """What the event says, as "<actor> <did what>"."""
    words = SENTENCES.get(event.kind)
    what = words(event.payload) if words else f"{event.kind}: {event_facts(event.payload)}"
    return f"{event.actor} {what}"


def _duration(start: str, end: str) -> str:
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def timeline_rows(history: list[Event]) -> list[dict[str, Any]]:
    """One row per event: when (UTC), how long after the previous one, and what happened in words."""
    rows = []
    for previous, event in zip([None, *history], history):
        rows.append({"seq": event.seq, "time (UTC)": event.ts[:19].replace("T", " "),
                     "after": _duration(previous.ts, event.ts) if previous else "",
                     "what happened": sentence(event)})
    return rows
