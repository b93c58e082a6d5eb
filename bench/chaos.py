"""Chaos: real `lethe request run` processes over shared shards, SIGKILLed at random moments and restarted.

A small CSV data set whose erasure subjects have ids and items no other file could hold by chance, a SISA deployment
with few shards (so several subjects share one), every subject filed as a whole-subject request. Then a driver keeps
``--workers`` `lethe request run` processes going (a random open request each, sometimes one already running), and
SIGKILLs a share of them (``--kill-share``) at a random moment of their run; a killed run is started again on the
next tick. Meanwhile, and at the end, it checks the invariants (issue 20):

- **no resurrection:** no serving checkpoint of a complete deployment trains on an interaction id of a request
  that recorded ``unlearned`` (checked every tick while processes run, and at the end);
- **no stale forget:** every shard's checkpoints form one chain, each the child of the one serving before it,
  excluding at least what its parent excluded;
- **every request answered:** certified, or failed with a reason and then re-run with `lethe request retry --run`;
  runs end with exit 0, a kill, or one of Lethe's expected one-line refusals (never a traceback);
- **`lethe ledger verify` and `lethe audit run` pass**, and **a byte scan** of the workspace finds no erased
  subject's id or items.

    python bench/chaos.py                                          # 12 requests, 3 workers, half the runs killed
    python bench/chaos.py --requests 6 --workers 3 --defer --no-append

``--defer`` activates a policy with ``audit.defer_verification``: runs stop at ``data_erased`` and the final
`lethe audit run` verifies and certifies them together (what the test in the suite does, to stay short).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
LETHE = str(Path(sys.executable).parent / "lethe")
EXPECTED_REFUSALS = ("is being worked on by another process", "reason:", "nothing to run")
"""What a run may end with besides success or a kill: another process has the request, verification did not pass,
or the request was finished by another run meanwhile."""
FAST_BPR = {"epochs": 3, "embedding_size": 16, "batch_size": 1024}
CHECK_EVERY = 2.0
"""Seconds between two checks of the serving checkpoints while runs go on."""


def subject_id(k: int) -> str:
    return f"zq-chaos-subject-{k:02d}"


def secret_items(k: int) -> list[str]:
    """Items only subject ``k`` interacted with: their names in any file would be the subject's data."""
    return [f"zq-chaos-item-{k:02d}-{j}" for j in range(3)]


def build_workspace(root: Path, subjects: int, shards: int = 2, seed: int = 0, defer: bool = False) -> list[str]:
    """A workspace with ~60 ordinary users, ``subjects`` erasure subjects and a serving SISA deployment; every
    subject filed as a whole-subject request. Returns the request ids."""
    from ui.services import open_services
    from unlearn.data import load_source
    from unlearn.ingest import ingest
    from unlearn.methods import MethodSettings, get_method, set_serving
    from unlearn.progress import no_progress
    from unlearn.requests import ErasureRequest

    rng = np.random.default_rng(seed)
    rows = [(f"user{u:03d}", f"movie{i:02d}", float(rng.integers(1, 6)), 1_600_000_000 + 1000 * u + int(i))
            for u in range(60) for i in rng.choice(40, 12, replace=False)]
    for k in range(subjects):
        rows += [(subject_id(k), item, 5.0, 1_500_000_000 + 100 * k + j) for j, item in enumerate(secret_items(k))]
        rows += [(subject_id(k), f"movie{i:02d}", 4.0, 1_500_000_050 + 100 * k + int(i))
                 for i in rng.choice(40, 8, replace=False)]
    with tempfile.TemporaryDirectory() as tmp:  # the export is the user's file, not the workspace's
        csv = Path(tmp) / "events.csv"
        pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]).to_csv(csv, index=False)
        services = open_services(root)
        ingest(services.ledger, load_source("csv", csv), split_seed=seed)
    deployment = get_method("sisa").fit(
        services.ledger, MethodSettings(method="sisa", shards=shards, seed=seed, model=FAST_BPR), no_progress, "chaos")
    set_serving(services.ledger, deployment.deployment_id)
    if defer:
        policy = root.parent / "chaos-policy.yaml"
        text = (REPO / "policies" / "default.yaml").read_text()
        policy.write_text(text.replace("defer_verification: false", "defer_verification: true"))
        subprocess.run([LETHE, "policy", "activate", str(policy), "--workspace", str(root)], check=True,
                       capture_output=True)
        services = open_services(root)
    return [services.engine.file(ErasureRequest(subject=subject_id(k)), actor="chaos") for k in range(subjects)]


