"""Typed records from the ledger (issue 17, point 3): views over the recorded payloads, one vocabulary of request
kinds, one deadline status.

The records must read back exactly what was recorded (the hash chain covers the payloads, so the records are no new
storage format), keep every method-specific fact, and refuse a payload whose fixed part is wrong.
"""

from __future__ import annotations

import typing
from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from ledger import (
    CHECKPOINT_CREATED,
    DEPLOYMENT_CREATED,
    CheckpointRecord,
    DeploymentRecord,
    Event,
    RequestKind,
    RequestRecord,
    canonical_json,
)
from policies import DeadlineState, Deadlines, Routing
from ui._queries import SCOPE_LABELS
from unlearn.requests import BatchErasureRequest, ErasureRequest, ListedInteractions, TimeWindow
from verify import ErasureScope


def _event(kind: str, payload: dict, seq: int = 7) -> Event:
    return Event(seq, "2026-01-01T00:00:00+00:00", kind, "test", payload, "0" * 64, "1" * 64)


CHECKPOINT = {
    "checkpoint_id": "sisa-1/s0/v1", "deployment_id": "sisa-1", "method": "sisa", "shard": 0, "parent": None,
    "artifact_sha256": "ab" * 32, "training_set_digest": "sha256:" + "cd" * 32, "n_interactions": 10, "seed": 0,
    "config": {"epochs": 3}, "excludes_requests": [], "request_id": None, "train_seconds": 0.5,
}


def test_every_recorded_checkpoint_and_deployment_reads_back_to_its_exact_payload(workspace) -> None:
    """Fit and one erasure: each record's payload is the event's, to the canonical byte; attributes agree with it."""
    ledger = workspace.ledger
    subject = str(ledger.store.subjects_frame()["subject"].iloc[0])
    assert workspace.engine.run(workspace.engine.file(ErasureRequest(subject=subject))).state == "certified"
    checkpoints = ledger.log.events([CHECKPOINT_CREATED])
    deployments = ledger.log.events([DEPLOYMENT_CREATED])
    assert len(checkpoints) > 3 and deployments
    for event, record in zip(checkpoints, ledger.checkpoints(), strict=True):
        assert canonical_json(record.payload()) == canonical_json(event.payload)
        assert record.seq == event.seq and record.checkpoint_id == event.payload["checkpoint_id"]
        assert record.facts == {"base_model": "bpr"}  # SISA's one method-specific fact
    for event, record in zip(deployments, ledger.deployments(), strict=True):
        assert canonical_json(record.payload()) == canonical_json(event.payload)
        assert record.created_seq == event.seq and record.serving
    retrained = [c for c in ledger.checkpoints() if c.request_id is not None]
    assert len(retrained) == 1 and retrained[0].parent is not None and retrained[0].excludes_requests


def test_method_specific_facts_are_kept_and_the_fixed_part_is_checked() -> None:
    record = CheckpointRecord.from_event(_event(CHECKPOINT_CREATED, {**CHECKPOINT, "group": 2, "replaces": "x"}))
    assert record.facts == {"group": 2, "replaces": "x"} and record.shard == 0 and record.seq == 7
    assert record.payload() == dict(sorted({**CHECKPOINT, "group": 2, "replaces": "x"}.items()))
    with pytest.raises(ValidationError, match="artifact_sha256"):
        CheckpointRecord.from_event(_event(CHECKPOINT_CREATED, {k: v for k, v in CHECKPOINT.items()
                                                                 if k != "artifact_sha256"}))
    with pytest.raises(ValidationError, match="n_interactions"):
        CheckpointRecord.from_event(_event(CHECKPOINT_CREATED, {**CHECKPOINT, "n_interactions": "many"}))
    with pytest.raises(ValueError, match="not checkpoint.created"):
        CheckpointRecord.from_event(_event(DEPLOYMENT_CREATED, CHECKPOINT))
    with pytest.raises(ValidationError):  # records are frozen: a reader cannot change what the ledger says
        record.seed = 3  # type: ignore[misc]
    deployment = DeploymentRecord.from_event(_event(DEPLOYMENT_CREATED, {
        "deployment_id": "laser-1", "method": "laser", "exact": True, "settings": {"method": "laser", "shards": 2},
        "data_digest": "sha256:00", "shard_sizes": [4, 6], "groups": {"order": "easy_to_hard"}}), serving=False)
    assert deployment.facts == {"groups": {"order": "easy_to_hard"}} and deployment.shard_sizes == [4, 6]
    assert not deployment.serving and deployment.created_seq == 7


def test_request_kinds_are_one_vocabulary() -> None:
    """Routing, the console's labels, the requests' scopes and the report's scope all speak ``RequestKind``."""
    kinds = {kind.value for kind in RequestKind}
    assert kinds == {"subject", "interactions", "time_window", "batch"}
    assert set(Routing.model_fields) == kinds
    assert set(SCOPE_LABELS) == set(RequestKind)
    assert set(typing.get_args(ErasureScope.model_fields["kind"].annotation)) == kinds
    scopes = {ErasureRequest(subject="1").kind, BatchErasureRequest(subjects=["1", "2"]).kind,
              ErasureRequest(subject="1", scope=ListedInteractions(items=["a"])).kind,
              ErasureRequest(subject="1", scope=TimeWindow(start="2026-03-01", end="2026-04-01")).kind}
    assert scopes == set(RequestKind)
    parsed = ErasureRequest.model_validate({"subject": "1", "scope": {"kind": "time_window", "start": "2026-03-01",
                                                                      "end": "2026-04-01"}})
    assert parsed.kind is RequestKind.TIME_WINDOW
    assert [k for k in RequestKind if k.whole_subjects] == [RequestKind.SUBJECT, RequestKind.BATCH]
    old = RequestRecord("req-1", "received", {"request_id": "req-1", "received_at": "2026-01-15T10:00:00+00:00"}, [])
    assert old.kind is RequestKind.SUBJECT  # recorded before kinds were: a whole subject


@pytest.mark.parametrize(("days_after_due", "state"), [
    (-8, DeadlineState.ON_TIME), (-7, DeadlineState.NEARLY_LATE), (0, DeadlineState.NEARLY_LATE),
    (1, DeadlineState.LATE),
])
def test_the_deadline_status_is_judged_in_one_place(days_after_due: int, state: DeadlineState) -> None:
    record = RequestRecord("req-1", "planned", {"request_id": "req-1", "kind": "subject",
                                                "received_at": "2026-01-15T10:00:00+00:00"}, [])
    deadlines = Deadlines(nearly_late_days=7)
    due = deadlines.due_date(record)
    assert due == date(2026, 2, 15)
    standing = deadlines.status(record, due + timedelta(days=days_after_due))
    assert (standing.due, standing.days_left, standing.state) == (due, -days_after_due, state)
