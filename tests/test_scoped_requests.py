"""Requests narrower than a whole subject: listed items ("forget these ratings") and a time window ("forget March")."""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from ledger import RequestError
from ledger._db import transaction
from policies import Policy
from ui._queries import request_rows, request_summary
from ui.services import Services
from ui.cli import app
from unlearn.engine import ErasureEngine
from unlearn.requests import BatchErasureRequest, ErasureRequest, ListedInteractions, TimeWindow
from verify import verify_certificate_file


def _busiest(services: Services) -> tuple[str, pd.DataFrame]:
    """The subject with most interactions and their store rows (with item ids and timestamps)."""
    subjects = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    subject = str(subjects.iloc[0]["subject"])
    with transaction(services.ledger.store.path) as con:
        rows = con.execute("SELECT interaction_id, item, ts, split FROM interactions i JOIN subjects s USING (user_idx) "
                           "WHERE s.subject = ? ORDER BY ts, interaction_id", [subject]).df()
    return subject, rows


def _salt(services: Services, subject: str) -> str:
    with transaction(services.ledger.store.path) as con:
        return con.execute("SELECT salt FROM subjects WHERE subject = ?", [subject]).fetchone()[0]


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


def test_listed_items_erase_only_those_interactions_and_the_rest_stays(workspace: Services) -> None:
    ledger, engine = workspace.ledger, workspace.engine
    subject, rows = _busiest(workspace)
    listed = rows[rows["split"] == "train"]["item"].head(3).tolist()
    erased_ids = rows[rows["item"].isin(listed)]["interaction_id"].astype(int).tolist()
    salt_before = _salt(workspace, subject)

    request_id = engine.file(ErasureRequest(subject=subject, scope=ListedInteractions(items=listed)))
    record = engine.run(request_id)

    assert record.state == "certified"
    assert record.received["kind"] == "interactions" and record.received["interaction_ids"] == erased_ids
    assert not set(map(str, listed)) & set(map(str, record.received.values())), "the ledger must not name items"
    left = ledger.store.interactions(user_idx=ledger.store.subject(subject)[1])["interaction_id"].tolist()
    assert sorted(left) == sorted(set(rows["interaction_id"].astype(int)) - set(erased_ids))
    assert _salt(workspace, subject) != salt_before, "the erased rows' commitments must become unopenable"
    # the serving shard that held them no longer trains on them; the subject's other interactions still train
    lineage = ledger.subject_lineage(subject)
    in_training = {p["interaction_id"] for p in lineage["placements"] if p["serving"] and p["in_training_set"]}
    assert not in_training & set(erased_ids)
    kept_training = set(rows[rows["split"] == "train"]["interaction_id"].astype(int)) - set(erased_ids)
    assert kept_training and kept_training <= in_training
    certificate = record.require_payload("certified")
    scope = verify_certificate_file(ledger.workspace.root / certificate["json_path"], ledger.workspace.public_key_path).scope
    assert scope.kind == "interactions" and scope.interactions == len(erased_ids)
    assert scope.describe().startswith("listed interactions of the subject")
    assert ledger.verify().ok