@dataclass
class ChaosResult:
    """What a chaos run did and every invariant it saw broken (``violations`` must stay empty)."""

    requests: int
    runs: int = 0
    kills: int = 0
    checks: int = 0
    retried: int = 0
    seconds: float = 0.0
    exits: Counter = field(default_factory=Counter)
    states: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)


def serving_violations(root: Path) -> list[str]:
    """Erased ids in serving checkpoints: for every request that recorded ``unlearned`` (read first, so a later
    forget cannot race the check), every live checkpoint of every complete deployment must exclude its ids."""
    from ledger import Ledger
    from unlearn.lifecycle import complete_deployments
    from unlearn.methods import get_method

    ledger = Ledger.open(root)
    unlearned = {r.request_id: np.asarray(r.require_payload("planned")["interaction_ids"], dtype=np.int64)
                 for r in ledger.requests() if r.payload("unlearned") is not None}
    found = []
    for deployment in complete_deployments(ledger):
        method = get_method(deployment.method)
        for checkpoint in ledger.live_checkpoints(deployment.deployment_id).values():
            trained = method.training_ids(ledger, checkpoint)
            found += [f"{checkpoint.checkpoint_id} serves {rid}'s erased data"
                      for rid, ids in unlearned.items() if np.isin(ids, trained).any()]
    return found


def chain_violations(root: Path) -> list[str]:
    """Every shard's checkpoints, in ledger order, each the child of the one before and excluding what it did."""
    from ledger import Ledger

    ledger = Ledger.open(root)
    found = []
    for deployment in ledger.deployments():
        by_shard: dict[int, list] = {}
        for checkpoint in ledger.checkpoints(deployment.deployment_id):
            by_shard.setdefault(checkpoint.shard, []).append(checkpoint)
        for chain in by_shard.values():
            for parent, child in itertools.pairwise(chain):
                if child.parent != parent.checkpoint_id or not set(parent.excludes_requests) <= set(
                        child.excludes_requests):
                    found.append(f"{child.checkpoint_id} forgot from {child.parent}, not from {parent.checkpoint_id}")
    return found


def byte_hits(root: Path, subjects: list[int]) -> list[str]:
    """Workspace files that still hold an erased subject's id or one of their items, byte for byte."""
    patterns = [p.encode() for k in subjects for p in (subject_id(k), *secret_items(k))]
    return [f"{path.relative_to(root)} holds {pattern.decode()}"
            for path in root.rglob("*") if path.is_file()
            for pattern in patterns if pattern in path.read_bytes()]


def _lethe(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LETHE, *args, "--workspace", str(root)], capture_output=True, text=True, timeout=900)


@dataclass
class _Run:
    """One `lethe request run` process: its request, stderr file, start, and when it is to be killed (if at all)."""

    process: subprocess.Popen[str]
    request_id: str
    log: Path
    started: float
    kill_at: float | None


