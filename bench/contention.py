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
import subprocess
import sys
import tempfile
import time
from datetime import datetime
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
    phases = {step: round((at - before).total_seconds(), 2) for (_, before), (step, at) in zip(stamps, stamps[1:])}
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
        deployment = get_method(method).fit(services.ledger, MethodSettings(
            method=method, shards=shards, seed=DEMO["seed"], model={"epochs": DEMO["epochs"]}), lambda *_: None, "bench")
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
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        stalled, started = stall_us(), time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--child", str(workspace)], capture_output=True, text=True,
                              env=env, cwd=REPO, timeout=1800)
        elapsed = time.perf_counter() - started
        pressure = (stall_us() - stalled) / 1e6 / elapsed
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    shutil.rmtree(workspace, ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(f"trial {policy}/{busy} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return {**result, "policy": policy, "busy": busy, "pressure": pressure}


def idle_pressure(seconds: float = 3.0) -> float:
    """Share of a few seconds some task waited for a CPU with nothing of ours running: others' load."""
    stalled = stall_us()
    time.sleep(seconds)
    return (stall_us() - stalled) / 1e6 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=4, help="busy processes beside the request (default 4)")
    parser.add_argument("--policies", nargs="+", default=["off", "on"], choices=["off", "on"],
                        help="thread policy of the request's process (default: both, side by side)")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import append_section, command_line, machine, utc_stamp

    from unlearn.threads import usable_cores

    cores = usable_cores()
    before = idle_pressure()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lethe-contention-") as tmp:
        template = Path(tmp) / "template"
        print("building the demo's workspace …", flush=True)
        build(template)
        for busy in (0, args.busy):  # alone first, then busy; both policies back to back in each
            for policy in args.policies:
                print(f"policy {policy}, {busy} busy …", flush=True)
                results.append(trial(template, Path(tmp), policy, busy))
                print(json.dumps(results[-1]), flush=True)
    after = idle_pressure()

    rows = []
    for policy in args.policies:
        alone = next(r for r in results if r["policy"] == policy and r["busy"] == 0)
        loaded = next(r for r in results if r["policy"] == policy and r["busy"] == args.busy)
        parallelism = min(max(alone["cpu"] / alone["wall"], 1.0), cores)
        fair = (args.busy + parallelism) / cores
        slowdown = loaded["wall"] / alone["wall"]
        threads = ", ".join(f"{name} {value}" for name, value in loaded["threads"].items())
        rows.append(f"| {policy} | {alone['wall']:.1f} s ({alone['cpu']:.1f} s CPU, p = {parallelism:.2f}) | "
                    f"{loaded['wall']:.1f} s | **{slowdown:.2f}×** | {fair:.2f}× | {slowdown / fair:.2f} | "
                    f"{alone['pressure']:.0%} / {loaded['pressure']:.0%} | {alone['state']}, {loaded['state']} | "
                    f"{threads} |")
    section = "\n".join([
        f"## Contention: the demo's request alone and beside {args.busy} busy processes — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}; {cores} usable cores (affinity ∩ cgroup quota). Others' load: some task "
        f"waited for a CPU {before:.0%} of 3 s before the run and {after:.0%} after (PSI, nothing of ours running).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Data:** the demo's synthetic set ({DEMO['n_users']:,} users × {DEMO['n_items']:,} items, seed 0); "
        "BPR-MF 20 epochs, a retrain baseline and a serving SISA deployment (5 shards); one whole-subject request "
        "(the demo's subject), file → certified, each trial in a fresh process on a fresh copy of the workspace.",
        f"- **Fair share:** slow-down (N + p) / C with N = {args.busy} busy processes, C = {cores} cores and p the "
        "request's CPU time / wall time alone (clipped to [1, C]); goal: measured ≤ 1.5× fair.",
        "",
        "| thread policy | alone | beside busy | slow-down | fair share | measured / fair | PSI alone / busy "
        "| states | threads at the end (busy run) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
        *rows,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
