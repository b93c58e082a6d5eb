"""Shards and verification references as Ray tasks, on a real local Ray (issue 24, points 1-2): the same bytes as in
this process, train/erase/verify/audit through the CLI's ``--executor ray``, and a worker process killed mid-task
retried by Ray with the request certified once.

Ray starts once for the module (two CPUs, no dashboard). Without Ray installed the module skips, unless
``LETHE_REQUIRE_RAY`` is set, as in CI (``.ci/run`` installs the ``ray`` extra): then it fails.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from ledger import CHECKPOINT_CREATED, Ledger
from tests.conftest import FAST_BPR, build_workspace
from ui.cli import app
from ui.services import Services, open_services
from unlearn.executor import EXECUTOR_VARIABLE, RAY_ADDRESS_VARIABLE, SerialExecutor, default_executor
from unlearn.methods import MethodSettings, get_method
from unlearn.progress import no_progress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify import ReferenceModels

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[Any]:
    """A local Ray for the module: two CPUs, no dashboard; this module's helpers travel to the workers by value."""
    try:
        import ray
    except ImportError as exc:
        message = f"ray is not installed ({exc}); pip install -e '.[ray]'"
        if os.environ.get("LETHE_REQUIRE_RAY"):
            pytest.fail(message)
        pytest.skip(message)
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _executor_environment_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's --executor sets LETHE_EXECUTOR in this process; put both variables back as they were after every
    test (``delenv`` of an absent variable records nothing to restore), or later tests' worker processes run Ray."""
    for name in (EXECUTOR_VARIABLE, RAY_ADDRESS_VARIABLE):
        monkeypatch.setenv(name, "local")
        monkeypatch.delenv(name)