def run_chaos(root: Path, request_ids: list[str], workers: int, kill_share: float, budget: float, seed: int,
              defer: bool) -> ChaosResult:
    """Drive the runs until every request is done (or the budget is spent: a violation), then check everything the
    module's docstring lists. Each run is SIGKILLed with probability ``kill_share``, at a moment drawn uniformly
    over the duration of a typical run so far (the median of the unkilled ones: machine load changes it), so kills
    land in every step — import, waiting for the lock, forgetting, erasing, verifying — and every request still
    finishes."""
    from ledger import Ledger

    rng = random.Random(seed)
    result = ChaosResult(requests=len(request_ids))
    done_states = {"certified", "failed", "rejected"} | ({"data_erased"} if defer else set())
    running: list[_Run] = []
    durations = [10.0]
    next_check = 0.0
    logs = Path(tempfile.mkdtemp(prefix="chaos-logs-"))
    started = time.monotonic()

    def reap(run: _Run, killed: bool) -> None:
        code = run.process.wait()
        running.remove(run)
        result.exits["killed" if killed else code] += 1
        if killed:
            return
        durations.append(time.monotonic() - run.started)
        stderr = run.log.read_text()
        if code != 0 and ("Traceback" in stderr or not any(r in stderr for r in EXPECTED_REFUSALS)):
            result.violations.append(f"run of {run.request_id} exited {code}: {stderr.strip()[-300:]}")

    while True:
        for run in [r for r in running if r.process.poll() is not None]:
            reap(run, killed=False)
        states = {r.request_id: r.state for r in Ledger.open(root).requests()}  # one read a tick
        open_ids = [rid for rid in request_ids if states[rid] not in done_states]
        if not open_ids and not running:
            break
        if time.monotonic() - started > budget:
            result.violations.append(f"budget of {budget:.0f} s spent with {len(open_ids)} request(s) open")
            result.violations += [f"run of {r.request_id} ({states[r.request_id]}) still going after "
                                  f"{time.monotonic() - r.started:.0f} s: {r.log.read_text().strip()[-300:]}"
                                  for r in running]
            for run in list(running):
                run.process.kill()
                reap(run, killed=True)
            break
        while open_ids and len(running) < workers:
            request_id = rng.choice(open_ids)  # sometimes one already running: the request lock must refuse it
            result.runs += 1
            log = logs / f"run-{result.runs}.err"
            with log.open("w") as err:
                process = subprocess.Popen([LETHE, "request", "run", request_id, "--workspace", str(root)],
                                           stdout=subprocess.DEVNULL, stderr=err, text=True)
            now = time.monotonic()
            kill_at = now + rng.uniform(0, statistics.median(durations)) if rng.random() < kill_share else None
            running.append(_Run(process, request_id, log, now, kill_at))
        for run in [r for r in running if r.kill_at is not None and time.monotonic() >= r.kill_at]:
            alive = run.process.poll() is None
            if alive:
                os.kill(run.process.pid, signal.SIGKILL)
                result.kills += 1
            reap(run, killed=alive)
        if running and time.monotonic() >= next_check:  # not every tick: the driver's reads would starve the writers
            result.violations += serving_violations(root)
            result.checks += 1
            next_check = time.monotonic() + CHECK_EVERY
        time.sleep(0.5)

    ledger = Ledger.open(root)
    for request_id in request_ids:  # a failed request is re-runnable: it is re-run once
        if ledger.request(request_id).state == "failed":
            result.retried += 1
            if "reason" not in ledger.request(request_id).require_payload("failed"):
                result.violations.append(f"{request_id} failed without a reason")
            _lethe(root, "request", "retry", request_id, "--run")
    audit = _lethe(root, "audit", "run")
    if audit.returncode != 0:
        result.violations.append(f"audit run exited {audit.returncode}: {audit.stderr.strip()[-300:]}")
    verify = _lethe(root, "ledger", "verify")
    if verify.returncode != 0:
        result.violations.append(f"ledger verify exited {verify.returncode}: {verify.stderr.strip()[-300:]}")
    ledger = Ledger.open(root)
    states = {rid: ledger.request(rid).state for rid in request_ids}
    result.states = Counter(states.values())
    result.violations += [f"{rid} ended {state}" for rid, state in states.items() if state != "certified"]
    result.violations += serving_violations(root) + chain_violations(root)
    erased = [k for k, rid in enumerate(request_ids) if ledger.request(rid).payload("data_erased") is not None]
    result.violations += byte_hits(root, erased)
    result.seconds = time.monotonic() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=12, help="whole-subject requests (one subject each)")
    parser.add_argument("--workers", type=int, default=3, help="`lethe request run` processes at once")
    parser.add_argument("--shards", type=int, default=2, help="SISA shards the subjects share")
    parser.add_argument("--kill-share", type=float, default=0.5, help="share of runs SIGKILLed at a random moment")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds before open requests count as stuck")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--defer", action="store_true", help="verification deferred to the final audit")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import append_section, cpu_stall_microseconds, machine, utc_stamp

    with tempfile.TemporaryDirectory(prefix="chaos-") as tmp:
        root = Path(tmp) / "ws"
        request_ids = build_workspace(root, args.requests, args.shards, args.seed, args.defer)
        stall = cpu_stall_microseconds()
        result = run_chaos(root, request_ids, args.workers, args.kill_share, args.budget, args.seed, args.defer)
        pressure = (cpu_stall_microseconds() - stall) / 1e6 / result.seconds
    exits = ", ".join(f"{code}: {n}" for code, n in sorted(result.exits.items(), key=str))
    section = "\n".join([
        f"## {utc_stamp()} — chaos: {args.requests} requests, {args.workers} workers, {args.kill_share:.0%} of runs "
        "SIGKILLed",
        "",
        f"- **Data:** synthetic CSV, 60 users + {args.requests} erasure subjects (11 interactions each, 3 items only "
        f"theirs), 40 items; SISA BPR-MF, {args.shards} shards, seed {args.seed}"
        + ("; verification deferred to the final audit." if args.defer else "."),
        f"- **Machine:** {machine()}. CPU pressure during the run: {pressure:.0%} (PSI).",
        "",
        "| requests | runs started | SIGKILLs | retried | invariant checks | wall (s) | end states | run exits "
        "| invariant violations |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {result.requests} | {result.runs} | {result.kills} | {result.retried} | {result.checks} | "
        f"{result.seconds:.1f} | {dict(result.states)} | {exits} | **{len(result.violations)}** |",
        *(f"- violation: {v}" for v in result.violations),
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)
    sys.exit(1 if result.violations else 0)


if __name__ == "__main__":
    main()
