"""`lethe worker` runs queued requests (issue 22, point 1), tried with real processes: two workers on one workspace
run each queued request exactly once, a request queued while they poll is taken, SIGTERM stops a worker in the
middle of a run with exit 0, and the next worker resumes that request from its last recorded step.

The workspace's policy defers verification to the audit window (`audit.defer_verification`), as a busy deployment
runs: a worker's run then ends at `data_erased`, which keeps these process tests short; the SIGTERM test runs under
the default policy and goes on to certification (it stops the worker in whatever step it is, verification likely).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger import Ledger
from policies import activate_policy
from ui.services import Services
from unlearn.requests import FINAL_STATES, ErasureRequest

LETHE = str(Path(sys.executable).parent / "lethe")


def lethe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LETHE, *args], capture_output=True, text=True, timeout=120)


def start_worker(root: str, name: str) -> subprocess.Popen[str]:
    return subprocess.Popen([LETHE, "worker", "-w", root, "--name", name, "--poll", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 240.0) -> None:  # noqa: ANN001 - a zero-argument predicate
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def defer_verification(workspace: Services, tmp_path: Path) -> None:
    policy = tmp_path / "deferred.yaml"
    policy.write_text("name: deferred\naudit:\n  defer_verification: true\n")
    activate_policy(workspace.ledger, policy, role="officer", actor="test")


def file_requests(workspace: Services, n: int) -> list[str]:
    subjects = workspace.ledger.store.subjects_frame()["subject"].astype(str).tolist()
    return [workspace.engine.file(ErasureRequest(subject=s), actor="test") for s in subjects[:n]]


def test_two_workers_run_every_queued_request_once(workspace: Services, tmp_path: Path) -> None:
    defer_verification(workspace, tmp_path)
    root = str(workspace.ledger.workspace.root)
    first, second, late = file_requests(workspace, 3)
    for request_id in (first, second):
        queued = lethe("request", "queue", request_id, "-w", root, "--actor", "officer")
        assert queued.returncode == 0, queued.stderr
    workers = [start_worker(root, "w1"), start_worker(root, "w2")]
    try:
        assert lethe("request", "queue", late, "-w", root).returncode == 0  # while they poll
        ledger = Ledger.open(root)
        wait_for(lambda: all(ledger.request(r).state == "data_erased" for r in (first, second, late)))
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        logs = [worker.communicate(timeout=60)[1] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], logs
    assert all("stopped by signal" in log for log in logs)
    for request_id in (first, second, late):
        history = Ledger.open(root).request(request_id).history
        assert [e.kind for e in history].count("request.data_erased") == 1
        assert [e.kind for e in history].count("request.planned") == 1  # one run, not two racing
        assert sorted(log.count(f"{request_id} data_erased") for log in logs) == [0, 1], logs  # one worker ran it
    assert "officer" in {e.actor for e in Ledger.open(root).request(first).history if e.kind == "request.queued"}
    assert Ledger.open(root).verify().ok


def interrupted_then_resumed(workspace: Services, stop: signal.Signals, during: tuple[str, ...]) -> tuple[
        str, str, subprocess.Popen[str], str, subprocess.CompletedProcess[str]]:
    """Queue one request, signal its worker once the request is in one of ``during``, then run `worker --once`:
    (root, request id, the stopped worker, its log, the resuming run)."""
    root = str(workspace.ledger.workspace.root)
    (request_id,) = file_requests(workspace, 1)
    assert lethe("request", "queue", request_id, "-w", root).returncode == 0
    worker = start_worker(root, "first")
    ledger = Ledger.open(root)
    wait_for(lambda: ledger.request(request_id).state in during)
    worker.send_signal(stop)
    _, log = worker.communicate(timeout=60)
    assert ledger.request(request_id).state not in FINAL_STATES  # stopped mid-run, not after
    again = subprocess.run([LETHE, "worker", "-w", root, "--once"], capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    return root, request_id, worker, log, again


def test_a_worker_stopped_mid_run_exits_cleanly_and_the_next_one_resumes_the_request(workspace: Services) -> None:
    root, request_id, worker, log, again = interrupted_then_resumed(
        workspace, signal.SIGTERM, ("planned", "unlearned", "data_erased"))
    assert worker.returncode == 0 and "stopped by signal" in log, log
    record = Ledger.open(root).request(request_id)
    assert record.state == "certified", again.stderr
    assert [e.kind for e in record.history].count("request.validated") == 1  # resumed, nothing redone
    assert f"{request_id} certified" in again.stderr


def test_a_worker_killed_mid_run_leaves_a_request_the_next_worker_finishes(workspace: Services,
                                                                           tmp_path: Path) -> None:
    """SIGKILL, not SIGTERM: no handler runs, the kernel drops the locks, nothing half-recorded stays."""
    defer_verification(workspace, tmp_path)
    root, request_id, worker, _, _ = interrupted_then_resumed(workspace, signal.SIGKILL,
                                                             ("validated", "planned", "unlearned"))
    assert worker.returncode == -signal.SIGKILL
    assert Ledger.open(root).request(request_id).state == "data_erased"
    assert Ledger.open(root).verify().ok


def test_queueing_refuses_unknown_and_already_queued_requests(workspace: Services, tmp_path: Path) -> None:
    defer_verification(workspace, tmp_path)
    root = str(workspace.ledger.workspace.root)
    (request_id,) = file_requests(workspace, 1)
    unknown = lethe("request", "queue", "req-000000000000", "-w", root)
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1, unknown.stderr
    assert lethe("request", "queue", request_id, "-w", root).returncode == 0
    twice = lethe("request", "queue", request_id, "-w", root)
    assert twice.returncode == 2 and "already queued" in twice.stderr
    assert lethe("worker", "-w", root, "--once").returncode == 0
    assert Ledger.open(root).request(request_id).state == "data_erased"  # verification waits for the audit
    assert "ran 0 request(s)" in lethe("worker", "-w", root, "--once").stderr  # nor runs again before the audit
