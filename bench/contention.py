"""The demo's request alone and beside busy processes, with and without the thread policy (issue 21, point 5).

One workspace is built as ``lethe demo`` builds it (synthetic 1,000 users × 600 items, BPR-MF, a retrain baseline
and a serving SISA deployment of 5 shards, 20 epochs, seed 0), then copied for every trial. A trial is a fresh
process that sets the thread policy as every Lethe entry point does (:func:`unlearn.threads.apply_thread_policy`;
``LETHE_THREAD_POLICY=off`` for the comparison), files the demo's request (the subject of median activity, whole
subject) and runs it to its certificate. It reports the request's wall time (file → certified), its CPU time, and
the threads it ended with. "Busy" trials first start ``--busy`` processes that each spin one core
(``while True: pass``) and stop them after.

The fair-share prediction. With ``C`` usable cores, ``N`` busy single-threaded processes and a request that keeps
``p`` threads runnable on average when alone (``p`` = its CPU time / wall time alone, clipped to [1, C]), a fair
scheduler gives each of the ``N + p`` runnable threads ``C / (N + p)`` of a core, so the request's ``p`` threads get
``C·p / (N + p)`` cores instead of ``p``: the slow-down is ``(N + p) / C`` (2.5× for 4 busy processes, a
single-threaded request and 2 cores). The goal is a measured slow-down ≤ 1.5× that figure.

    python bench/contention.py                    # policy off and on, alone and beside 4 busy processes
    python bench/contention.py --policies on --no-append
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO = {"n_users": 1000, "n_items": 600, "epochs": 20, "seed": 0}


def child(workspace: Path) -> None:
    """One trial, in its own process: the policy first (as an entry point does), then file and run the request."""
    from unlearn.threads import apply_thread_policy

    policy = apply_thread_policy()
    from ui.services import open_services
    from unlearn.requests import ErasureRequest

    services = open_services(workspace)
    subjects = services.ledger.store.subjects_frame()
    subject = str(subjects.sort_values("interactions", ascending=False).iloc[len(subjects) // 2]["subject"])
    wall, cpu = time.perf_counter(), time.process_time()
    record = services.engine.run(services.engine.file(ErasureRequest(subject=subject, notes="bench")))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stamps = [(event.kind.removeprefix("request."), datetime.fromisoformat(event.ts)) for event in record.history]
    phases = {step: round((at - before).total_seconds(), 2) for (_, before), (step, at) in pairwise(stamps)}
    print(json.dumps({"wall": wall, "cpu": cpu, "state": record.state, "policy": policy is not None,
                      "phases": phases, "threads": thread_counts()}))


def thread_counts() -> dict[str, Any]:
    """What this process ended with: torch's pools, the BLAS/OpenMP pools threadpoolctl sees, numba, OS threads."""
    import numba
    import torch
    from threadpoolctl import threadpool_info

    pools = {f"{p['internal_api']} ({Path(p['filepath']).name.split('.')[0].split('-')[0]})": p["num_threads"]
             for p in threadpool_info()}
    return {"torch intra-op": torch.get_num_threads(), "torch inter-op": torch.get_num_interop_threads(),
            "numba": numba.config.NUMBA_NUM_THREADS, **pools, "OS threads": len(os.listdir("/proc/self/task")),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "-")}


def build(root: Path) -> None:
    """The demo's workspace up to the request: ingest, a retrain baseline and a serving SISA deployment."""
    from ui.services import open_services
    from unlearn.data import load_source
    from unlearn.ingest import ingest
    from unlearn.methods import MethodSettings, get_method, set_serving

    services = open_services(root)
    ingest(services.ledger, load_source("synthetic", seed=DEMO["seed"], n_users=DEMO["n_users"],
                                        n_items=DEMO["n_items"]), split_seed=DEMO["seed"], actor="bench")
    for method, shards in (("retrain", 1), ("sisa", 5)):
        settings = MethodSettings(method=method, shards=shards, seed=DEMO["seed"], model={"epochs": DEMO["epochs"]})
        deployment = get_method(method).fit(services.ledger, settings, lambda *_: None, "bench")
    set_serving(services.ledger, deployment.deployment_id, actor="bench")


def stall_us() -> int:
    """Microseconds some task waited for a CPU, machine-wide (PSI)."""
    return int(Path("/proc/pressure/cpu").read_text().splitlines()[0].rsplit("total=", 1)[1])


def trial(template: Path, scratch: Path, policy: str, busy: int) -> dict[str, Any]:
    workspace = scratch / f"{policy}-{busy}"
    shutil.copytree(template, workspace)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                 "OMP_WAIT_POLICY", "KMP_BLOCKTIME"):
        env.pop(name, None)  # each trial's policy alone decides
    env["LETHE_THREAD_POLICY"] = policy
    done, pressure = beside_busy([sys.executable, __file__, "--child", str(workspace)], busy, env)
    shutil.rmtree(workspace, ignore_errors=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "policy": policy, "busy": busy, "pressure": pressure}


