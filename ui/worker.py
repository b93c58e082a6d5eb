"""The request queue and the worker that empties it (issue 22, point 1).

Queuing a request is one ledger event (``request.queued``, with the actor): the console's Run button and the API
only queue, so a run never lives in a browser tab or an HTTP handler, and its progress is the ledger's (any
session, any page, after any reload). ``lethe worker`` takes queued requests and runs them through the engine,
which already makes a run resumable and lets requests that touch one deployment take turns. Several workers on
one workspace are safe: a worker claims a request by the engine's per-request lock, and a request another
process holds is skipped, not waited for.

SIGTERM or SIGINT stops a worker cleanly: the running step is abandoned as a crash would abandon it (every step
is one event, so nothing half-recorded remains), the locks go with the process, and the next worker resumes the
request from its last recorded state. A worker logs one line per state change of the request it runs.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import FrameType
from typing import TextIO

from ledger import REQUEST_ANNOTATIONS, REQUEST_QUEUED, Event, LetheError, RequestError, RequestRecord, WorkspaceError
from ui.services import Services
from unlearn.lifecycle import awaiting_window
from unlearn.requests import FINAL_STATES
from unlearn.workflow import require_cleared


class WorkerStopped(BaseException):
    """Raised in the worker's thread by SIGTERM/SIGINT: not an Exception, so no handler on the way swallows it."""


def queue_request(services: Services, request_id: str, actor: str) -> RequestRecord:
    """Record that ``request_id`` should be run (by any worker); the request as it stands.

    Refused with a reason: an unknown request, one that is already certified or rejected, a failed one (it must be
    retried first: `lethe request retry`, which says from where it resumes), one already waiting in the queue, one
    whose workflow the policy wants complete first (identity verified, approved: ``unlearn.workflow``).
    """
    record = services.engine.require(request_id)
    if record.state == "failed":
        raise RequestError(f"request {request_id} failed; retry it first (`lethe request retry {request_id}`), "
                           "which re-queues it")
    if record.state in FINAL_STATES:
        raise RequestError(f"request {request_id} is already {record.state}; nothing to run")
    if is_queued(record):
        raise RequestError(f"request {request_id} is already queued")
    require_cleared(record, services.policy)  # the workflow (identity verified, approved) comes before the queue
    services.ledger.append(REQUEST_QUEUED, {"request_id": request_id}, actor=actor)
    return services.engine.require(request_id)


def last_queued(record: RequestRecord) -> Event | None:
    return next((event for event in reversed(record.history) if event.kind == REQUEST_QUEUED), None)


def is_queued(record: RequestRecord) -> bool:
    """Queued and not yet at an end (certified, rejected, failed). A failed request that is retried is waiting again:
    it was queued, and the retry reopened it."""
    return last_queued(record) is not None and record.state not in FINAL_STATES


@dataclass
class Worker:
    """Runs queued requests of one workspace until stopped; ``once`` empties the queue and returns."""

    services: Services
    name: str
    log: TextIO = sys.stderr
    poll_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _failing: dict[str, float] = field(default_factory=dict)

    def say(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        print(f"{stamp} {self.name} {text}", file=self.log, flush=True)

    def waiting(self) -> list[RequestRecord]:
        """Queued requests this worker may run now, oldest queued first."""
        deferred = self.services.engine.defer_verification
        now = self.clock()
        ready = [record for record in self.services.ledger.requests()
                 if is_queued(record) and not (record.state == "data_erased" and (deferred or awaiting_window(record)))
                 and self._failing.get(record.request_id, 0.0) <= now]
        return sorted(ready, key=lambda record: _queued_seq(record))

    def run_one(self, record: RequestRecord) -> bool:
        """Run one request to its end; False if it was not run (another process holds it, or it cannot run now)."""
        request_id, logged = record.request_id, [record.history[-1].seq]

        def log_new_steps(*_: object) -> None:
            """One line per lifecycle step this worker recorded since the last line (called on every progress
            report). Steps are told apart by their actor: the record this worker picked may be stale, and another
            process may have moved the request on meanwhile."""
            for event in self.services.ledger.request(request_id).history:
                if event.seq > logged[0]:
                    logged[0] = event.seq
                    if event.kind not in REQUEST_ANNOTATIONS and event.actor == self.name:
                        reason = event.payload.get("reason")
                        self.say(f"{request_id} {event.kind.removeprefix('request.')}"
                                 + (f": {reason}" if reason else ""))

        self.say(f"{request_id} taken ({record.state})")
        try:
            self.services.engine.run(request_id, log_new_steps, actor=self.name)
        except WorkspaceError as exc:
            if "being worked on by another process" not in str(exc):
                raise
            self._failing[request_id] = self.clock() + 5.0
            self.say(f"{request_id} skipped: another process runs it")
            return False
        except LetheError as exc:  # nothing new recorded: try it again later, not in a tight loop
            self._failing[request_id] = self.clock() + 60.0
            self.say(f"{request_id} not run: {exc} (next try in 60 s)")
            return False
        finally:
            log_new_steps()
        return True

    def once(self) -> int:
        """Run every request waiting now; how many this worker ran."""
        ran = 0
        for record in self.waiting():
            ran += self.run_one(record)
        return ran

    def serve_forever(self) -> None:
        """Poll the queue until SIGTERM/SIGINT, then return (the request under way resumes later)."""
        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        self.say(f"started on {self.services.ledger.workspace.root}")
        try:
            while True:
                if not self.once():
                    time.sleep(self.poll_seconds)
        except WorkerStopped:
            self.say("stopped by signal; an interrupted request resumes from its last recorded step")
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _queued_seq(record: RequestRecord) -> int:
    event = last_queued(record)
    return event.seq if event is not None else 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise WorkerStopped(signal.Signals(signum).name)
