"""SISA at scale through each executor: this process, a process pool, Ray (issue 24, point 4), side by side.

Per synthetic scale (1M, 10M; 100M only with ``--scales …,100m`` and the memory for it), in one fresh process:

1. ingest the seeded synthetic set (per-user 80/20 split, lineage recorded), timed, with the peak RSS so far;
2. train the same SISA deployment (WMF, 64 factors, weight 5, 15 sweeps, ``--shards`` shards, seed 0) once per
   executor: ``serial`` (this process), ``pool`` (``ProcessPoolShardExecutor``, one process per core), ``ray`` (a
   local Ray with one CPU per core, started before the clock; its workers start cold, importing torch inside the
   timing). The shards' artifact sha256 must be the same for every executor;
3. erase one subject of median activity per executor, through the engine with that executor chosen the way users
   choose it (``LETHE_EXECUTOR`` / ``LETHE_WORKERS``), up to verification (excluded): each request forgets from
   every deployment of step 2, so per executor the figure is the engine's recorded forget seconds per deployment
   (one shard retrained each);
4. `implicit` ALS (alpha 6 ≡ WMF weight 5, same factors, iterations, reg), a full retrain on the same training
   split, one thread per its own advice on BLAS (the comparison of ``bench/speed_vs_implicit.py``);
5. (before 4) verification's retrains on the remaining training split (``ReferenceModels.train`` with the policy's
   defaults: reference, Retrain*, damaged control, calibration retrains, the attack's shadow model) in threads of
   this process and as Ray tasks (the remaining data put in the object store once); their sha256 must agree.

Appends one section to bench/results/:

    python bench/scale.py                       # 1M and 10M (~20 min on 2 shared cores)
    python bench/scale.py --scales 1m --no-append
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402
from speed_vs_implicit import ALS_ITERATIONS, FACTORS, IMPLICIT_PIN, REG  # noqa: E402

#: users × ~40 interactions each (the generator's mean), items.
SCALES = {"1m": (25_000, 5_000), "10m": (250_000, 20_000), "100m": (2_500_000, 100_000)}
EXECUTORS = ("serial", "pool", "ray")
ENVIRONMENT = {"serial": {"LETHE_EXECUTOR": "local", "LETHE_WORKERS": "1"},
               "pool": {"LETHE_EXECUTOR": "local", "LETHE_WORKERS": str(len(os.sched_getaffinity(0)))},
               "ray": {"LETHE_EXECUTOR": "ray", "LETHE_WORKERS": "1"}}


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _executor(label: str) -> Any:
    from unlearn._ray import RayShardExecutor
    from unlearn.executor import ProcessPoolShardExecutor, SerialExecutor

    return {"serial": SerialExecutor, "pool": ProcessPoolShardExecutor, "ray": RayShardExecutor}[label]()


def scale_run(scale: str, shards: int, workspace: Path) -> dict[str, Any]:
    """Steps 1-4 for one scale, in this (fresh) process."""
    from ledger import Ledger, RequestError
    from policies import load_policy
    from unlearn._ray import connect
    from unlearn.data import synthetic_interactions
    from unlearn.engine import ErasureEngine
    from unlearn.ingest import ingest
    from unlearn.methods import MethodSettings, get_method
    from unlearn.progress import no_progress
    from unlearn.requests import ErasureRequest
    from unlearn.training_data import Interactions

    users, items = SCALES[scale]
    facts: dict[str, Any] = {"scale": scale, "shards": shards, "fit_s": {}, "forget_s": {}, "to_verification_s": {}}
    started = time.perf_counter()
    raw = synthetic_interactions(n_users=users, n_items=items, seed=0)
    ledger = Ledger.open(workspace)
    ingest(ledger, raw, actor="bench")
    del raw
    facts.update(ingest_s=time.perf_counter() - started, rss_after_ingest_gib=_rss_gib(),
                 n_train=len(Interactions.from_store(ledger, "train")))

    settings = MethodSettings(method="sisa", base_model="wmf", shards=shards, seed=0,
                              model={"embedding_size": FACTORS, "epochs": ALS_ITERATIONS, "reg": REG, "weight": 5.0})
    started = time.perf_counter()
    connect()  # a local Ray, before the clock
    facts["ray_start_s"] = time.perf_counter() - started
    shas = {}
    for label in EXECUTORS:
        started = time.perf_counter()
        deployment = get_method("sisa").with_executor(_executor(label)).fit(ledger, settings, no_progress, "bench")
        facts["fit_s"][label] = time.perf_counter() - started
        shas[label] = [c.artifact_sha256 for _, c in sorted(deployment.checkpoints.items())]
        print(f"[{scale}] fit {label}: {facts['fit_s'][label]:.1f} s", flush=True)
    facts["identical"] = all(shas[label] == shas["serial"] for label in EXECUTORS)

    subjects = ledger.store.subjects_frame().sort_values(["interactions", "user_idx"], ignore_index=True)
    engine = ErasureEngine(ledger, load_policy())  # no verifier: each run stops where verification starts
    for offset, label in enumerate(EXECUTORS):
        os.environ.update(ENVIRONMENT[label])
        subject = str(subjects.iloc[len(subjects) // 2 + offset]["subject"])
        request_id = engine.file(ErasureRequest(subject=subject, notes="bench/scale.py"), actor="bench")
        started = time.perf_counter()
        try:
            engine.run(request_id, no_progress, actor="bench")
        except RequestError as error:
            if "no verifier" not in str(error):
                raise
        facts["to_verification_s"][label] = time.perf_counter() - started
        forgotten = ledger.request(request_id).require_payload("unlearned")["deployments"]
        facts["forget_s"][label] = [entry["seconds"] for entry in forgotten]
        print(f"[{scale}] erase one subject, {label}: {facts['forget_s'][label]}", flush=True)

    from verify import ReferenceModels

    remaining, saved = Interactions.from_store(ledger, "train"), {}
    facts["references_s"] = {}
    for label, kind in (("threads", "local"), ("ray", "ray")):  # step 5
        os.environ["LETHE_EXECUTOR"] = kind
        started = time.perf_counter()
        references = ReferenceModels.train("bench", "wmf", settings.model_config_object(), 0, remaining)
        facts["references_s"][label] = time.perf_counter() - started
        (workspace / f"references-{label}").mkdir()
        saved[label] = references.save(workspace / f"references-{label}")
        print(f"[{scale}] references, {label}: {facts['references_s'][label]:.1f} s", flush=True)
    facts["references_identical"] = saved["threads"] == saved["ray"]
    del remaining, references

    import ray
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    ray.shutdown()  # its idle processes stay out of implicit's way
    matrix = Interactions.from_store(ledger, "train").csr()
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=FACTORS, iterations=ALS_ITERATIONS, regularization=REG, alpha=6.0,
                                        random_state=0)
        started = time.perf_counter()
        model.fit(matrix, show_progress=False)
        facts["implicit_als_s"] = time.perf_counter() - started
    facts["peak_rss_gib"] = _rss_gib()
    return facts


def _row(facts: dict[str, Any]) -> list[str]:
    fit = " / ".join(f"{facts['fit_s'][label]:.1f}" for label in EXECUTORS)
    forget = {label: sum(seconds) / len(seconds) for label, seconds in facts["forget_s"].items()}
    ratios = " / ".join(f"{forget[label] / facts['implicit_als_s']:.3f}×" for label in EXECUTORS)
    forgets = " / ".join(f"{forget[label]:.2f}" for label in EXECUTORS)
    walls = " / ".join(f"{facts['to_verification_s'][label]:.1f}" for label in EXECUTORS)
    references = (f"{facts['references_s']['threads']:.1f} / {facts['references_s']['ray']:.1f} s"
                  f"{'' if facts['references_identical'] else ' (**sha256 differ**)'}")
    return [
        f"| {facts['scale']} ({facts['n_train']:,} train) | {facts['ingest_s']:.1f} s, RSS {facts['rss_after_ingest_gib']:.2f} GiB "
        f"| {fit} s | {'yes' if facts['identical'] else '**NO**'} "
        f"| {forgets} s | {walls} s "
        f"| {facts['implicit_als_s']:.1f} s | {ratios} | {references} | {facts['peak_rss_gib']:.2f} GiB |"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1m,10m", help=f"comma-separated: {', '.join(SCALES)}")
    parser.add_argument("--shards", type=int, default=20, help="SISA shards (default 20)")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    parser.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        scale, workspace = args._child
        print(json.dumps(scale_run(scale, args.shards, Path(workspace))))
        return

    stalled, run_started = cpu_stall_microseconds(), time.perf_counter()
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lethe-scale-bench-") as tmp:
        for scale in args.scales.split(","):
            print(f"[{scale}] …", flush=True)
            done = subprocess.run([sys.executable, __file__, "--shards", str(args.shards), "--_child", scale,
                                   str(Path(tmp) / scale)], stdout=subprocess.PIPE, text=True, check=True)
            facts = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"[{scale}] {facts}", flush=True)
            rows += _row(facts)
    data = ", ".join(f"{k}: {u:,} users × ~40, {i:,} items" for k, (u, i) in SCALES.items()
                     if k in args.scales.split(","))
    contention = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - run_started)
    section = "\n".join([
        f"## SISA at scale: serial, process pool, Ray — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the run (PSI; "
        "other jobs shared the machine if high).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Data:** the seeded synthetic generator ({data}); "
        "per-user 80/20 split (seed 0).",
        f"- **Settings:** SISA, WMF ({FACTORS} factors, weight 5, {ALS_ITERATIONS} sweeps, reg {REG}), "
        f"{args.shards} shards, seed 0; `implicit` ({IMPLICIT_PIN}) ALS alpha 6 (≡ weight 5), same factors, "
        "iterations and reg, single-threaded BLAS. Executors in every column: serial / process pool (one process "
        "per core) / Ray local (one CPU per core; started before the clock, workers cold).",
        "- **Erase one subject** = the engine's recorded forget seconds per deployment (one shard retrained), a "
        "subject of median activity per executor; **to verification** = the request's wall time from validation "
        "to where verification starts (plan, forget in all three deployments, store rewrite).",
        "- **Verification retrains** = `ReferenceModels.train` on the remaining split with the policy's defaults, in "
        "threads of the driver vs as Ray tasks (remaining data put once); same sha256 unless marked.",
        "",
        "| scale | ingest | train all shards (serial / pool / Ray) | same sha256 | erase one subject: forget | "
        "request to verification | implicit ALS full retrain | forget ÷ ALS | verification retrains: threads / Ray | "
        "peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
