"""Typed records the ledger answers with: checkpoints, deployments and requests, and the kinds of request.

A record is a *view* over the payload of the event that recorded it, never a storage format: writers append the
payloads they always did (the hash chain covers those bytes, so existing workspaces still verify), and
:meth:`CheckpointRecord.from_event` / :meth:`DeploymentRecord.from_event` read them back into frozen, validated
objects. Readers use attributes (``checkpoint.artifact_sha256``, ``deployment.settings``), so a misspelt field is an
``AttributeError`` at the reader instead of a ``KeyError`` somewhere later, and the fields every method records
are declared in one place.

**Method-specific facts.** Every checkpoint event has the same fixed part (``CHECKPOINT_FIELDS``); methods add
their own facts beside it (RecEraser's aggregator: ``aggregation``, ``inputs``; LASER: ``group``,
``group_interactions``, ``replaces``; approximate methods: ``approximate``, ``forgets_requests``,
``forgotten_interaction_ids``, ``inputs``, ``unlearning``; a registered model: ``registered``, ``source_sha256``;
most: ``base_model``). Deployments likewise (``partition``, ``groups``, ``registered``). Those go into one
``facts`` mapping rather than into declared optional fields, because

1. the ledger sits below the methods (``ui → verify → unlearn → ledger``): declaring every method's vocabulary here
   would make it know RecEraser's aggregator and LASER's groups, and a method registered later would have to edit
   the ledger to record a fact;
2. events are append-only and read for as long as the workspace lives: a record a method wrote with facts this
   version does not know must still read (``extra="forbid"`` over declared optional fields would make such a
   workspace unreadable);
3. the same key does not mean the same thing across methods (``inputs``: RecEraser's shard → checkpoint map, an
   approximate method's digests and options).

The method that wrote a fact is the one that reads it (``checkpoint.facts["inputs"]`` in RecEraser). The fixed part
is strict: ``extra="forbid"``, and :meth:`from_event` routes every other payload key to ``facts`` explicitly, so
nothing is dropped; :meth:`payload` gives the event's payload back (the tests check it round-trips).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ledger._events import Event
from ledger.errors import LedgerIntegrityError

DATASET_INGESTED = "dataset.ingested"
DEPLOYMENT_CREATED = "deployment.created"
DEPLOYMENT_SERVING = "deployment.serving"
DEPLOYMENT_RETIRED = "deployment.retired"
"""A deployment taken out of use (an interrupted training nobody will finish): no erasure plans against it."""
CHECKPOINT_CREATED = "checkpoint.created"
REQUEST_PREFIX = "request."
REQUEST_EXTENDED = "request.extended"
REQUEST_RETRIED = "request.retried"
REQUEST_QUEUED = "request.queued"
"""Someone asked for the request to be run by a worker (``ui.worker``): who, and when."""
REQUEST_STATISTICALLY_VERIFIED = "request.statistically_verified"
"""The statistical verification that follows a certificate issued on the lineage proof alone (policy
``verification.certify_exact_on: lineage``): a second signed report, referencing the first."""
REQUEST_ASSIGNED = "request.assigned"
"""The officer responsible for a request (``assignee``), set or changed by someone (the actor)."""
REQUEST_IDENTITY_VERIFIED = "request.identity_verified"
"""The subject's identity was verified: how (``method``) and by whom (the actor); never the document itself."""
REQUEST_APPROVED = "request.approved"
"""A second person approved running the request (policy ``approvers.run_request``): the approver and their role."""
REQUEST_DUPLICATE_RECEIVED = "request.duplicate_received"
"""Another filing for a subject this open request already covers: flagged on it instead of filed twice."""
REQUEST_LETTER_ISSUED = "request.letter_issued"
"""A letter to the data subject was written (kind, file, sha256); Lethe never sends it."""
REQUEST_AWAITING_WINDOW = "request.awaiting_window"
"""An approximate method's verification was all inconclusive (one subject gives the attacks too little to decide):
the request waits at ``data_erased`` for the audit, whose window verifies its subjects together."""
#: Request events that annotate a request without moving it through its lifecycle (state ignores them).
REQUEST_ANNOTATIONS = frozenset({REQUEST_EXTENDED, REQUEST_QUEUED, REQUEST_STATISTICALLY_VERIFIED, REQUEST_ASSIGNED,
                                 REQUEST_IDENTITY_VERIFIED, REQUEST_APPROVED, REQUEST_DUPLICATE_RECEIVED,
                                 REQUEST_LETTER_ISSUED, REQUEST_AWAITING_WINDOW})


