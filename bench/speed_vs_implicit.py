"""Speed against the library users already run: Lethe's trainers and unlearning vs `implicit` 0.7.3, side by side.

Per scale (ML-1M, synthetic 10M, optionally 50M), on the same per-user 80/20 split (``per_user_split``, seed 0,
what ``ingest`` uses):

1. **Training**, each run in a fresh process (its peak RSS is the run's own): `implicit` ALS (64 factors,
   15 iterations, reg 0.01) at alpha 1 (its default) and alpha 6, against Lethe WMF-CG with the same
   factors, sweeps and reg at weight 0 and 5 (implicit's confidence is ``alpha · r``, Lethe's ``1 + weight``,
   so these are the same objectives); `implicit` BPR (64 factors, lr 0.01, reg 0.01) against Lethe BPR-MF
   with ``optimizer="sgd"``, lr 0.01, reg 0.005 (implicit's update ``reg · w`` is the gradient of
   ``reg/2 · ‖w‖²``; Lethe's ``reg`` multiplies ``‖w‖²``). NDCG@20 on the test split, train items excluded
   (at 10M+ on a seeded sample of users: scoring every user would dominate the run).
2. **Unlearning one subject** (median activity) through the engine, in one fresh process per scale: a workspace
   is ingested, SISA, RecEraser (UBP) and — if registered — AltEraser deployments are fitted on WMF, one
   request is filed and run up to verification (excluded). Per deployment: plan (the method's ``plan``),
   forget (the engine's recorded seconds), lineage proof (``prove_lineage``).
3. **Profile** (ML-1M): one BPR-SGD epoch split into sampling and the SGD pass, and torch.profiler over one
   WMF-CG sweep: where the time goes.

Appends one section to bench/results/.

    python bench/speed_vs_implicit.py                         # ML-1M + 10M (~30 min on 2 shared cores)
    python bench/speed_vs_implicit.py --scales ml-1m --no-append
    python bench/speed_vs_implicit.py --scales ml-1m,10m,50m  # 50M: see the section for what it needs
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

#: Synthetic scales: users × ~40 interactions each (the generator's mean), items.
SYNTHETIC = {"10m": (250_000, 20_000), "50m": (1_250_000, 50_000)}
FACTORS, ALS_ITERATIONS, REG = 64, 15, 0.01
EVAL_USERS = 20_000  # users sampled for NDCG@20 above ML-1M scale
LIGHTGCN_BATCH = 8192  # LightGCN propagates the whole graph per batch: larger batches, fewer propagations
IMPLICIT_PIN = "implicit==0.7.3"


# -- data -----------------------------------------------------------------------------------------
def load_raw(scale: str, ml1m: Path):
    from unlearn.data import load_source, synthetic_interactions

    if scale == "ml-1m":
        return load_source("ml-1m", ml1m)
    users, items = SYNTHETIC[scale]
    return synthetic_interactions(n_users=users, n_items=items, seed=0)


def prepare(scale: str, ml1m: Path, folder: Path) -> Path:
    """Train/test index arrays of the scale's per-user split, written once for every training process."""
    from unlearn.data import per_user_split

    raw = load_raw(scale, ml1m)
    frame = raw.frame
    split = np.asarray(per_user_split(frame, seed=0)) == "test"
    users, _ = pd.factorize(frame["subject"])
    items, _ = pd.factorize(frame["item"])
    path = folder / f"{scale}.npz"
    np.savez(path, users=users.astype(np.int64), items=items.astype(np.int64), test=split,
             n_users=users.max() + 1, n_items=items.max() + 1)
    return path


def _load(npz: Path) -> tuple[Any, Any, int, int]:
    from unlearn.training_data import Interactions

    data = np.load(npz)
    n_users, n_items = int(data["n_users"]), int(data["n_items"])
    test = data["test"]
    make = lambda mask: Interactions(np.flatnonzero(mask), data["users"][mask], data["items"][mask],  # noqa: E731
                                     n_users, n_items)
    return make(~test), make(test), n_users, n_items


