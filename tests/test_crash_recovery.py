"""SIGKILL at every step of an erasure: `lethe request run` resumes to the same end, nothing lost or done twice."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from ledger import REQUEST_STATISTICALLY_VERIFIED, Ledger
from tests.conftest import build_workspace
from ui.services import open_services
from unlearn.lifecycle import statistics_pending
from unlearn.requests import ErasureRequest

KILL_AFTER_EVENT = """
import os, signal
from ledger._events import EventLog
append = EventLog.append
def killing_append(self, kind, *args, **kwargs):
    event = append(self, kind, *args, **kwargs)
    if kind == {point!r}:
        os.kill(os.getpid(), signal.SIGKILL)
    return event
EventLog.append = killing_append
"""

KILL_IN_STORE_REWRITE = """
import os, signal
from ledger._store import InteractionStore
def killing_compact(self):
    os.kill(os.getpid(), signal.SIGKILL)
InteractionStore.compact = killing_compact
"""

RUN = """
import sys
from ui.cli import app
sys.argv = ["lethe", "request", "run", {request_id!r}, "--workspace", {workspace!r}]
app()
"""

AUDIT = """
import sys
from ui.cli import app
sys.argv = ["lethe", "audit", "run", "--workspace", {workspace!r}]
app()
"""


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "ws"
    build_workspace(root, n_users=100, n_items=60)
    return root


def _run_killed(workspace: Path, request_id: str, injection: str) -> int:
    script = textwrap.dedent(injection) + RUN.format(request_id=request_id, workspace=str(workspace))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, cwd=Path(__file__).parents[1]).returncode


@pytest.mark.parametrize("kill", [
    "request.validated", "request.planned", "checkpoint.created", "request.unlearned", "request.data_erased",
    "request.verified", "store rewrite",
])
def test_sigkill_then_resume_reaches_the_same_end_state(prepared: Path, tmp_path: Path, kill: str) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(prepared, workspace)
    services = open_services(workspace)
    subject = str(services.ledger.store.subjects_frame().iloc[5]["subject"])
    request_id = services.engine.file(ErasureRequest(subject=subject))

    injection = KILL_IN_STORE_REWRITE if kill == "store rewrite" else KILL_AFTER_EVENT.format(point=kill)
    assert _run_killed(workspace, request_id, injection) == -9  # really killed
    assert Ledger.open(workspace).request(request_id).state != "certified"

    record = open_services(workspace).engine.run(request_id)
    ledger = Ledger.open(workspace)
    assert record.state == "certified"
    states = Counter(e.kind for e in record.history)
    assert all(count == 1 for count in states.values()), states  # no step recorded twice
    retrained = [c for c in ledger.checkpoints() if c.request_id == request_id]
    replaced = [r for d in record.require_payload("unlearned")["deployments"] for r in d["replaced"]]
    assert len(retrained) == len(replaced) == 1  # the hit shard was trained once, not once per attempt
    assert ledger.store.subject(subject) is None
    assert statistics_pending(record) and not ledger.store.escrowed(request_id).empty  # kept for the follow-up
    open_services(workspace).engine.verify_statistically(request_id)
    assert Ledger.open(workspace).store.escrowed(request_id).empty
    assert ledger.verify().ok


def test_sigkill_after_the_statistical_follow_up_is_recorded_the_next_call_only_shreds(prepared: Path,
                                                                                      tmp_path: Path) -> None:
    """The audit dies between recording a request's passing follow-up and shredding what it measured: the next
    audit (or call) shreds, and verifies nothing twice."""
    workspace = tmp_path / "ws"
    shutil.copytree(prepared, workspace)
    services = open_services(workspace)
    request_id = services.engine.file(ErasureRequest(subject=str(services.ledger.store.subjects_frame().iloc[5]["subject"])))
    assert services.engine.run(request_id).state == "certified"

    script = textwrap.dedent(KILL_AFTER_EVENT.format(point=REQUEST_STATISTICALLY_VERIFIED)) + AUDIT.format(
        workspace=str(workspace))
    assert subprocess.run([sys.executable, "-c", script], capture_output=True,
                          cwd=Path(__file__).parents[1]).returncode == -9
    record = Ledger.open(workspace).request(request_id)
    follow_up = record.require_payload("statistically_verified")
    assert follow_up["passed"] and not Ledger.open(workspace).store.escrowed(request_id).empty  # killed before shredding

    record = open_services(workspace).engine.verify_statistically(request_id)
    assert Ledger.open(workspace).store.escrowed(request_id).empty
    assert sum(e.kind == REQUEST_STATISTICALLY_VERIFIED for e in record.history) == 1
    assert Ledger.open(workspace).verify().ok