def beside_busy(command: list[str], busy: int, env: dict[str, str] | None = None
                ) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``command`` while ``busy`` processes each spin a core; its result and the CPU pressure meanwhile.

    Each process has a session of its own, as independent jobs do: with the kernel's autogroup scheduling on, CPU
    time is shared between sessions first, so spinners in the bench's own session would compete with each other,
    not with the request."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
                for _ in range(busy)]
    try:
        stalled, started = stall_us(), time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=1800,
                              start_new_session=True, check=False)
        pressure = (stall_us() - stalled) / 1e6 / (time.perf_counter() - started)
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    if done.returncode != 0:
        raise RuntimeError(f"{command} failed beside {busy} busy processes:\n{done.stderr[-3000:]}")
    return done, pressure


CALIBRATION = ("import time\nstart = time.perf_counter(); cpu = time.process_time()\n"
               "while time.process_time() - cpu < 3.0: pass\nprint(time.perf_counter() - start)")
"""A single-threaded job of 3 CPU-seconds: the slow-down the machine gives it is the measured fair share."""


def calibrate(busy: int) -> float:
    """Slow-down of a 3-CPU-second single-threaded loop beside ``busy`` spinners, as this machine is right now."""
    alone, _ = beside_busy([sys.executable, "-c", CALIBRATION], 0)
    loaded, _ = beside_busy([sys.executable, "-c", CALIBRATION], busy)
    return float(loaded.stdout) / float(alone.stdout)


SPIN_LOOP = """
import os, sys, time
if sys.argv[1] == "torch":
    import torch
    x = torch.rand(200_000)
    op = lambda: torch.exp(x).sum()  # one parallel region on OpenMP's pool
else:
    import numpy as np
    a, b = np.random.rand(1000, 64), np.random.rand(64, 600)
    op = lambda: a @ b  # one OpenBLAS call: a scoring block
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(400):
    op()
    total = 0
    for i in range(3000):  # ~0.2 ms of Python between the calls, as a training or measuring loop has
        total += i * i
print(time.perf_counter() - wall, time.process_time() - cpu)
"""
"""400 mid-sized library calls with a little Python between them: where idle pool threads that poll cost most."""

SPIN_CASES = {
    "torch op, torch's defaults (2 threads, libgomp spins)": ("torch", {}),
    "torch op, OMP_WAIT_POLICY=PASSIVE (the policy)": ("torch", {"OMP_WAIT_POLICY": "PASSIVE"}),
    "torch op, 1 thread": ("torch", {"OMP_NUM_THREADS": "1"}),
    "numpy matmul, OpenBLAS default (2 threads)": ("blas", {}),
    "numpy matmul, OPENBLAS_NUM_THREADS=1 (the policy)": ("blas", {"OPENBLAS_NUM_THREADS": "1"}),
}


def spin_rows(busy: int, repeat: int) -> list[str]:
    """The spin loop per case, alone and beside ``busy`` spinners (best of ``repeat``), as table rows."""
    env = {k: v for k, v in os.environ.items() if k not in {"OMP_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME",
                                                            "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"}}
    rows = []
    for case, (library, extra) in SPIN_CASES.items():
        runs = {}
        for others in (0, busy):
            timings = [beside_busy([sys.executable, "-c", SPIN_LOOP, library], others, {**env, **extra})[0]
                       for _ in range(repeat)]
            runs[others] = min((tuple(map(float, done.stdout.split())) for done in timings))
        (alone, alone_cpu), (loaded, loaded_cpu) = runs[0], runs[busy]
        rows.append(f"| {case} | {alone:.2f} s ({alone_cpu:.2f} s CPU) | {loaded:.2f} s ({loaded_cpu:.2f} s CPU) | "
                    f"{loaded / alone:.1f}× |")
    return rows


def autogroup() -> str:
    try:
        return "on" if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1" else "off"
    except OSError:
        return "unknown"


def idle_pressure(seconds: float = 3.0) -> float:
    """Share of a few seconds some task waited for a CPU with nothing of ours running: others' load."""
    stalled = stall_us()
    time.sleep(seconds)
    return (stall_us() - stalled) / 1e6 / seconds


