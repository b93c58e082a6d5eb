"""The ledger facade: one workspace's store, event log and keys, and the lineage queries over them.

Current state is never kept on the side: "which checkpoint serves", "which shards hold subject X",
"where is request R in its lifecycle" are all answered by querying the events and bulk tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ledger._events import GENESIS_HASH, Event, EventLog, IntegrityResult
from ledger._store import InteractionStore
from ledger._workspace import Workspace, default_workspace_path
from ledger.errors import LedgerIntegrityError, WorkspaceError

DATASET_INGESTED = "dataset.ingested"
DEPLOYMENT_CREATED = "deployment.created"
DEPLOYMENT_SERVING = "deployment.serving"
CHECKPOINT_CREATED = "checkpoint.created"
REQUEST_PREFIX = "request."


@dataclass(frozen=True)
class RequestRecord:
    """A request as the ledger knows it: its first event's facts and its latest state."""

    request_id: str
    state: str
    received: dict[str, Any]
    history: list[Event]

    def payload(self, state: str) -> dict[str, Any] | None:
        """The payload of this request's ``request.<state>`` event, or ``None`` if it never reached it."""
        return next((e.payload for e in self.history if e.kind == f"{REQUEST_PREFIX}{state}"), None)

    def require_payload(self, state: str) -> dict[str, Any]:
        """Like :meth:`payload`, for states the caller's own state implies were reached."""
        payload = self.payload(state)
        if payload is None:
            raise LedgerIntegrityError(f"request {self.request_id} is {self.state} but has no {state!r} event")
        return payload