class RequestKind(StrEnum):
    """What a request erases: the one vocabulary of request kinds (recorded as the ``kind`` of ``request.received``).

    The policy routes each kind to a method (``policies.Routing`` has one field per kind), requests declare their
    scope with it (``unlearn.requests``) and reports, certificates and the console label it. A ``StrEnum``: a member
    equals, and serialises as, its recorded string.
    """

    SUBJECT = "subject"
    """Every interaction of one data subject (GDPR Art. 17 in full)."""
    INTERACTIONS = "interactions"
    """The subject's interactions with listed items."""
    TIME_WINDOW = "time_window"
    """The subject's interactions within a time window."""
    BATCH = "batch"
    """Several whole subjects, erased as one request."""

    @property
    def whole_subjects(self) -> bool:
        """Whether the request erases its subjects entirely (after it, nothing of theirs is left to erase)."""
        return self in (RequestKind.SUBJECT, RequestKind.BATCH)


_RECORD = ConfigDict(extra="forbid", frozen=True)


def _split(payload: dict[str, Any], fields: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The payload's fixed part and its other keys (the method's facts)."""
    return ({k: v for k, v in payload.items() if k in fields}, {k: v for k, v in payload.items() if k not in fields})


class CheckpointRecord(BaseModel):
    """One trained model artifact, from its ``checkpoint.created`` event (see the module doc for ``facts``)."""

    model_config = _RECORD

    checkpoint_id: str
    deployment_id: str
    method: str = Field(description="the method that trained or updated it")
    shard: int = Field(description="its shard or group; negative for checkpoints that combine shards (an aggregator)")
    parent: str | None = Field(description="the checkpoint it replaces or continues from")
    artifact_sha256: str
    training_set_digest: str = Field(description="digest of the interaction ids it trained on")
    n_interactions: int
    seed: int
    config: dict[str, Any] = Field(description="the model's hyper-parameters as recorded")
    excludes_requests: list[str] = Field(description="requests whose interactions its training set leaves out")
    request_id: str | None = Field(description="the request it was (re)trained for; None at fit")
    train_seconds: float
    facts: dict[str, Any] = Field(default_factory=dict, description="method-specific facts recorded with it")
    seq: int = Field(description="the recording event's sequence number (not part of the payload)")

    @classmethod
    def from_event(cls, event: Event) -> "CheckpointRecord":
        if event.kind != CHECKPOINT_CREATED:
            raise ValueError(f"event {event.seq} is {event.kind}, not {CHECKPOINT_CREATED}")
        fixed, facts = _split(event.payload, CHECKPOINT_FIELDS)
        return cls(**fixed, facts=facts, seq=event.seq)

    def payload(self) -> dict[str, Any]:
        """The recorded event's payload as the ledger reads it back (keys sorted, as canonical JSON stores them):
        the fixed fields and the facts, without ``seq``."""
        return dict(sorted({**self.model_dump(include=set(CHECKPOINT_FIELDS)), **self.facts}.items()))


class DeploymentRecord(BaseModel):
    """A trained (or registered) deployment, from its ``deployment.created`` event; ``serving`` from the latest
    ``deployment.serving``.

    ``settings`` is the deployment's ``unlearn.methods.MethodSettings`` as recorded (``model_dump(mode="json")``):
    typed by that model, which the ledger cannot import (it sits below ``unlearn``); read it with
    ``MethodSettings(**deployment.settings)``.
    """

    model_config = _RECORD

    deployment_id: str
    method: str
    exact: bool
    settings: dict[str, Any]
    data_digest: str = Field(description="digest of the data set it was trained on")
    shard_sizes: list[int] = Field(description="training interactions assigned to each shard or group")
    facts: dict[str, Any] = Field(default_factory=dict, description="method-specific facts (partition, groups, ...)")
    created_seq: int = Field(description="the recording event's sequence number (not part of the payload)")
    serving: bool = Field(description="whether it is the deployment that serves now (not part of the payload)")

    @classmethod
    def from_event(cls, event: Event, serving: bool) -> "DeploymentRecord":
        if event.kind != DEPLOYMENT_CREATED:
            raise ValueError(f"event {event.seq} is {event.kind}, not {DEPLOYMENT_CREATED}")
        fixed, facts = _split(event.payload, DEPLOYMENT_FIELDS)
        return cls(**fixed, facts=facts, created_seq=event.seq, serving=serving)

    def payload(self) -> dict[str, Any]:
        """The recorded event's payload as the ledger reads it back (keys sorted, as canonical JSON stores them):
        the fixed fields and the facts, without ``created_seq`` and ``serving``."""
        return dict(sorted({**self.model_dump(include=set(DEPLOYMENT_FIELDS)), **self.facts}.items()))


#: The fixed part of every ``checkpoint.created`` / ``deployment.created`` payload.
CHECKPOINT_FIELDS = frozenset(CheckpointRecord.model_fields) - {"facts", "seq"}
DEPLOYMENT_FIELDS = frozenset(DeploymentRecord.model_fields) - {"facts", "created_seq", "serving"}


@dataclass(frozen=True)
class RequestRecord:
    """A request as the ledger knows it: its first event's facts and its latest state."""

    request_id: str
    state: str
    received: dict[str, Any]
    history: list[Event]

    @property
    def kind(self) -> RequestKind:
        """What the request erases (requests recorded before kinds existed were whole subjects)."""
        return RequestKind(self.received.get("kind", RequestKind.SUBJECT))

    @property
    def received_at(self) -> str:
        """When it was received (ISO 8601, UTC), as recorded."""
        return str(self.received["received_at"])

    def payload(self, state: str) -> dict[str, Any] | None:
        """The payload of this request's latest ``request.<state>`` event, or ``None`` if it never reached it.

        Latest, not first: a retried request (see :data:`REQUEST_RETRIED`) may record a step again — a verification
        after a failed one, a second failure — and the newest is what the request stands on.
        """
        return next((e.payload for e in reversed(self.history) if e.kind == f"{REQUEST_PREFIX}{state}"), None)

    @property
    def subject_refs(self) -> list[str]:
        """The pseudonyms of the subjects the request covers (several for a batch)."""
        return list(self.received.get("subject_refs") or [self.received["subject_ref"]])

    @property
    def extensions(self) -> list[dict[str, Any]]:
        """Every ``request.extended`` payload (months, reason), oldest first."""
        return [e.payload for e in self.history if e.kind == REQUEST_EXTENDED]

    @property
    def extension_months(self) -> int:
        """Months the deadline was extended by, in total (GDPR Art. 12(3))."""
        return sum(int(p["months"]) for p in self.extensions)

    @property
    def retries(self) -> list[dict[str, Any]]:
        """Every ``request.retried`` payload (the failure retried, the state resumed from), oldest first."""
        return [e.payload for e in self.history if e.kind == REQUEST_RETRIED]

    def require_payload(self, state: str) -> dict[str, Any]:
        """Like :meth:`payload`, for states the caller's own state implies were reached."""
        payload = self.payload(state)
        if payload is None:
            raise LedgerIntegrityError(f"request {self.request_id} is {self.state} but has no {state!r} event")
        return payload