# -- one training run (child process) ---------------------------------------------------------------
def train_run(kind: str, npz: Path, epochs: int) -> dict[str, Any]:
    """Train one model in this (fresh) process; seconds exclude loading and evaluation."""
    from unlearn.models import BPRConfig, FactorModel, WMFConfig, train_bpr, train_wmf
    from verify import ranking_metrics

    train, test, n_users, n_items = _load(npz)
    matrix = train.csr()
    if kind.startswith("implicit"):
        from threadpoolctl import threadpool_limits
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        if kind.startswith("implicit-als"):
            alpha = float(kind.rsplit("-", 1)[1])
            model = AlternatingLeastSquares(factors=FACTORS, iterations=epochs, regularization=REG, alpha=alpha,
                                            random_state=0)
        else:
            model = BayesianPersonalizedRanking(factors=FACTORS, iterations=epochs, learning_rate=0.01,
                                                regularization=REG, random_state=0)
        with threadpool_limits(1, "blas"):  # implicit's own advice: its threads, single-threaded BLAS
            started, cpu = time.perf_counter(), time.process_time()
            model.fit(matrix, show_progress=False)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
        fitted = FactorModel.unbiased(users, items, np.diff(matrix.indptr) > 0)  # BPR: bias = last column
    elif kind.startswith("lethe-wmf"):
        weight = float(kind.rsplit("-", 1)[1])
        config = WMFConfig(embedding_size=FACTORS, epochs=epochs, reg=REG, weight=weight)
        started, cpu = time.perf_counter(), time.process_time()
        fitted = train_wmf(train.user_idx, train.item_idx, n_users, n_items, config, seed=0)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    elif kind == "lethe-lightgcn":
        from unlearn.models import LightGCNConfig, train_lightgcn

        config = LightGCNConfig(embedding_size=FACTORS, epochs=epochs, batch_size=LIGHTGCN_BATCH)
        started, cpu = time.perf_counter(), time.process_time()
        fitted = train_lightgcn(train.user_idx, train.item_idx, n_users, n_items, config, seed=0)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    else:  # lethe-bpr-<negatives>: uniform with the default init, popularity with implicit's small one
        negatives = kind.rsplit("-", 1)[1]
        config = BPRConfig(embedding_size=FACTORS, epochs=epochs, learning_rate=0.01, reg=REG / 2, optimizer="sgd",
                           negatives=negatives, init_std=0.01 if negatives == "popularity" else 0.1)
        started, cpu = time.perf_counter(), time.process_time()
        fitted = train_bpr(train.user_idx, train.item_idx, n_users, n_items, config, seed=0)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    users = None
    if n_users > 10_000:
        users = np.random.default_rng(0).choice(n_users, size=min(EVAL_USERS, n_users), replace=False)
    metrics = ranking_metrics(fitted, matrix, test.csr(), (20,), users=users)
    return {"kind": kind, "seconds": seconds, "cpu_seconds": cpu, "epochs": epochs, "per_epoch": seconds / epochs,
            "peak_rss_gib": rss, "ndcg20": metrics["ndcg@20"]}


