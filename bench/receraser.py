"""RecEraser on ML-1M (RecEraser's own split): the shapes of the paper's Table 3, Table 4 and ablations.

For each base model, one fresh workspace: ingest, fit ``retrain`` (1 shard), ``sisa`` (random user shards,
mean) and ``receraser`` (InBP + attention) with the same base-model config and seed, and measure
Recall/NDCG@10/20/50 on the test split (train items excluded). Table 4 is read from the checkpoint records:
the full retrain's training seconds against one RecEraser shard plus the aggregator, which is what one
erased interaction costs. Optionally a whole subject is erased through the engine (every deployment in
one request). Ablations (``--ablations``) vary the partition, the aggregation and the number of shards.
Each part appends its own section to bench/results/.

    python bench/receraser.py --models bpr                     # Table 3 + 4 for BPR
    python bench/receraser.py --models wmf,lightgcn --requests 0
    python bench/receraser.py --models bpr --ablations
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ledger import Ledger
from ui.services import Services, open_services
from unlearn.data import load_source
from unlearn.executor import available_cores, executor_for
from unlearn.ingest import ingest
from unlearn.methods import AGGREGATOR_SHARD, MethodSettings, get_method
from unlearn.progress import TqdmProgress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify import ranking_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

KS = (10, 20, 50)
METRICS = [f"{m}@{k}" for m in ("recall", "ndcg") for k in KS]
#: Base-model configs used unless --model-config overrides them (chosen so one full retrain takes minutes).
MODEL_CONFIGS: dict[str, dict[str, Any]] = {
    "bpr": {"epochs": 30, "reg": 0.003},
    "wmf": {"epochs": 10},
    "lightgcn": {"epochs": 20, "learning_rate": 0.02, "batch_size": 8192},
}
#: RecEraser's ML-1M figures (Chen et al. WWW'22, Tables 3 and 4), in the order of METRICS.
PAPER_TABLE3 = {
    "bpr": {"retrain": (0.1510, 0.2389, 0.4005, 0.3412, 0.3368, 0.3669),
            "sisa": (0.1080, 0.1737, 0.2970, 0.2774, 0.2679, 0.2840),
            "receraser": (0.1393, 0.2254, 0.3822, 0.3208, 0.3186, 0.3483)},
    "wmf": {"retrain": (0.1592, 0.2507, 0.4165, 0.3546, 0.3509, 0.3838),
            "sisa": (0.0759, 0.1266, 0.2309, 0.2058, 0.1998, 0.2174),
            "receraser": (0.1435, 0.2254, 0.3818, 0.3317, 0.3253, 0.3542)},
    "lightgcn": {"retrain": (0.1544, 0.2428, 0.4076, 0.3509, 0.3447, 0.3754),
                 "sisa": (0.1089, 0.1743, 0.3084, 0.2767, 0.2686, 0.2905),
                 "receraser": (0.1425, 0.2266, 0.3839, 0.3276, 0.3229, 0.3520)},
}
PAPER_TABLE4_MINUTES = {"bpr": (330, 12, 10), "wmf": (13, 0.9, 0.2), "lightgcn": (545, 17, 14)}  # retrain, shard, agg


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-1m-receraser",
                        help="train.txt/test.txt folder (default: ../shared/data/ml-1m-receraser)")
    parser.add_argument("--models", default="bpr", help="comma-separated base models: bpr, wmf, lightgcn")
    parser.add_argument("--model-config", type=json.loads, default={},
                        help='JSON overrides per model, e.g. \'{"bpr": {"epochs": 10}}\'')
    parser.add_argument("--aggregator", type=json.loads, default={}, help="JSON aggregator hyper-parameters")
    parser.add_argument("--shards", type=int, default=10)
    parser.add_argument("--requests", type=int, default=1,
                        help="whole subjects erased through the engine after Table 3 (0: none)")
    parser.add_argument("--ablations", action="store_true", help="partitions, aggregations and shards 5/10/20 "
                        "instead of Table 3/4")
    parser.add_argument("--workers", type=int, default=available_cores(), help="shard-training processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of this process (retrain, "
                        "aggregator); workers always use one each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-append", action="store_true", help="print only, write nothing to bench/results/")
    return parser.parse_args(argv)


class Bench:
    """One workspace per base model; fits deployments, evaluates them, and keeps the timings."""

    def __init__(self, args: argparse.Namespace, model: str, root: Path) -> None:
        self.args, self.model = args, model
        self.config = {**MODEL_CONFIGS[model], **args.model_config.get(model, {})}
        self.stall_start, self.wall_start = cpu_stall_microseconds(), time.perf_counter()
        self.services: Services = open_services(root / model)
        started = time.perf_counter()
        self.facts = ingest(self.services.ledger, load_source("lightgcn", args.data), actor="bench").payload
        self.ingest_seconds = time.perf_counter() - started
        self.fit_seconds: dict[str, float] = {}

    @property
    def ledger(self) -> Ledger:
        return self.services.ledger

    def fit(self, label: str, method: str, **settings: Any) -> str:
        fields = {"method": method, "base_model": self.model, "seed": self.args.seed, "model": self.config,
                  "shards": 1 if method == "retrain" else self.args.shards, **settings}
        if method == "receraser":
            fields.setdefault("aggregator", self.args.aggregator)
        trainer = get_method(method).with_executor(executor_for(self.args.workers))
        started = time.perf_counter()
        deployment = trainer.fit(self.ledger, MethodSettings(**fields), TqdmProgress(), actor="bench")
        self.fit_seconds[label] = time.perf_counter() - started
        return deployment.deployment_id

    def evaluate(self, deployment_id: str) -> dict[str, float]:
        train, test = Interactions.from_store(self.ledger, "train"), Interactions.from_store(self.ledger, "test")
        model = get_method(self.ledger.deployment(deployment_id).method).load(self.ledger, deployment_id).model
        return ranking_metrics(model, train.csr(), test.csr(), KS)

    def checkpoint_seconds(self, deployment_id: str) -> tuple[list[float], float | None]:
        """Training seconds of each shard checkpoint made at fit, and of the aggregator (None if none)."""
        fitted = [c for c in self.ledger.checkpoints(deployment_id) if c.request_id is None]
        shards = [c.train_seconds for c in fitted if c.shard >= 0]
        aggregator = next((c.train_seconds for c in fitted if c.shard == AGGREGATOR_SHARD), None)
        return shards, aggregator

    def erase(self, subject: str, deployments: dict[str, str]) -> dict[str, Any]:
        """One whole-subject request through the engine; per-deployment forget seconds and what was replaced."""
        engine = self.services.engine
        request_id = engine.file(ErasureRequest(subject=subject, notes="bench/receraser.py"), actor="bench")
        started = time.perf_counter()
        record = engine.run(request_id, TqdmProgress(), actor="bench")
        unlearned = {d["deployment_id"]: d for d in record.require_payload("unlearned")["deployments"]}
        verified = record.payload("verified") or {}
        return {
            "subject": subject,
            "interactions": len(record.require_payload("planned")["interaction_ids"]),
            "seconds": {label: unlearned[d]["seconds"] for label, d in deployments.items() if d in unlearned},
            "replaced": {label: [r["shard"] for r in unlearned[d]["replaced"]]
                         for label, d in deployments.items() if d in unlearned},
            "wall": time.perf_counter() - started,
            "state": record.state,
            "failed_checks": verified.get("failed_checks", []),
        }

    def subject_at_median(self) -> str:
        frame = self.ledger.store.subjects_frame().sort_values(["interactions", "user_idx"], ignore_index=True)
        return str(frame.iloc[len(frame) // 2]["subject"])


def _row(label: str, values: dict[str, float], paper: tuple[float, ...] | None) -> str:
    ours = " | ".join(f"{values[m]:.4f}" for m in METRICS)
    theirs = " | ".join(f"{v:.4f}" for v in paper) if paper else " | ".join("–" for _ in METRICS)
    return f"| {label} | {ours} | {theirs} |"


def table3_and_4(bench: Bench) -> str:
    args, model = bench.args, bench.model
    deployments = {"retrain": bench.fit("retrain", "retrain"), "sisa": bench.fit("sisa", "sisa"),
                   "receraser": bench.fit("receraser", "receraser", partition="inbp", aggregation="attention")}
    results = {label: bench.evaluate(d) for label, d in deployments.items()}
    retrain_s = bench.checkpoint_seconds(deployments["retrain"])[0][0]
    shard_s, agg_s = bench.checkpoint_seconds(deployments["receraser"])
    sisa_s = bench.checkpoint_seconds(deployments["sisa"])[0]
    one = statistics.mean(shard_s) + (agg_s or 0.0)
    paper4 = PAPER_TABLE4_MINUTES[model]
    aggregator = bench.ledger.live_checkpoints(deployments["receraser"])[AGGREGATOR_SHARD].config
    sizes = bench.ledger.deployment(deployments["receraser"]).shard_sizes
    partition = bench.ledger.deployment(deployments["receraser"]).facts["partition"]

    erasures = [bench.erase(bench.subject_at_median(), deployments)] if args.requests else []
    r20 = {label: results[label]["recall@20"] for label in results}
    lines = [
        f"## RecEraser — Table 3/4 shape, {model.upper()} on ML-1M (RecEraser split) — {utc_stamp()}",
        "",
        *header(bench),
        f"- **Deployments:** `retrain` (1 shard); `sisa` ({args.shards} random user shards, mean of scores); "
        f"`receraser` ({args.shards} InBP shards, cap 1.2 × mean, embeddings pre-trained by "
        f"{partition['pretrain']['model'].upper()} {partition['pretrain']['config']} in "
        f"{partition['pretrain']['seconds']:.0f} s, partition {partition['seconds']:.0f} s; attention aggregator "
        f"{json.dumps(aggregator)}). Shard sizes: "
        f"{', '.join(f'{s:,}' for s in sizes)}.",
        f"- **Fit wall times:** {', '.join(f'{k} {v:.0f} s' for k, v in bench.fit_seconds.items())} "
        f"({args.workers} worker processes for shards).",
        "",
        "Table 3 shape (ours | the paper's ML-1M figures):",
        "",
        "| method | " + " | ".join(METRICS) + " | " + " | ".join(f"paper {m}" for m in METRICS) + " |",
        "|---|" + "---:|" * (2 * len(METRICS)),
        *[_row(label, results[label], PAPER_TABLE3[model][label]) for label in deployments],
        "",
        f"**Goal check (Recall@20):** RecEraser / Retrain = {r20['receraser'] / r20['retrain']:.3f} "
        f"(goal ≥ 0.95: {'met' if r20['receraser'] >= 0.95 * r20['retrain'] else 'missed'}); RecEraser vs SISA "
        f"{r20['receraser']:.4f} vs {r20['sisa']:.4f} (goal >: {'met' if r20['receraser'] > r20['sisa'] else 'missed'}). "
        f"Paper: {PAPER_TABLE3[model]['receraser'][1] / PAPER_TABLE3[model]['retrain'][1]:.3f} and "
        f"{PAPER_TABLE3[model]['receraser'][1]:.4f} vs {PAPER_TABLE3[model]['sisa'][1]:.4f}.",
        "",
        "Table 4 shape: training seconds from the checkpoint records. One erased interaction sits in one "
        "RecEraser shard, so unlearning it retrains that shard and the aggregator:",
        "",
        "| | retrain | RecEraser shard (mean of "
        f"{len(shard_s)}) | aggregator | RecEraser total | speed-up | SISA shard (mean) |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| ours (s) | {retrain_s:.1f} | {statistics.mean(shard_s):.1f} | {agg_s or 0:.1f} | {one:.1f} | "
        f"{retrain_s / one:.1f}× | {statistics.mean(sisa_s):.1f} |",
        f"| paper (min) | {paper4[0]} | {paper4[1]} | {paper4[2]} | {paper4[1] + paper4[2]:.1f} | "
        f"{paper4[0] / (paper4[1] + paper4[2]):.0f}× | |",
        "",
        f"Goal ≥ 20× for one subject: {'met' if retrain_s / one >= 20 else 'missed'} for one interaction "
        f"({retrain_s / one:.1f}×).",
    ]
    for erasure in erasures:
        seconds = erasure["seconds"]
        lines += [
            "",
            f"Whole subject through the engine (subject {erasure['subject']}, {erasure['interactions']} interactions, "
            f"median activity; all three deployments in one request; request wall {erasure['wall']:.0f} s including "
            f"verification, ended **{erasure['state']}**"
            + (f", failed checks: {', '.join(erasure['failed_checks'])}" if erasure["failed_checks"] else "") + "):",
            "",
            "| deployment | forget s | checkpoints replaced (shard keys; -1 = aggregator) | speed-up vs retrain |",
            "|---|---:|---|---:|",
            *[f"| {label} | {seconds[label]:.1f} | {', '.join(map(str, erasure['replaced'][label]))} | "
              f"{seconds['retrain'] / seconds[label]:.1f}× |" for label in seconds],
        ]
    return "\n".join(lines)


def ablations(bench: Bench) -> str:
    base = {"partition": "inbp", "aggregation": "attention"}
    runs = [("partition", {**base, "partition": p}) for p in ("inbp", "ubp", "ibp", "random")]
    runs += [("aggregation", {**base, "partition": p, "aggregation": a}) for p in ("inbp", "ubp") for a in ("mean", "static")]
    runs += [("shards", {**base, "shards": n}) for n in (5, 20)]
    rows = []
    subject_ids = bench.ledger.subject_interaction_ids(bench.ledger.workspace.subject_ref(bench.subject_at_median()))
    for axis, settings in runs:
        deployment_id = bench.fit(f"{axis}:{settings}", "receraser", **settings)
        metrics = bench.evaluate(deployment_id)
        shard_s, agg_s = bench.checkpoint_seconds(deployment_id)
        hit = bench.ledger.shards_holding(deployment_id, subject_ids)
        rows.append(f"| {axis} | {settings['partition']} | {settings['aggregation']} | "
                    f"{settings.get('shards', bench.args.shards)} | {metrics['recall@20']:.4f} | "
                    f"{metrics['ndcg@20']:.4f} | {statistics.mean(shard_s):.1f} | {agg_s or 0:.1f} | {len(hit)} |")
    return "\n".join([
        f"## RecEraser — ablations, {bench.model.upper()} on ML-1M (RecEraser split) — {utc_stamp()}",
        "",
        *header(bench),
        "",
        "The `partition` rows use the attention aggregator, the `aggregation` rows compare mean and static with "
        "it on InBP and UBP, and all rows not under `shards` use "
        f"{bench.args.shards} shards. Seconds: mean shard training and aggregator training. *Subject shards*: how many shards hold the "
        "interactions of the median-activity subject, i.e. what erasing a whole subject retrains (plus the "
        "aggregator).",
        "",
        "| axis | partition | aggregation | shards | Recall@20 | NDCG@20 | shard s | aggregator s | subject shards |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
        *rows,
    ])


def header(bench: Bench) -> list[str]:
    facts, args = bench.facts, bench.args
    stall = (cpu_stall_microseconds() - bench.stall_start) / 1e6 / max(time.perf_counter() - bench.wall_start, 1e-9)
    return [
        f"- **Data:** `{args.data.name}/` (loader `lightgcn`, fixed split) — {facts['n_users']:,} users, "
        f"{facts['n_items']:,} items, train {facts['n_train']:,} / test {facts['n_test']:,}; ingest "
        f"{bench.ingest_seconds:.0f} s.",
        f"- **Machine:** {machine()}; {args.threads} torch thread(s) in the main process, {args.workers} shard "
        f"worker(s) of one thread each. Some task waited for a CPU {stall:.0%} of the time (PSI: other jobs "
        f"shared the machine if high), load average {os.getloadavg()[1]:.1f} (5 min) at the end.",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Base model:** {bench.model.upper()} {json.dumps(bench.config)} (other hyper-parameters at their "
        f"defaults), seed {args.seed}, the same for every deployment.",
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ["LETHE_WORKERS"] = str(args.workers)  # the engine's forget retrains several hit shards at once
    with tempfile.TemporaryDirectory(prefix="lethe-receraser-") as scratch:
        for model in args.models.split(","):
            bench = Bench(args, model, Path(scratch))
            section = ablations(bench) if args.ablations else table3_and_4(bench)
            print(section, flush=True)
            if not args.no_append:
                append_section(section, __file__)


if __name__ == "__main__":
    main()
