"""Signed status callbacks to the DSR tool (OpenDSR 2.0 §8.5-8.6; issue 22): every status change of a request filed
through the API is POSTed to each of its ``status_callback_urls``, signed, retried until delivered.

The body is the OpenDSR callback (``controller_id``, ``status_callback_url``, ``subject_request_id``,
``request_status``, ``expected_completion_time``, ``results_url`` when completed) as RFC 8785 canonical JSON;
``X-OpenDSR-Signature`` is the base64 Ed25519 signature of those exact bytes by the workspace key (OpenDSR asks for
an X.509 certificate's signature; the key is the one every certificate is signed with, published at
``/opendsr/v1/public-key``, fingerprint in ``X-Lethe-Key-Fingerprint``). Each attempt is a ledger event
(``opendsr.callback``: url, status, HTTP answer or error), so "we told the controller, at this time" is on record;
a failed delivery is retried with a doubling delay (30 s up to an hour) and the dispatcher logs it.
"""

from __future__ import annotations

import base64
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ledger import canonical_json
from ui.api import OPENDSR_LINKED, deadline_text, request_status
from ui.services import Services

CALLBACK_EVENT = "opendsr.callback"
FIRST_RETRY_SECONDS = 30.0
LAST_RETRY_SECONDS = 3600.0


@dataclass(frozen=True)
class Callback:
    request_id: str
    url: str
    body: dict[str, str]


@dataclass
class CallbackDispatcher:
    """Finds undelivered status changes in the ledger and delivers them; one instance per server."""

    services: Callable[[], Services]
    processor_domain: str
    controller_id: str
    say: Callable[[str], None]
    timeout_seconds: float = 10.0
    first_retry_seconds: float = FIRST_RETRY_SECONDS

    def due(self, now: datetime | None = None) -> list[Callback]:
        """Callbacks whose status was not delivered yet and whose retry time has come."""
        now = now or datetime.now(timezone.utc)
        services = self.services()
        attempts: dict[tuple[str, str], list[dict]] = {}
        for event in services.ledger.log.events([CALLBACK_EVENT]):
            attempts.setdefault((event.payload["request_id"], event.payload["url"]), []).append(
                {**event.payload, "ts": datetime.fromisoformat(event.ts)})
        due = []
        records = {record.request_id: record for record in services.ledger.requests()}
        for link in services.ledger.log.events([OPENDSR_LINKED]):
            request_id = link.payload["request_id"]
            record = records[request_id]
            status = request_status(services, record, probe_lock=False)
            for url in link.payload["status_callback_urls"]:
                tried = [a for a in attempts.get((request_id, url), []) if a["request_status"] == status]
                if any(a["delivered"] for a in tried):
                    continue
                failures = len(tried)
                wait = min(self.first_retry_seconds * 2 ** max(failures - 1, 0), LAST_RETRY_SECONDS)
                if failures and (now - tried[-1]["ts"]).total_seconds() < wait:
                    continue
                body = {"controller_id": self.controller_id, "status_callback_url": url,
                        "subject_request_id": link.payload["subject_request_id"], "request_status": status,
                        "expected_completion_time": deadline_text(services, record)}
                if status == "completed":
                    body["results_url"] = f"/opendsr/v1/requests/{link.payload['subject_request_id']}/certificate"
                due.append(Callback(request_id, url, body))
        return due

    def deliver(self, callback: Callback) -> bool:
        """POST one signed callback and record the attempt; True if the controller answered 2xx."""
        services = self.services()
        data = canonical_json(callback.body)
        signer = services.ledger.workspace.signer
        request = urllib.request.Request(callback.url, data=data, method="POST", headers={
            "Content-Type": "application/json", "X-OpenDSR-Processor-Domain": self.processor_domain,
            "X-OpenDSR-Signature": base64.b64encode(signer.private_key.sign(data)).decode(),
            "X-Lethe-Key-Fingerprint": signer.keyid})
        answer: int | str
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                answer = response.status
        except urllib.error.HTTPError as error:
            answer = error.code
        except (urllib.error.URLError, OSError) as error:
            answer = str(getattr(error, "reason", error))[:200]
        delivered = isinstance(answer, int) and 200 <= answer < 300
        services.ledger.append(CALLBACK_EVENT, {"request_id": callback.request_id, "url": callback.url,
                                                "request_status": callback.body["request_status"],
                                                "answer": answer, "delivered": delivered}, actor="opendsr")
        if not delivered:
            self.say(f"callback to {callback.url} ({callback.body['request_status']}) failed: {answer}; retried later")
        return delivered

    def once(self) -> int:
        """Deliver every due callback; how many were delivered."""
        return sum(self.deliver(callback) for callback in self.due())

    def run_until(self, stop: threading.Event, poll_seconds: float = 2.0) -> None:
        while not stop.wait(poll_seconds):
            try:
                self.once()
            except Exception as exc:  # noqa: BLE001 - a bad poll must not end the dispatcher; the next one retries
                self.say(f"callback dispatcher: {exc}")


@dataclass
class DispatcherThread:
    """The dispatcher in a background thread of ``lethe serve``, stopped with it."""

    dispatcher: CallbackDispatcher
    stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> "DispatcherThread":
        self.thread = threading.Thread(target=self.dispatcher.run_until, args=(self.stop,), daemon=True,
                                       name="opendsr-callbacks")
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