def quiet(threshold: float, patience: float) -> float:
    """Wait (up to ``patience`` seconds) until others' load is below ``threshold``; the last load seen."""
    deadline = time.monotonic() + patience
    while (load := idle_pressure(2.0)) > threshold and time.monotonic() < deadline:
        print(f"  others' load {load:.0%}: waiting for a quieter machine …", flush=True)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=4, help="busy processes beside the request (default 4)")
    parser.add_argument("--policies", nargs="+", default=["off", "on"], choices=["off", "on"],
                        help="thread policy of the request's process (default: both, side by side)")
    parser.add_argument("--repeat", type=int, default=1, help="trials per case, interleaved; the fastest counts")
    parser.add_argument("--quiet", type=float, default=0.10,
                        help="before each trial wait until others' CPU pressure (PSI) is below this (default 0.10)")
    parser.add_argument("--patience", type=float, default=300, help="…for at most this many seconds (default 300)")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a killed bench still stops its busy processes
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import append_section, command_line, machine, utc_stamp

    from unlearn.threads import usable_cores

    cores = usable_cores()
    before = idle_pressure()
    shares = [calibrate(args.busy)]
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lethe-contention-") as tmp:
        template = Path(tmp) / "template"
        print("building the demo's workspace …", flush=True)
        build(template)
        for _ in range(args.repeat):
            for busy in (0, args.busy):  # alone first, then busy; both policies back to back in each
                for policy in args.policies:
                    load = quiet(args.quiet, args.patience)
                    print(f"policy {policy}, {busy} busy (others' load {load:.0%}) …", flush=True)
                    results.append({**trial(template, Path(tmp), policy, busy), "others": load})
                    print(json.dumps(results[-1]), flush=True)
    shares.append(calibrate(args.busy))
    print("spin loops …", flush=True)
    spin = spin_rows(args.busy, args.repeat)
    after = idle_pressure()
    share = sum(shares) / len(shares)

    rows = []
    for policy in args.policies:
        alone = min((r for r in results if r["policy"] == policy and r["busy"] == 0), key=lambda r: r["wall"])
        loaded = min((r for r in results if r["policy"] == policy and r["busy"] == args.busy), key=lambda r: r["wall"])
        parallelism = min(max(alone["cpu"] / alone["wall"], 1.0), cores)
        fair = (args.busy + parallelism) / cores
        slowdown = loaded["wall"] / alone["wall"]
        threads = ", ".join(f"{name} {value}" for name, value in loaded["threads"].items())
        rows.append(f"| {policy} | {alone['wall']:.1f} s ({alone['cpu']:.1f} s CPU, p = {parallelism:.2f}) | "
                    f"{loaded['wall']:.1f} s ({loaded['cpu']:.1f} s CPU) | **{slowdown:.2f}×** | {fair:.2f}× | "
                    f"**{slowdown / fair:.2f}** | {slowdown / share:.2f} | {alone['others']:.0%} / "
                    f"{loaded['others']:.0%} | {alone['state']}, {loaded['state']} | "
                    f"{threads} |")
    section = "\n".join([
        f"## Contention: the demo's request alone and beside {args.busy} busy processes — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}; {cores} usable cores (affinity ∩ cgroup quota). Others' load: some task "
        f"waited for a CPU {before:.0%} of 3 s before the run and {after:.0%} after (PSI, nothing of ours running).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Data:** the demo's synthetic set ({DEMO['n_users']:,} users × {DEMO['n_items']:,} items, seed 0); "
        "BPR-MF 20 epochs, a retrain baseline and a serving SISA deployment (5 shards); one whole-subject request "
        "(the demo's subject), file → certified, each trial in a fresh process on a fresh copy of the workspace; "
        f"{args.repeat} trial(s) per case, interleaved, the fastest shown; before each, the bench waited for others' "
        f"CPU pressure below {args.quiet:.0%} (2 s of PSI with nothing of ours running; up to {args.patience:.0f} s).",
        f"- **Fair share:** slow-down (N + p) / C with N = {args.busy} busy processes, C = {cores} cores and p the "
        "request's CPU time / wall time alone (clipped to [1, C]); goal: measured ≤ 1.5× fair. Measured share: "
        f"a single-threaded 3-CPU-second loop ran {' and '.join(f'{x:.2f}×' for x in shares)} slower beside the same "
        "busy processes (before and after the trials), which is what this machine gave a single thread at the time "
        f"(others' jobs included); kernel autogroup scheduling {autogroup()}, every process in a session of its own.",
        "",
        "| thread policy | alone | beside busy | slow-down | fair share | slow-down / fair | slow-down / measured "
        "share | others' load before (alone / busy) | states | threads at the end (busy run) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        *rows,
        "",
        f"Where polling pool threads cost: 400 mid-sized library calls with ~0.2 ms of Python between them, alone and "
        f"beside the same {args.busy} busy processes (best of {args.repeat}; CPU time counts every thread of the "
        "process).",
        "",
        f"| case | alone | beside {args.busy} busy | slow-down |",
        "|---|---:|---:|---:|",
        *spin,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