def test_a_time_window_erases_the_subjects_interactions_inside_it(workspace: Services) -> None:
    ledger, engine = workspace.ledger, workspace.engine
    subject, rows = _busiest(workspace)
    start, end = int(rows["ts"].iloc[2]), int(rows["ts"].iloc[len(rows) // 2])
    inside = rows[(rows["ts"] >= start) & (rows["ts"] < end)]["interaction_id"].astype(int).tolist()
    assert 0 < len(inside) < len(rows)

    request_id = engine.file(ErasureRequest(subject=subject, scope=TimeWindow(start=_utc(start), end=_utc(end))))
    record = engine.run(request_id)

    assert record.state == "certified"
    assert record.received["window"] == {"start": _utc(start).isoformat(), "end": _utc(end).isoformat()}
    assert record.require_payload("planned")["interaction_ids"] == inside
    left = set(ledger.store.interactions(user_idx=ledger.store.subject(subject)[1])["interaction_id"])
    assert left == set(rows["interaction_id"].astype(int)) - set(inside)


def test_a_whole_subject_request_after_a_partial_one_plans_only_what_is_left(workspace: Services) -> None:
    ledger, engine = workspace.ledger, workspace.engine
    subject, rows = _busiest(workspace)
    listed = rows["item"].head(2).tolist()
    first = engine.file(ErasureRequest(subject=subject, scope=ListedInteractions(items=listed)))
    assert engine.run(first).state == "certified"

    with pytest.raises(RequestError, match=f"no interaction with item.*earlier erasures of this subject: {first}"):
        engine.file(ErasureRequest(subject=subject, scope=ListedInteractions(items=listed)))
    second = engine.file(ErasureRequest(subject=subject))
    record = engine.run(second)
    assert record.state == "certified"
    planned = set(record.require_payload("planned")["interaction_ids"])
    assert planned == set(rows["interaction_id"].astype(int)) - set(engine.require(first).received["interaction_ids"])
    assert ledger.store.subject(subject) is None
    with pytest.raises(RequestError, match="already erased"):
        engine.file(ErasureRequest(subject=subject))


def test_scopes_that_cover_nothing_are_refused_and_append_nothing(workspace: Services) -> None:
    engine, ledger = workspace.engine, workspace.ledger
    subject, rows = _busiest(workspace)
    events = len(ledger.log.events())
    with pytest.raises(RequestError, match="no interaction with item.*no-such-item"):
        engine.file(ErasureRequest(subject=subject, scope=ListedInteractions(items=[str(rows["item"].iloc[0]),
                                                                                     "no-such-item"])))
    before_any = _utc(int(rows["ts"].min()) - 86_400 * 30)
    with pytest.raises(RequestError, match="no interaction in the store from"):
        engine.file(ErasureRequest(subject=subject, scope=TimeWindow(start=before_any, end=_utc(int(rows["ts"].min())))))
    assert len(ledger.log.events()) == events


def test_malformed_scopes_fail_validation_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="must be before its end"):
        TimeWindow(start=datetime(2026, 4, 1), end=datetime(2026, 3, 1))
    with pytest.raises(ValidationError, match="items listed twice: 7"):
        ListedInteractions(items=["7", "8", "7"])
    with pytest.raises(ValidationError):
        ListedInteractions(items=[])
    window = TimeWindow(start=datetime(2026, 3, 1), end=datetime(2026, 4, 1))
    assert window.start.tzinfo is timezone.utc  # naive times are read as UTC


def test_the_policy_routes_each_request_kind_separately(workspace: Services) -> None:
    subject, rows = _busiest(workspace)
    policy = Policy(name="strict", routing={"interactions": "laser"})  # the workspace's deployment is SISA
    engine = ErasureEngine(workspace.ledger, policy, workspace.engine.verifier)
    with pytest.raises(RequestError, match="routes interactions requests to 'laser'"):
        engine.file(ErasureRequest(subject=subject, scope=ListedInteractions(items=[str(rows["item"].iloc[0])])))
    assert engine.file(ErasureRequest(subject=subject))  # whole-subject requests are not routed by that line


def test_a_batch_erases_several_subjects_and_retrains_each_hit_shard_once(workspace: Services) -> None:
    ledger, engine = workspace.ledger, workspace.engine
    subjects = [str(s) for s in ledger.store.subjects_frame()["subject"].iloc[:4]]
    deployment_id = ledger.serving_deployment_id()
    ids = {s: set(ledger.subject_interaction_ids(ledger.workspace.subject_ref(s))) for s in subjects}
    hit = set(ledger.shards_holding(deployment_id, sorted(set().union(*ids.values()))))

    request_id = engine.file(BatchErasureRequest(subjects=subjects, notes="four at once"))
    record = engine.run(request_id)

    assert record.state == "certified" and record.received["kind"] == "batch"
    assert record.subject_refs == [ledger.workspace.subject_ref(s) for s in subjects]
    assert set(record.require_payload("planned")["interaction_ids"]) == set().union(*ids.values())
    (unlearned,) = record.require_payload("unlearned")["deployments"]
    assert sorted(r["shard"] for r in unlearned["replaced"]) == sorted(hit)  # each hit shard once, not per subject
    assert all(ledger.store.subject(s) is None for s in subjects)
    path = ledger.workspace.root / record.require_payload("certified")["json_path"]
    certificate = verify_certificate_file(path, ledger.workspace.public_key_path)
    assert certificate.subject_refs == record.subject_refs and certificate.scope.subjects == 4
    with pytest.raises(RequestError, match=f"subject {subjects[2]!r} already erased by request {request_id}"):
        engine.file(ErasureRequest(subject=subjects[2]))


def test_a_batch_naming_a_subject_of_an_open_request_is_refused_with_that_subject(workspace: Services) -> None:
    engine = workspace.engine
    subjects = [str(s) for s in workspace.ledger.store.subjects_frame()["subject"].iloc[:3]]
    open_id = engine.file(ErasureRequest(subject=subjects[1]))
    events = len(workspace.ledger.log.events())
    with pytest.raises(RequestError, match=f"request {open_id} for subject {subjects[1]!r} is already open"):
        engine.file(BatchErasureRequest(subjects=subjects))
    with pytest.raises(ValidationError, match="subjects listed twice"):
        BatchErasureRequest(subjects=[subjects[0], subjects[0]])
    (flag,) = workspace.ledger.log.events()[events:]  # only the duplicate noted on the open request (issue 23)
    assert flag.kind == "request.duplicate_received" and flag.payload["request_id"] == open_id


def test_the_cli_files_each_kind_and_refuses_mixed_options(workspace: Services) -> None:
    root = str(workspace.ledger.workspace.root)
    subject, rows = _busiest(workspace)
    others = [str(s) for s in workspace.ledger.store.subjects_frame()["subject"].iloc[:2] if str(s) != subject]

    def lethe(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, [*args, "--workspace", root])
        return result.exit_code, result.output

    code, output = lethe("request", "file", "--subject", subject, "--item", str(rows["item"].iloc[0]))
    assert code == 0 and engine_kind(workspace, output.strip()) == "interactions"
    code, output = lethe("request", "file", "--subject", others[0], "--item", "x", "--from", "2026-03-01")
    assert code == 2 and "not both" in output
    code, output = lethe("request", "file", "--subject", others[0], "--from", "2026-03-01")
    assert code == 2 and "both --from and --until" in output
    code, output = lethe("request", "file", *(a for s in others for a in ("--subject", s)))
    assert code == 0 and engine_kind(workspace, output.strip()) == "batch"
    first = request_summary(workspace.ledger, workspace.policy, workspace.ledger.requests()[0].request_id)
    assert first["scope"].startswith("listed interactions: 1 of the subject's interactions")
    scopes = {row["scope"] for row in request_rows(workspace.ledger, workspace.policy)}
    assert scopes == {"listed interactions", "batch of subjects (2)"}  # what `lethe request list` shows


def engine_kind(services: Services, request_id: str) -> str:
    return services.engine.require(request_id).received["kind"]
