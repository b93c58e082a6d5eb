"""A `lethe train` killed half-way blocks nothing: erasures plan against complete deployments only, re-running the
same command finishes the deployment without what was erased meanwhile, and `lethe deployment retire` gives one up
as a recorded event (issue 20, point 2)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

from ledger import DEPLOYMENT_RETIRED, Ledger, RequestError
from tests.test_crash_recovery import KILL_AFTER_EVENT
from ui.cli import app
from ui.services import Services, open_services
from unlearn.artifacts import has_artifact
from unlearn.methods import get_method
from unlearn.requests import ErasureRequest

TRAIN = ["train", "--method", "sisa", "--shards", "3", "--epochs", "2", "--seed", "7", "--no-serve"]
runner = CliRunner()


def _lethe(root: Path, *args: str) -> Result:
    """The CLI run in this process (a subprocess each would cost seconds of imports)."""
    return runner.invoke(app, [*args, "--workspace", str(root)])


@pytest.fixture(scope="module")
def interrupted_template(trained_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small trained workspace after a real `lethe train` process was SIGKILLed as soon as its first shard
    checkpoint was recorded (1/3 shards); tests get copies."""
    root = tmp_path_factory.mktemp("interrupted") / "ws"
    shutil.copytree(trained_workspace_template, root)
    script = textwrap.dedent(KILL_AFTER_EVENT.format(point="checkpoint.created")) + (
        f"import sys\nfrom ui.cli import app\nsys.argv = ['lethe', *{TRAIN!r}, '--workspace', {str(root)!r}]\napp()\n")
    assert subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=300).returncode == -9
    return root


@pytest.fixture
def interrupted(interrupted_template: Path, tmp_path: Path) -> tuple[Services, str]:
    """A copy of the interrupted workspace and the id of its half-trained deployment."""
    root = tmp_path / "ws"
    shutil.copytree(interrupted_template, root)
    services = open_services(root)
    deployment_id = services.ledger.deployments()[-1].deployment_id
    assert len(services.ledger.live_checkpoints(deployment_id)) == 1
    return services, deployment_id


def _subject_in_shard(ledger: Ledger, deployment_id: str, shard: int) -> str:
    for subject in ledger.store.subjects_frame()["subject"].astype(str):
        ids = ledger.subject_interaction_ids(ledger.workspace.subject_ref(subject))
        if set(ledger.shards_holding(deployment_id, ids)) == {shard}:
            return subject
    raise AssertionError(f"no subject trained only shard {shard}")


def test_an_erasure_during_an_interrupted_training_certifies_and_rerunning_train_finishes_it_without_the_subject(
        interrupted: tuple[Services, str]) -> None:
    workspace, interrupted = interrupted
    root = workspace.ledger.workspace.root
    subject = _subject_in_shard(workspace.ledger, interrupted, 0)  # in the one shard trained before the kill

    request_id = workspace.engine.file(ErasureRequest(subject=subject), actor="test")
    record = workspace.engine.run(request_id, actor="test")
    assert record.state == "certified"
    assert interrupted not in {d["deployment_id"] for d in record.require_payload("planned")["deployments"]}

    count = len(workspace.ledger.deployments())
    resumed = _lethe(root, *TRAIN)
    assert resumed.exit_code == 0 and f"trained {interrupted}" in resumed.stdout, resumed.output
    ledger = Ledger.open(root)
    assert len(ledger.deployments()) == count  # finished, not started again
    live = ledger.live_checkpoints(interrupted)
    assert sorted(live) == [0, 1, 2]
    erased = np.fromiter(ledger.erased_interaction_ids([request_id]), dtype=np.int64)
    method = get_method("sisa")
    assert all(not np.isin(erased, method.training_ids(ledger, c)).any() for c in live.values())
    assert live[0].parent is not None and request_id in live[0].excludes_requests  # shard 0 retrained without them
    assert ledger.verify().ok


def test_an_interrupted_training_is_retired_as_a_recorded_event_and_its_files_shredded(
        interrupted: tuple[Services, str]) -> None:
    workspace, interrupted = interrupted
    root = workspace.ledger.workspace.root
    artifacts = [c.artifact_sha256 for c in workspace.ledger.checkpoints(interrupted)]

    serving = workspace.ledger.serving_deployment_id()
    refused = _lethe(root, "deployment", "retire", serving)
    assert refused.exit_code == 2 and "is complete" in refused.output
    unknown = _lethe(root, "deployment", "retire", "sisa-nope")
    assert unknown.exit_code == 2 and len(unknown.output.strip().splitlines()) == 1

    retired = _lethe(root, "deployment", "retire", interrupted, "--reason", "killed during a deploy")
    assert retired.exit_code == 0, retired.output
    ledger = Ledger.open(root)
    event = ledger.log.events([DEPLOYMENT_RETIRED])[-1]
    assert event.payload["deployment_id"] == interrupted and event.payload["reason"] == "killed during a deploy"
    assert event.payload["live_shards"] == 1 and event.actor == "cli"
    assert interrupted not in {d.deployment_id for d in ledger.deployments()}
    assert not any(has_artifact(ledger.workspace.artifacts_dir, sha) for sha in artifacts)
    assert _lethe(root, "ledger", "verify").exit_code == 0
    with pytest.raises(RequestError, match="unknown deployment"):
        workspace.engine.retire(interrupted, "twice")