# -- unlearning one subject (child process) ---------------------------------------------------------
def unlearn_run(scale: str, ml1m: Path, shards: int, workspace: Path, methods: list[str]) -> dict[str, Any]:
    """Ingest, fit the deployments, erase one subject up to verification; per-deployment timings."""
    from ledger import Ledger, RequestError
    from policies import load_policy
    from unlearn.engine import ErasureEngine
    from unlearn.ingest import ingest
    from unlearn.methods import MethodSettings, get_method
    from unlearn.progress import no_progress
    from unlearn.requests import ErasureRequest
    from verify._lineage import prove_lineage

    ledger = Ledger.open(workspace)
    started = time.perf_counter()
    ingest(ledger, load_raw(scale, ml1m), actor="bench")
    timings: dict[str, Any] = {"ingest_s": time.perf_counter() - started, "fit_s": {}, "deployments": {}}
    model = {"embedding_size": FACTORS, "epochs": ALS_ITERATIONS, "reg": REG, "weight": 5.0}
    settings = {
        "sisa": MethodSettings(method="sisa", base_model="wmf", shards=shards, model=model),
        "receraser": MethodSettings(method="receraser", base_model="wmf", shards=shards, model=model,
                                    partition="ubp", aggregation="attention"),
        "alteraser": MethodSettings(method="alteraser", base_model="wmf", model=model,
                                    options={"solver": "ah", "max_passes": 1}),
    }
    settings = {label: setting for label, setting in settings.items() if label in methods}
    deployments = {}
    for label, setting in settings.items():
        started = time.perf_counter()
        deployments[label] = get_method(setting.method).fit(ledger, setting, no_progress, actor="bench").deployment_id
        timings["fit_s"][label] = time.perf_counter() - started
    subjects = ledger.store.subjects_frame().sort_values(["interactions", "user_idx"], ignore_index=True)
    subject = subjects.iloc[len(subjects) // 2]
    ref = ledger.workspace.subject_ref(str(subject["subject"]))
    ids = ledger.subject_interaction_ids(ref)
    for label, deployment_id in deployments.items():
        started = time.perf_counter()
        plan = get_method(settings[label].method).plan(ledger, deployment_id, ids)
        timings["deployments"][label] = {"plan_s": time.perf_counter() - started,
                                         "retrained_share": plan.estimated_cost_fraction}
    engine = ErasureEngine(ledger, load_policy())  # no verifier: the run stops where verification starts
    request_id = engine.file(ErasureRequest(subject=str(subject["subject"]), notes="bench/speed_vs_implicit.py"),
                             actor="bench")
    started = time.perf_counter()
    try:
        engine.run(request_id, no_progress, actor="bench")
    except RequestError as error:
        if "no verifier" not in str(error):
            raise
    timings["request_to_verification_s"] = time.perf_counter() - started
    record = ledger.request(request_id)
    forgotten = record.require_payload("unlearned")["deployments"]
    erased = set(record.require_payload("planned")["interaction_ids"])
    by_id = {v: k for k, v in deployments.items()}
    for entry in forgotten:
        label = by_id[entry["deployment_id"]]
        started = time.perf_counter()
        proof = prove_lineage(ledger, entry["deployment_id"], erased)
        timings["deployments"][label].update(forget_s=entry["seconds"], lineage_s=time.perf_counter() - started,
                                             lineage_ok=proof.ok, exact=proof.exact_claimed)
    timings.update(subject_interactions=len(ids), shards=shards,
                   peak_rss_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    return timings


# -- profile (child process) ------------------------------------------------------------------------
def profile_run(npz: Path) -> dict[str, list[tuple[str, float]]]:
    """Where an epoch's time goes: for BPR-SGD, sampling the triples vs the compiled SGD pass (numba, which
    torch.profiler cannot see into); for a WMF-CG sweep, the share of self CPU time per torch op."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from unlearn.models import BPRConfig, WMFConfig, train_wmf
    from unlearn.models._bpr import _sgd_epoch
    from unlearn.models._pairwise import PairSampler

    train, _, n_users, n_items = _load(npz)
    config = BPRConfig(embedding_size=FACTORS, reg=REG / 2, optimizer="sgd", negatives="popularity", init_std=0.01)
    generator = torch.Generator().manual_seed(0)
    users = torch.empty(n_users, FACTORS).normal_(0.0, config.init_std, generator=generator)
    items = torch.empty(n_items, FACTORS).normal_(0.0, config.init_std, generator=generator)
    _sgd_epoch(users[:1], items[:2], torch.zeros(2), *(torch.zeros(1, dtype=torch.int64),) * 2,
               torch.ones(1, dtype=torch.int64), config)  # compile (or load the cached compile) outside the timing
    sampler = PairSampler(train.user_idx, train.item_idx, n_items, seed=0, sampling=config.negatives)
    seconds = {}
    started = time.perf_counter()
    triples = sampler.epoch()
    seconds["sampling the triples (background thread)"] = time.perf_counter() - started
    started = time.perf_counter()
    _sgd_epoch(users, items, torch.zeros(n_items), *triples, config)
    seconds["per-triple SGD pass (numba)"] = time.perf_counter() - started
    total = sum(seconds.values())
    out = {"bpr-sgd epoch (wall, one after the other)": [(k, v / total) for k, v in seconds.items()]}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_wmf(train.user_idx, train.item_idx, n_users, n_items, WMFConfig(epochs=1, reg=REG), 0)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    out["wmf-cg sweep"] = [(e.key, e.self_cpu_time_total / total) for e in events[:6]]
    return out


def child(*arguments: str) -> Any:
    """Run this script's hidden entry point in a fresh interpreter; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, __file__, "--_child", *arguments], check=True, capture_output=True,
                         text=True, cwd=REPO)
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- report ---------------------------------------------------------------------------------------
def scale_section(scale: str, runs: dict[str, dict], unlearning: dict | None, bpr_epochs: dict[str, int]) -> list[str]:
    def row(label: str, run: dict, note: str = "") -> str:
        return (f"| {label} | {run['seconds']:.1f} | {run['cpu_seconds']:.1f} | {run['per_epoch']:.3f} | "
                f"{run['peak_rss_gib']:.2f} | "
                f"{run['ndcg20']:.4f} | {note} |")

    als1, als6, ibpr = runs.get("implicit-als-1"), runs.get("implicit-als-6"), runs.get("implicit-bpr")
    lines = [
        f"### {scale}",
        "",
        "| run | wall s | CPU s | wall s / epoch | peak RSS GiB | NDCG@20 | vs implicit |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    if als1 and als6:
        lines += [
            row("implicit ALS retrain, alpha 1 (default)", als1),
            row("Lethe WMF-CG retrain, weight 0 (same objective)", runs["lethe-wmf-0"],
                f"{runs['lethe-wmf-0']['seconds'] / als1['seconds']:.2f}× time (goal ≤ 2×)"),
            row("implicit ALS retrain, alpha 6", als6),
            row("Lethe WMF-CG retrain, weight 5 (same objective)", runs["lethe-wmf-5"],
                f"{runs['lethe-wmf-5']['seconds'] / als6['seconds']:.2f}× time (goal ≤ 2×)"),
        ]
    if ibpr:
        lines.append(row(f"implicit BPR retrain, {bpr_epochs['implicit']} iterations (2 Hogwild threads)", ibpr))
        for variant, note in (("uniform", "uniform negatives, init std 0.1: the defaults"),
                              ("popularity", "popularity negatives (as implicit samples them), init std 0.01")):
            lbpr = runs[f"lethe-bpr-{variant}"]
            lines.append(row(
                f"Lethe BPR-SGD retrain, {bpr_epochs['lethe']} epochs, {note}", lbpr,
                f"{lbpr['per_epoch'] / ibpr['per_epoch']:.2f}× per epoch (goal ≤ 1.5×); "
                + (f"reaches implicit's NDCG in {lbpr['seconds'] / ibpr['seconds']:.2f}× its time"
                   if lbpr["ndcg20"] >= ibpr["ndcg20"] else "does NOT reach implicit's NDCG in these epochs")))
    if "lethe-lightgcn" in runs:
        gcn = runs["lethe-lightgcn"]
        lines.append(row(f"Lethe LightGCN (3 layers, Adam, batch {LIGHTGCN_BATCH}), {gcn['epochs']} epoch(s)", gcn,
                         "no implicit counterpart: epoch time and memory reported"))
    if unlearning is None:
        return lines
    best_retrain = min(als1["seconds"], als6["seconds"])
    for label, facts in unlearning["deployments"].items():
        total = facts["plan_s"] + facts["forget_s"] + facts["lineage_s"]
        kind = "exact" if facts["exact"] else "approximate"
        lines.append(
            f"| Lethe {label} unlearning, one subject ({kind}; plan {facts['plan_s']:.2f} + forget "
            f"{facts['forget_s']:.2f} + lineage {facts['lineage_s']:.2f} s) | {total:.1f} | – | – | "
            f"{unlearning['peak_rss_gib']:.2f}¹ | – | {total / best_retrain:.2f}× implicit's fastest ALS retrain, "
            f"{total / ibpr['seconds']:.3f}× its {ibpr['epochs']}-iteration BPR retrain "
            f"({'lineage proof ok' if facts['lineage_ok'] else 'LINEAGE PROOF FAILED'}) |")
    fits = ", ".join(f"{k} {v:.0f} s" for k, v in unlearning["fit_s"].items())
    lines += [
        "",
        f"¹ peak RSS of the whole unlearning process (ingest + fitting every deployment + the request). "
        f"{unlearning['shards']} shards; subject of median activity ({unlearning['subject_interactions']} "
        f"interactions); ingest {unlearning['ingest_s']:.0f} s; fits: {fits}; the whole request up to "
        f"verification (incl. erasing the rows and rewriting the store) {unlearning['request_to_verification_s']:.1f} s.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="ml-1m,10m", help="comma-separated: ml-1m, 10m, 50m")
    parser.add_argument("--ml1m", type=Path, default=REPO.parent / "shared" / "data" / "ml-1m")
    parser.add_argument("--shards", type=json.loads, default={"ml-1m": 10, "10m": 20, "50m": 50},
                        help='JSON shard count per scale (SISA and RecEraser)')
    parser.add_argument("--bpr-epochs", type=json.loads,
                        default={"ml-1m": {"implicit": 100, "lethe": 20}, "10m": {"implicit": 10, "lethe": 8},
                                 "50m": {"implicit": 10, "lethe": 8}},
                        help="JSON BPR epochs per scale for implicit and Lethe")
    parser.add_argument("--lightgcn-scales", default="ml-1m", help="scales LightGCN's epoch time is measured at")
    parser.add_argument("--lightgcn-epochs", type=int, default=2)
    parser.add_argument("--families", default="als,bpr,lightgcn",
                        help="training comparisons to run: als (implicit ALS vs WMF-CG), bpr, lightgcn; "
                             "unlearning needs als and bpr (its rows compare with their retrains)")
    parser.add_argument("--no-unlearning", action="store_true")
    parser.add_argument("--unlearning-methods", default="sisa,receraser,alteraser",
                        help="deployments fitted and unlearned per scale (RecEraser's stacked shard factors, "
                             "shards × users × 64 floats, need 16 GB at 50M with 50 shards: leave it out there)")
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.no_unlearning and not {"als", "bpr"} <= set(args.families.split(",")):
        parser.error("unlearning rows compare with implicit's ALS and BPR retrains: add them or --no-unlearning")
    if args._child:
        kind, *rest = args._child
        if kind == "train":
            result = train_run(rest[0], Path(rest[1]), int(rest[2]))
        elif kind == "unlearn":
            result = unlearn_run(rest[0], Path(rest[1]), int(rest[2]), Path(rest[3]), rest[4].split(","))
        else:
            result = profile_run(Path(rest[0]))
        print(json.dumps(result))
        return

    stalled, run_started = cpu_stall_microseconds(), time.perf_counter()
    sections: list[str] = []
    profile: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="lethe-speed-bench-") as tmp:
        folder = Path(tmp)
        for scale in args.scales.split(","):
            print(f"[{scale}] preparing the split …", flush=True)
            npz = prepare(scale, args.ml1m, folder)
            epochs = args.bpr_epochs[scale]
            runs = {}
            families = {
                "als": [("implicit-als-1", ALS_ITERATIONS), ("lethe-wmf-0", ALS_ITERATIONS),
                        ("implicit-als-6", ALS_ITERATIONS), ("lethe-wmf-5", ALS_ITERATIONS)],
                "bpr": [("implicit-bpr", epochs["implicit"]), ("lethe-bpr-uniform", epochs["lethe"]),
                        ("lethe-bpr-popularity", epochs["lethe"])],
                "lightgcn": [("lethe-lightgcn", args.lightgcn_epochs)] if scale in args.lightgcn_scales.split(",") else [],
            }
            for kind, n in [run for family in args.families.split(",") for run in families[family]]:
                runs[kind] = child("train", kind, str(npz), str(n))
                print(f"[{scale}] {runs[kind]}", flush=True)
            if scale == "ml-1m":
                profile = child("profile", str(npz))
            unlearning = None
            if not args.no_unlearning:
                print(f"[{scale}] unlearning one subject …", flush=True)
                unlearning = child("unlearn", scale, str(args.ml1m), str(args.shards[scale]), str(folder / scale),
                                   args.unlearning_methods)
                print(f"[{scale}] {unlearning}", flush=True)
            sections += scale_section(scale, runs, unlearning, epochs) + [""]

    contention = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - run_started)
    profile_lines = [f"- **{name}:** " + ", ".join(f"`{op}` {share:.0%}" for op, share in ops)
                     for name, ops in profile.items()]
    section = "\n".join([
        f"## Speed vs `implicit` ({IMPLICIT_PIN}) — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the run "
        "(PSI; high means other jobs shared the machine and every wall time here is inflated, theirs and ours).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Data:** ML-1M `ratings.parquet` (implicit feedback) and the seeded synthetic generator "
        f"({', '.join(f'{k}: {u:,} users × ~40, {i:,} items' for k, (u, i) in SYNTHETIC.items())}); per-user "
        "80/20 split (seed 0), NDCG@20 with train items excluded"
        f" (above ML-1M on {EVAL_USERS:,} seeded users).",
        f"- **Settings:** {FACTORS} factors everywhere. ALS: {ALS_ITERATIONS} iterations, reg {REG}; implicit's "
        "confidence alpha·r vs Lethe's 1 + weight (alpha 1 ≡ weight 0, alpha 6 ≡ weight 5); Lethe uses 3 CG "
        "steps like implicit. BPR: lr 0.01, implicit reg 0.01 ≡ Lethe reg 0.005 (see the script); Lethe "
        "`optimizer=\"sgd\"`, negatives re-drawn up to 3× where they hit the user's positives, either uniform "
        "(the default, initial factors std 0.1) or by popularity (as implicit samples them; it skips collisions) "
        "from std-0.01 factors (implicit starts from ±0.5/factors; at 10M, ~32 pairs per user, std 0.1 left "
        "popularity-negative BPR at 0.201 after 10 epochs, std 0.01 at 0.215); one SGD thread, a per-triple "
        "loop compiled with numba, while a second thread samples the next epoch's triples. Each training run is a fresh process (peak RSS is "
        "its own). Unlearning deployments: WMF (weight 5, 15 sweeps); RecEraser UBP + attention aggregator "
        "with its defaults (4 epochs on at most 1M hashed-chosen pairs); AltEraser `solver=ah, max_passes=1`.",
        "- **CPU s** = process CPU time of the fit (all threads): less sensitive than wall time to a busy machine.",
        "- **Unlearning time** = the method's plan + the engine's recorded forget seconds + the lineage proof "
        "(verification excluded), compared with implicit's full retrain on the same data.",
        "- **Where the time goes** (ML-1M; BPR: wall time of each part run alone; WMF: torch.profiler, self CPU):",
        *profile_lines,
        "",
        *sections,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