@pytest.fixture
def on_ray(ray_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``LETHE_EXECUTOR=ray`` for one test (restored after it), on the module's Ray."""
    monkeypatch.setenv(EXECUTOR_VARIABLE, "ray")
    monkeypatch.delenv(RAY_ADDRESS_VARIABLE, raising=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small workspace with a serving 3-shard SISA deployment trained in this process (the serial executor)."""
    root = tmp_path_factory.mktemp("ray") / "ws"
    build_workspace(root)
    return root


def _copy(trained: Path, tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(trained, root)
    return root


def _subject(services: Services, rank: int = 0) -> str:
    subjects = services.ledger.store.subjects_frame().sort_values("interactions", ascending=False)
    return str(subjects.iloc[rank]["subject"])


def _shas(ledger: Ledger, deployment_id: str) -> dict[int, str]:
    return {shard: c.artifact_sha256 for shard, c in sorted(ledger.live_checkpoints(deployment_id).items())}


def test_the_environment_chooses_ray_and_an_unknown_executor_is_refused(on_ray: None,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from unlearn._ray import RayShardExecutor

    assert isinstance(default_executor(), RayShardExecutor)
    monkeypatch.setenv(EXECUTOR_VARIABLE, "dask")
    with pytest.raises(ValueError, match="LETHE_EXECUTOR must be one of local, ray, got 'dask'"):
        default_executor()
    monkeypatch.delenv(EXECUTOR_VARIABLE)
    assert isinstance(default_executor(), SerialExecutor)


def test_shards_trained_as_ray_tasks_are_the_bytes_trained_here(trained: Path, on_ray: None, tmp_path: Path) -> None:
    from unlearn._ray import RayShardExecutor

    ledger = open_services(_copy(trained, tmp_path)).ledger
    settings = MethodSettings(method="sisa", shards=3, seed=0, model=FAST_BPR)
    on_ray_deployment = get_method("sisa").with_executor(RayShardExecutor()).fit(ledger, settings, no_progress, "t")
    assert _shas(ledger, on_ray_deployment.deployment_id) == _shas(ledger, ledger.serving_deployment_id())
    assert all(c.train_seconds > 0 for c in on_ray_deployment.checkpoints.values())


def test_reference_retrains_as_ray_tasks_are_the_models_trained_in_threads(
    trained: Path, on_ray: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ledger = Ledger.open(trained)
    remaining = Interactions.from_store(ledger, "train")
    config = MethodSettings(method="sisa", model=FAST_BPR).model_config_object()

    def references() -> ReferenceModels:
        return ReferenceModels.train("d", "bpr", config, 7, remaining, calibration_retrains=3)

    on_ray = references()
    monkeypatch.delenv(EXECUTOR_VARIABLE)
    here = references()
    (tmp_path / "ray").mkdir(), (tmp_path / "here").mkdir()
    assert on_ray.save(tmp_path / "ray") == here.save(tmp_path / "here")
    for a, b in zip((on_ray.damaged, *on_ray.calibration), (here.damaged, *here.calibration)):
        assert all(np.array_equal(a.to_arrays()[k], b.to_arrays()[k]) for k in a.to_arrays())
    np.testing.assert_array_equal(on_ray.attack.item_vectors, here.attack.item_vectors)


def test_train_erase_verify_and_audit_through_the_cli_on_ray(trained: Path, ray_runtime: Any,
                                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(EXECUTOR_VARIABLE, raising=False)  # the CLI sets it; restored after the test
    monkeypatch.delenv(RAY_ADDRESS_VARIABLE, raising=False)
    root = _copy(trained, tmp_path)
    ws = ["-w", str(root)]
    trained_cli = runner.invoke(app, ["train", "--shards", "2", "--epochs", "2", "--no-serve", "--executor", "ray",
                                      *ws])
    assert trained_cli.exit_code == 0, trained_cli.output
    assert os.environ[EXECUTOR_VARIABLE] == "ray"
    services = open_services(root)
    request_id = services.engine.file(ErasureRequest(subject=_subject(services)))
    ran = runner.invoke(app, ["request", "run", request_id, "--executor", "ray", *ws])
    assert ran.exit_code == 0, ran.output
    assert f"{request_id}: certified" in ran.output
    audited = runner.invoke(app, ["audit", "run", "--executor", "ray", "--json", *ws])
    assert audited.exit_code == 0, audited.output
    ledger = Ledger.open(root)
    follow_up = ledger.request(request_id).require_payload("statistically_verified")
    assert follow_up["passed"], follow_up
    assert ledger.verify().ok


def test_refused_executor_options_say_why(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EXECUTOR_VARIABLE, raising=False)
    result = runner.invoke(app, ["request", "run", "req-x", "--executor", "spark", "-w", str(trained)])
    assert result.exit_code == 2 and "unknown executor 'spark'; known: local, ray" in result.output
    result = runner.invoke(app, ["audit", "run", "--executor", "local", "--ray-address", "auto", "-w", str(trained)])
    assert result.exit_code == 2 and "needs the ray executor" in result.output


def test_an_address_nobody_listens_on_fails_at_once_in_one_line(ray_runtime: Any) -> None:
    from unlearn._ray import RayUnreachable, _reachable

    started = time.monotonic()
    with pytest.raises(RayUnreachable, match="cannot join the Ray cluster at 127.0.0.1:1: "):
        _reachable("127.0.0.1:1")
    assert time.monotonic() - started < 5
    _reachable("auto")  # Ray resolves it


class _DiesOnce:
    """Wraps a task function: the first attempt writes its worker's pid to ``marker`` and waits to be killed; later
    attempts (Ray's retry) train, recording their pid beside it."""

    def __init__(self, function: Callable[[Any], Any], marker: Path) -> None:
        self.function, self.marker = function, marker

    def __call__(self, task: Any) -> Any:
        if not self.marker.exists():
            staged = self.marker.with_suffix(".tmp")
            staged.write_text(str(os.getpid()))
            staged.rename(self.marker)
            time.sleep(120)  # killed long before
            raise RuntimeError("the test never killed this worker")
        self.marker.with_suffix(".retry").write_text(str(os.getpid()))
        return self.function(task)


class _KillableRay:
    """The Ray executor with its tasks wrapped in :class:`_DiesOnce`."""

    def __init__(self, marker: Path) -> None:
        from unlearn._ray import RayShardExecutor

        self.ray, self.marker = RayShardExecutor(), marker

    def map(self, function: Callable[[Any], Any], tasks: Sequence[Any]) -> Iterator[Any]:
        return self.ray.map(_DiesOnce(function, self.marker), tasks)


def _kill_when_marked(marker: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if marker.exists():
        pid = int(marker.read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)


def test_worker_killed_mid_shard_is_retried_by_ray_and_the_request_certifies_once(
    trained: Path, on_ray: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = open_services(_copy(trained, tmp_path))
    marker = tmp_path / "worker.pid"
    monkeypatch.setattr("unlearn.methods._sharded.default_executor", lambda: _KillableRay(marker))
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_marked, args=(marker, killed), daemon=True)
    killer.start()
    request_id = services.engine.file(ErasureRequest(subject=_subject(services)))
    record = services.engine.run(request_id)
    killer.join(timeout=5)

    assert killed and int(marker.with_suffix(".retry").read_text()) != killed[0]  # a fresh worker ran the retry
    assert record.state == "certified"
    ledger = services.ledger
    assert [e.kind for e in record.history].count("request.certified") == 1
    retrained = [e for e in ledger.log.events([CHECKPOINT_CREATED]) if e.payload.get("request_id") == request_id]
    assert len(retrained) == 1  # the killed attempt recorded nothing; the retry once
    record = services.engine.verify_statistically(request_id)
    assert record.require_payload("statistically_verified")["passed"]
    assert ledger.verify().ok


def test_a_worker_on_ray_from_the_environment_stops_cleanly_on_sigterm(trained: Path, tmp_path: Path) -> None:
    """`LETHE_EXECUTOR=ray lethe worker` joins Ray at its first task, after it set its own SIGTERM handler; Ray's
    init replaced it and a SIGTERM aborted the worker (exit -6). It must stop as any worker does (exit 0)."""
    from ui.worker import queue_request

    root = _copy(trained, tmp_path)
    services = open_services(root)
    request_id = services.engine.file(ErasureRequest(subject=_subject(services)))
    queue_request(services, request_id, "test")
    env = {**os.environ, EXECUTOR_VARIABLE: "ray"}
    env.pop(RAY_ADDRESS_VARIABLE, None)
    worker = subprocess.Popen([sys.executable, "-m", "ui.cli", "worker", "-w", str(root), "--poll", "0.5"],
                              env=env, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        deadline = time.monotonic() + 300
        while Ledger.open(root).request(request_id).state != "certified" and time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()[1]
            time.sleep(1)
        assert Ledger.open(root).request(request_id).state == "certified"
    finally:
        worker.send_signal(signal.SIGTERM)
        log = worker.communicate(timeout=120)[1]
    assert worker.returncode == 0, log
