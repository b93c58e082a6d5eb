"""Requests touching one deployment take turns: two `lethe request run` processes on subjects of the same shard
both certify, and the shard's serving checkpoint trains on neither subject (issue 20, point 1).

Before the deployments lock, both processes retrained the shard from the same checkpoint, so the later one's
checkpoint still held the other subject's data (an erased subject served again) and that request ended failed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ledger import Ledger, RequestError
from tests.test_crash_recovery import KILL_AFTER_EVENT
from ui.cli import app
from ui.services import Services
from unlearn.methods import MethodSettings, get_method
from unlearn.methods._sharded import ShardJob
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest

LETHE = str(Path(sys.executable).parent / "lethe")


def _two_subjects_of_one_shard(services: Services) -> tuple[str, str, int]:
    """Two subjects whose interactions all trained the same shard of the serving deployment, and that shard."""
    ledger = services.ledger
    deployment_id = ledger.serving_deployment_id()
    by_shard: dict[int, list[str]] = {}
    for subject in services.ledger.store.subjects_frame()["subject"].astype(str):
        ids = ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject))
        shards = list(ledger.shards_holding(deployment_id, ids))
        if len(shards) == 1:
            by_shard.setdefault(shards[0], []).append(subject)
            if len(by_shard[shards[0]]) == 2:
                return *by_shard[shards[0]], shards[0]
    raise AssertionError("no shard trained two whole subjects")


def test_two_runs_at_once_on_one_shard_certify_both_and_resurrect_neither(workspace: Services) -> None:
    first, second, shard = _two_subjects_of_one_shard(workspace)
    root = str(workspace.ledger.workspace.root)
    request_ids = [workspace.engine.file(ErasureRequest(subject=s), actor="test") for s in (first, second)]
    runs = [subprocess.Popen([LETHE, "request", "run", rid, "--workspace", root], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for rid in request_ids]
    outputs = [run.communicate(timeout=240)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    ledger = Ledger.open(root)
    assert [ledger.request(rid).state for rid in request_ids] == ["certified", "certified"]
    deployment_id = ledger.serving_deployment_id()
    serving = ledger.live_checkpoints(deployment_id)[shard]
    trained_on = get_method(ledger.deployment(deployment_id).method).training_ids(ledger, serving)
    erased = np.fromiter(ledger.erased_interaction_ids(request_ids), dtype=np.int64)
    assert len(erased) and not np.isin(erased, trained_on).any()
    assert set(serving.excludes_requests) >= set(request_ids)
    # the two took turns: the second retrain started from the first's checkpoint, not from the one both planned on
    retrained = [c for c in ledger.checkpoints(deployment_id) if c.shard == shard and c.request_id in request_ids]
    assert len(retrained) == 2 and retrained[1].parent == retrained[0].checkpoint_id
    assert ledger.verify().ok


def test_a_request_id_that_is_a_path_is_refused_with_one_line_and_no_file(workspace: Services,
                                                                           tmp_path: Path) -> None:
    root = workspace.ledger.workspace.root
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    for command in (["request", "run"], ["request", "retry"]):
        result = CliRunner().invoke(app, [*command, "../../victim", "--workspace", str(root)])
        assert result.exit_code == 2, result.output
        assert len(result.output.strip().splitlines()) == 1 and "victim" in result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not (root.parent / "victim.lock").exists() and not (root / "victim.lock").exists()


def test_a_request_failed_by_a_resurrecting_forget_is_re_planned_by_retry_and_certifies(workspace: Services) -> None:
    """The state the race left before the lock (a stale forget's checkpoint, trained on the subject's rows, serving
    after their request recorded ``unlearned``; the request then failed its lineage proof): `request run` says how to
    go on, `request retry --run` re-plans it against what serves and certifies it; re-filing names that way too."""
    first, _, shard = _two_subjects_of_one_shard(workspace)
    ledger, engine = workspace.ledger, workspace.engine
    request_id = engine.file(ErasureRequest(subject=first), actor="test")
    root = ledger.workspace.root
    script = textwrap.dedent(KILL_AFTER_EVENT.format(point="request.unlearned")) + (
        f"import sys\nfrom ui.cli import app\n"
        f"sys.argv = ['lethe', 'request', 'run', {request_id!r}, '--workspace', {str(root)!r}]\napp()\n")
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300).returncode == -9
    deployment_id = ledger.serving_deployment_id()
    sisa = get_method("sisa")
    settings = MethodSettings(**ledger.deployment(deployment_id).settings)
    parent = ledger.live_checkpoints(deployment_id)[shard]
    stale = ShardJob(shard, sisa._checkpoint_training_set(ledger, deployment_id, shard, []), parent.checkpoint_id,
                     [], parent.seed)  # the other request's forget, from the checkpoint both had planned on
    sisa._train_checkpoints(ledger, deployment_id, settings, [stale], "stale", no_progress, "test")
    stale_id = ledger.live_checkpoints(deployment_id)[shard].checkpoint_id

    assert engine.run(request_id, actor="test").state == "failed"
    rerun = subprocess.run([LETHE, "request", "run", request_id, "--workspace", str(root)], capture_output=True,
                           text=True, timeout=300)
    assert rerun.returncode == 2 and f"lethe request retry {request_id} --run" in rerun.stderr
    assert "resumes from planned" in rerun.stderr
    with pytest.raises(RequestError, match=f"lethe request retry {request_id} --run"):
        engine.file(ErasureRequest(subject=first), actor="test")

    assert engine.retry(request_id, actor="rosa").state == "planned"
    record = engine.run(request_id, actor="rosa")
    assert record.state == "certified"
    assert record.require_payload("planned")["rebased"] == [{"deployment_id": deployment_id, "shard": shard}]
    serving = ledger.live_checkpoints(deployment_id)[shard]
    erased = np.fromiter(ledger.erased_interaction_ids([request_id]), dtype=np.int64)
    assert serving.parent == stale_id and not np.isin(erased, sisa.training_ids(ledger, serving)).any()
    assert ledger.verify().ok