class Ledger:
    """Entry point to one workspace: ``Ledger.open(path)``; every write is an event."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.log = EventLog(workspace.ledger_path)
        self.store = InteractionStore(workspace.store_path)

    @classmethod
    def open(cls, path: str | Path | None = None) -> "Ledger":
        return cls(Workspace(Path(path) if path else default_workspace_path()))

    # -- writes ---------------------------------------------------------------------------------
    def append(
        self, kind: str, payload: Mapping[str, Any], actor: str = "system", bulk: Mapping[str, pd.DataFrame] | None = None
    ) -> Event:
        return self.log.append(kind, payload, actor=actor, bulk=bulk)

    def ingest(self, frame: pd.DataFrame, facts: Mapping[str, Any], actor: str = "system") -> Event:
        """Load a data set into the store and record it, with one lineage row per interaction.

        A workspace holds one data set. If a previous ingestion crashed after filling the store but
        before its event, the store holds rows the ledger never recorded: they are discarded first.
        """
        existing = self.dataset()
        if existing is not None:
            raise WorkspaceError(
                f"workspace already holds data set {existing['name']!r} ({existing['digest']}); "
                "use another --workspace"
            )
        if self.store.count():
            self.store.clear()
        lineage = self.store.load(frame, self.workspace.subject_ref)
        payload = {
            **facts,
            "n_interactions": len(frame),
            "n_users": int(frame["subject"].nunique()),
            "n_items": int(frame["item"].nunique()),
            "n_train": int((frame["split"] == "train").sum()),
            "n_test": int((frame["split"] == "test").sum()),
        }
        return self.append(DATASET_INGESTED, payload, actor=actor, bulk={"interaction_lineage": lineage})

    # -- data set and deployments ---------------------------------------------------------------
    def dataset(self) -> dict[str, Any] | None:
        events = self.log.events([DATASET_INGESTED])
        return events[-1].payload if events else None

    def require_dataset(self) -> dict[str, Any]:
        dataset = self.dataset()
        if dataset is None:
            raise WorkspaceError(f"no data in workspace {self.workspace.root}; run `lethe ingest` first")
        return dataset

    def deployments(self) -> list[dict[str, Any]]:
        """Every deployment's creation facts, oldest first, with ``serving`` set from the latest event."""
        serving = self.serving_deployment_id()
        return [
            {**e.payload, "created_seq": e.seq, "serving": e.payload["deployment_id"] == serving}
            for e in self.log.events([DEPLOYMENT_CREATED])
        ]

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        for deployment in self.deployments():
            if deployment["deployment_id"] == deployment_id:
                return deployment
        raise WorkspaceError(f"unknown deployment {deployment_id!r}")

    def serving_deployment_id(self) -> str | None:
        events = self.log.events([DEPLOYMENT_SERVING])
        return events[-1].payload["deployment_id"] if events else None

    def checkpoints(self, deployment_id: str | None = None) -> list[dict[str, Any]]:
        """All checkpoint records (oldest first), optionally of one deployment."""
        records = [{**e.payload, "seq": e.seq} for e in self.log.events([CHECKPOINT_CREATED])]
        return [r for r in records if deployment_id is None or r["deployment_id"] == deployment_id]

    def live_checkpoints(self, deployment_id: str) -> dict[int, dict[str, Any]]:
        """The checkpoint currently serving each shard of a deployment: the latest one per shard."""
        live: dict[int, dict[str, Any]] = {}
        for record in self.checkpoints(deployment_id):
            live[int(record["shard"])] = record
        return live

    def shard_assignments(self, deployment_id: str) -> pd.DataFrame:
        """``interaction_id, shard`` for every interaction a deployment was built on."""
        return self.log.query(
            "SELECT interaction_id, shard FROM shard_assignments WHERE deployment_id = ? ORDER BY interaction_id",
            [deployment_id],
        )

    # -- lineage of a subject -------------------------------------------------------------------
    def subject_interaction_ids(self, subject_ref: str) -> list[int]:
        frame = self.log.query(
            "SELECT interaction_id FROM interaction_lineage WHERE subject_ref = ? ORDER BY interaction_id",
            [subject_ref],
        )
        return frame["interaction_id"].astype(int).tolist()

    def shards_holding(self, deployment_id: str, interaction_ids: list[int]) -> dict[int, list[int]]:
        """Which shards of a deployment trained on the given interactions: ``{shard: [ids]}``."""
        if not interaction_ids:
            return {}
        frame = self.log.query(
            "SELECT shard, interaction_id FROM shard_assignments WHERE deployment_id = ? "
            "AND interaction_id IN (SELECT unnest(?::BIGINT[])) ORDER BY shard, interaction_id",
            [deployment_id, [int(i) for i in interaction_ids]],
        )
        return {int(shard): group["interaction_id"].astype(int).tolist() for shard, group in frame.groupby("shard")}

    # -- requests -------------------------------------------------------------------------------
    def request(self, request_id: str) -> RequestRecord | None:
        history = [e for e in self.log.events([REQUEST_PREFIX]) if e.payload.get("request_id") == request_id]
        if not history:
            return None
        return RequestRecord(request_id, history[-1].kind.removeprefix(REQUEST_PREFIX), history[0].payload, history)

    def requests(self) -> list[RequestRecord]:
        """Every request with its latest state, in filing order."""
        by_id: dict[str, list[Event]] = {}
        for event in self.log.events([REQUEST_PREFIX]):
            by_id.setdefault(event.payload["request_id"], []).append(event)
        return [
            RequestRecord(rid, events[-1].kind.removeprefix(REQUEST_PREFIX), events[0].payload, events)
            for rid, events in by_id.items()
        ]

    def erased_interaction_ids(self, request_ids: list[str]) -> set[int]:
        """Interaction ids the given requests planned to forget (from their ``planned`` events)."""
        wanted = set(request_ids)
        ids: set[int] = set()
        for event in self.log.events(["request.planned"]):
            if event.payload["request_id"] in wanted:
                ids.update(event.payload["interaction_ids"])
        return ids

    def recent_events(self, n: int = 50) -> list[Event]:
        """The newest ``n`` events, newest first."""
        head = self.log.head()
        return [] if head is None else list(reversed(self.log.events(after_seq=max(0, head.seq - n))))

    # -- integrity ------------------------------------------------------------------------------
    def verify(self) -> IntegrityResult:
        return self.log.verify()

    def head_hash(self) -> str:
        """Hash of the latest event: what reports and certificates pin the ledger state to."""
        head = self.log.head()
        return head.hash if head else GENESIS_HASH
