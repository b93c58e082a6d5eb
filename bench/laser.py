"""LASER (Li et al.) on ML-1M (implicit) and ML-100K: the shapes of the paper's Figures 4, 5, 7 and 8, in one run.

For each data set and base model, one fresh workspace (Lethe's per-user 80/20 split), then:

- *Figure 5* (utility): Retrain, C-SISA (``sisa``: random user shards, each user scored by their shard's model,
  i.e. the paper's concatenated user embeddings) and LASER with Rand, BKM and CBKM groups for S ∈ {2, 4, 8, 16};
  S = 1 is Retrain for all of them (one group is a full training). NDCG@10 and HR@10 on the test split, train
  items excluded, full ranking over all items. A popularity ranking (no model) is printed as the floor a trained
  model must clear before any comparison between methods means something.
- *Figure 7*: CBKM with S = 8 trained easy-to-hard (SeqTrain) and hard-to-easy (anti-SeqTrain), as pairs under
  ``--order-seeds`` seeds (each seed re-draws walks, groups and training), so the gap is set against seed noise.
- *Figure 4*: unlearning 5% of all users, drawn from the last group of L-CBKM (S = 8), as one batch: seconds to
  forget for Retrain, C-SISA (S = 8; every shard those users hit, summed and the slowest one, as if in parallel)
  and L-CBKM, and NDCG@10/HR@10 after.
- *Figure 8*: the S = 8 CBKM groups sorted by ρ, a base model trained from scratch on each group alone for
  ``--cohesion-epochs`` (the paper's T; ML-100K: 50 as in the paper, ML-1M: 10 for time), and its test loss
  (binary cross-entropy on the group's test pairs and as many sampled negatives).
- The collaborative embedding's wall time (hypergraph + walks + Word2Vec) is measured and printed.

Base model: NeuMF (the paper's NMF) by default. DMF is the paper's other model and runs with ``--runs
ml-1m:dmf:8``, but at the epochs this 2-CPU machine affords it has not left the popularity ranking (ML-1M, Adam
lr 0.001, batch 2048, NDCG@10: 3 epochs 0.190, 10 epochs 0.191, 25 epochs 0.205; popularity 0.205), so its
Figure 5 compares models that all rank by popularity; NeuMF clears that floor in 3 epochs (0.265).

    python bench/laser.py                      # ML-100K + ML-1M, NeuMF, S = 2…16: ~35 min on 2 busy CPUs
    python bench/laser.py --runs ml-1m:dmf:2/4/8/16    # the DMF grid on ML-1M
    python bench/laser.py --runs ml-100k:neumf:8 --epochs ml-100k=1 --cohesion-epochs ml-100k=1 --no-append
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from ui.services import Services, open_services
from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.methods import MethodSettings, get_method
from unlearn.models import Recommender
from unlearn.registry import base_model
from unlearn.progress import TqdmProgress
from unlearn.requests import ErasureRequest
from unlearn.training_data import Interactions
from verify import ranking_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

DATA = REPO.parent / "shared" / "data"
SOURCES = {"ml-1m": DATA / "ml-1m", "ml-100k": DATA / "ml-100k"}
GROUPINGS = ("rand", "bkm", "cbkm")
#: Epochs per group (= per full training for Retrain and per shard for C-SISA) and batch sizes, chosen so the
#: whole run takes well under an hour on a shared 2-CPU machine; the paper trains 50 (ML) and 20 (AM) epochs.
DEFAULT_EPOCHS = {"ml-1m": 3, "ml-100k": 5}
DEFAULT_BATCH = {"ml-1m": 2048, "ml-100k": 1024}
#: Epochs of each Figure 8 group trained alone from scratch: the paper's T = 50 where it is cheap (an ML-100K
#: group holds ~10k interactions), 10 on ML-1M (8 groups × 10 epochs ≈ 10 epochs over all of ML-1M).
DEFAULT_COHESION_EPOCHS = {"ml-1m": 10, "ml-100k": 50}
#: Seeds of the Figure 7 pairs (easy-to-hard vs hard-to-easy): a pair costs two fits.
DEFAULT_ORDER_SEEDS = {"ml-1m": 2, "ml-100k": 5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="ml-100k:neumf:2/4/8/16,ml-1m:neumf:2/4/8/16",
                        help="comma-separated DATA:MODEL:S/S/... (data ml-1m or ml-100k; model dmf or neumf; the "
                        "group counts of Figure 5 — Figures 4, 7 and 8 use S = 8, which must be among them)")
    parser.add_argument("--epochs", default="", help="per data set, e.g. ml-1m=5,ml-100k=20")
    parser.add_argument("--cohesion-epochs", default="", help="Figure 8 epochs per data set, e.g. ml-1m=20")
    parser.add_argument("--order-seeds", default="", help="Figure 7 seed pairs per data set, e.g. ml-1m=3")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-append", action="store_true", help="print only, write nothing to bench/results/")
    return parser.parse_args(argv)


def evaluate(model: Recommender, train: Interactions, test: Interactions) -> dict[str, float]:
    """NDCG@10 (Lethe's definition) and HR@10: share of test users with a test item in their top 10."""
    train_csr, test_csr = train.csr(), test.csr()
    ndcg = ranking_metrics(model, train_csr, test_csr, (10,))["ndcg@10"]
    users = np.flatnonzero(np.diff(test_csr.indptr) > 0)
    top = model.recommend(users, 10, exclude=train_csr)
    hits = np.asarray(test_csr[users[:, None], top].todense()) > 0
    return {"ndcg@10": ndcg, "hr@10": float(hits.any(axis=1).mean())}


class Popularity(Recommender):
    """Every user gets the items ranked by their number of training interactions: the floor of Figure 5."""

    def __init__(self, train: Interactions) -> None:
        self.n_users, self.n_items = train.n_users, train.n_items
        self.counts = np.bincount(train.item_idx, minlength=train.n_items).astype(np.float32)

    def score_all(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.n_items))


class Run:
    """One workspace (data set × base model): fits, evaluations and timings."""

    def __init__(self, args: argparse.Namespace, data: str, model: str, groups: tuple[int, ...], epochs: int,
                 cohesion_epochs: int, root: Path) -> None:
        self.args, self.data, self.model, self.groups_grid, self.epochs = args, data, model, groups, epochs
        self.cohesion_epochs = cohesion_epochs
        self.services: Services = open_services(root / f"{data}-{model}")
        started = time.perf_counter()
        self.facts = ingest(self.services.ledger, load_source(data, SOURCES[data]), actor="bench").payload
        self.ingest_seconds = time.perf_counter() - started
        self.config = {"epochs": epochs, "batch_size": DEFAULT_BATCH[data]}
        self.train = Interactions.from_store(self.services.ledger, "train")
        self.test = Interactions.from_store(self.services.ledger, "test")
        self.utility: dict[tuple[str, int], dict[str, float]] = {}
        self.fit_seconds: dict[tuple[str, int], float] = {}
        self.deployments: dict[tuple[str, int], str] = {}
        self.popularity = evaluate(Popularity(self.train), self.train, self.test)
        print(f"{data} popularity ranking: {self.popularity}", flush=True)

    def fit(self, label: str, shards: int, method: str, seed: int | None = None, **options: Any) -> str:
        seed = self.args.seed if seed is None else seed
        settings = MethodSettings(method=method, base_model=self.model, shards=shards, seed=seed,
                                  model=self.config, options=options)
        started = time.perf_counter()
        deployment = get_method(method).fit(self.services.ledger, settings, TqdmProgress(), actor="bench")
        self.fit_seconds[label, shards] = time.perf_counter() - started
        self.utility[label, shards] = evaluate(deployment.model, self.train, self.test)
        self.deployments[label, shards] = deployment.deployment_id
        print(f"{self.data} {self.model} {label} S={shards}: {self.utility[label, shards]} "
              f"({self.fit_seconds[label, shards]:.0f} s)", flush=True)
        return deployment.deployment_id

    def groups(self, label: str, shards: int) -> dict[str, Any]:
        return self.services.ledger.deployment(self.deployments[label, shards]).facts["groups"]

    # -- Figure 4 -------------------------------------------------------------------------------
    def unlearn_batch(self, labels: dict[str, tuple[str, int]]) -> dict[str, Any]:
        """5% of all users, drawn from L-CBKM's last group, forgotten in one batch by every deployment."""
        ledger = self.services.ledger
        laser = self.deployments[labels["L-CBKM"]]
        last = MethodSettings(**ledger.deployment(laser).settings).shards - 1
        group_of = ledger.shard_assignments(laser).set_index("interaction_id")["shard"]
        in_last = np.unique(self.train.user_idx[group_of.loc[self.train.interaction_id].to_numpy() == last])
        n_users = len(np.unique(self.train.user_idx))
        chosen = np.random.default_rng(self.args.seed).choice(in_last, size=min(len(in_last), math.ceil(0.05 * n_users)),
                                                              replace=False)
        subjects = ledger.store.subjects_frame().set_index("user_idx")["subject"].astype(str)
        ids = sorted(int(i) for i in self.train.interaction_id[np.isin(self.train.user_idx, chosen)])
        ids += [int(i) for i in self.test.interaction_id[np.isin(self.test.user_idx, chosen)]]
        request_id = self.services.engine.file(ErasureRequest(subject=subjects[chosen[0]], notes="bench/laser.py batch"))
        # one request forgetting the whole batch: its planned event lists every chosen user's ids (the engine
        # serves one subject per request; the methods' forget takes any planned set)
        ledger.append("request.planned", {"request_id": request_id, "interaction_ids": sorted(ids)}, actor="bench")
        remaining_train = self.train.subset(~np.isin(self.train.user_idx, chosen))
        out: dict[str, Any] = {"users": len(chosen), "interactions": len(ids), "group": last}
        for name, key in labels.items():
            deployment_id = self.deployments[key]
            method = get_method(ledger.deployment(deployment_id).method)
            plan = method.plan(ledger, deployment_id, ids)
            count = len(ledger.checkpoints(deployment_id))
            started = time.perf_counter()
            deployment = method.forget(ledger, plan, request_id, TqdmProgress(), actor="bench")
            seconds = time.perf_counter() - started
            trained = [c.train_seconds for c in ledger.checkpoints(deployment_id)[count:]]
            out[name] = {"seconds": seconds, "slowest_checkpoint": max(trained), "retrained": len(trained),
                         "cost_fraction": plan.estimated_cost_fraction,
                         **evaluate(deployment.model, remaining_train, self.test)}
            print(f"unlearn {name}: {out[name]}", flush=True)
        return out

    # -- Figure 8 -------------------------------------------------------------------------------
    def cohesion_losses(self, key: tuple[str, int]) -> list[dict[str, float]]:
        """Each group (in ρ order, highest first) trained alone from scratch; BCE on its test pairs + negatives."""
        ledger = self.services.ledger
        deployment_id = self.deployments[key]
        groups = ledger.deployment(deployment_id).facts["groups"]
        order = np.argsort(-np.asarray(groups["cohesion"]), kind="stable")  # positions by descending ρ
        user_group = np.full(self.train.n_users, -1)
        assigned = ledger.shard_assignments(deployment_id).set_index("interaction_id")["shard"]
        user_group[self.train.user_idx] = assigned.loc[self.train.interaction_id].to_numpy()
        spec = base_model(self.model)
        config = spec.config_class(**{**self.config, "epochs": self.cohesion_epochs})
        rng = np.random.default_rng(self.args.seed)
        rows = []
        for position in order:
            members = user_group == position
            train = self.train.subset(members[self.train.user_idx])
            test = self.test.subset(members[self.test.user_idx])
            model = spec.train(train.user_idx, train.item_idx, train.n_users, train.n_items, config, self.args.seed)
            rows.append({"position": int(position), "rho": groups["cohesion"][position],
                         "loss": test_loss(model, test, rng, self.model)})
            print(f"group {position}: ρ {rows[-1]['rho']:.1f}, test loss {rows[-1]['loss']:.4f}", flush=True)
        return rows


def test_loss(model: Recommender, test: Interactions, rng: np.random.Generator, kind: str) -> float:
    """Mean binary cross-entropy over the test pairs (label 1) and one random item per pair (label 0)."""
    negatives = rng.integers(0, test.n_items, size=len(test))
    scores = np.concatenate([model.score(test.user_idx, test.item_idx), model.score(test.user_idx, negatives)])
    labels = np.r_[np.ones(len(test)), np.zeros(len(test))]
    probability = np.clip(scores, 1e-6, 1 - 1e-6) if kind == "dmf" else 1 / (1 + np.exp(-scores))
    probability = np.clip(probability, 1e-6, 1 - 1e-6)
    return float(-(labels * np.log(probability) + (1 - labels) * np.log(1 - probability)).mean())


def embedding_seconds(run: Run) -> float:
    """The embedding's wall time in the fit that made it: later LASER fits on the same training set and seed
    reuse it from memory and record ~0 s (see ``unlearn.partition.collaborative_embedding``)."""
    return max(run.groups(label, s)["embedding"]["seconds"] for label, s in run.deployments if label.startswith("L-"))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    epochs, cohesion_epochs, order_seeds = (
        {**default, **{k: int(v) for k, v in (p.split("=") for p in given.split(",") if p)}}
        for default, given in ((DEFAULT_EPOCHS, args.epochs), (DEFAULT_COHESION_EPOCHS, args.cohesion_epochs),
                               (DEFAULT_ORDER_SEEDS, args.order_seeds)))
    stall, wall = cpu_stall_microseconds(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lethe-laser-") as tmp:
        for spec in args.runs.split(","):
            data, model, grid = spec.split(":")
            groups = tuple(int(g) for g in grid.split("/"))
            if 8 not in groups:
                raise SystemExit(f"{spec}: Figures 4, 7 and 8 use S = 8; include it")
            run = Run(args, data, model, groups, epochs[data], cohesion_epochs[data], Path(tmp))
            run.fit("Retrain", 1, "retrain")
            for shards in groups:
                run.fit("C-SISA", shards, "sisa")
                for grouping in GROUPINGS:
                    run.fit(f"L-{grouping.upper()}", shards, "laser", grouping=grouping)
            run.fit("L-CBKM hard-to-easy", 8, "laser", grouping="cbkm", order="hard_to_easy")
            for seed in range(args.seed + 1, args.seed + order_seeds[data]):
                for order in ("easy_to_hard", "hard_to_easy"):
                    run.fit(f"L-CBKM {order} seed {seed}", 8, "laser", seed=seed, grouping="cbkm", order=order)
            losses = run.cohesion_losses(("L-CBKM", 8))
            batch = run.unlearn_batch({"Retrain": ("Retrain", 1), "C-SISA": ("C-SISA", 8), "L-CBKM": ("L-CBKM", 8)})
            busy = (cpu_stall_microseconds() - stall) / 1e6 / (time.perf_counter() - wall)
            section = report(args, run, losses, batch) + (
                f"\nRun so far: {(time.perf_counter() - wall) / 60:.1f} min; some task waited for a CPU {busy:.0%} "
                "of the time (PSI: other jobs shared the machine).\n")
            print(section, flush=True)
            if not args.no_append:
                append_section(section, __file__)


def report(args: argparse.Namespace, run: Run, losses: list[dict[str, float]], batch: dict[str, Any]) -> str:
    f = run.facts
    vertex_weight = run.groups("L-CBKM", 8)["embedding"].get("vertex_weight", "average")
    head = [
        f"## LASER (issue 6) — {run.data}, {run.model.upper()} — {utc_stamp()}",
        "",
        f"- **Data:** `{run.data}` — {f['n_users']:,} users, {f['n_items']:,} items, train {f['n_train']:,} / "
        f"test {f['n_test']:,} (Lethe's per-user 80/20 split, implicit feedback); ingest {run.ingest_seconds:.1f} s.",
        f"- **Machine:** {machine()}; {args.threads} torch thread(s).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- **Base model:** {run.model.upper()} {base_model(run.model).config_class(**run.config).model_dump()} "
        f"— **{run.epochs} epochs per group** (Retrain: {run.epochs} over all data; C-SISA: {run.epochs} per shard), "
        f"seed {args.seed}.",
        f"- **Collaborative embedding** (hypergraph with vertex weight `{vertex_weight}` + walks 4×8 + Word2Vec, "
        "one worker): "
        f"{embedding_seconds(run):.1f} s (made once, reused by every later LASER fit of this seed); grouping "
        f"(balanced k-means, S = 8) {run.groups('L-CBKM', 8)['grouping_seconds']:.1f} s.",
        "",
        "**Figure 5 shape** — utility at S groups (S = 1: Retrain for every method).",
        "",
        "| method | metric | " + " | ".join(f"S={s}" for s in (1, *run.groups_grid)) + " |",
        "|---|---|" + "---:|" * (1 + len(run.groups_grid)),
        *(f"| popularity (no model) | {metric.upper()} | {run.popularity[metric]:.4f} |" + " |" * len(run.groups_grid)
          for metric in ("ndcg@10", "hr@10")),
    ]
    rows = []
    for label in ("Retrain", "C-SISA", "L-RAND", "L-BKM", "L-CBKM"):
        for metric in ("ndcg@10", "hr@10"):
            values = [run.utility["Retrain", 1][metric]] + [
                run.utility.get((label, s), run.utility["Retrain", 1])[metric] if label != "Retrain" else math.nan
                for s in run.groups_grid]
            rows.append(f"| {label} | {metric.upper()} | " + " | ".join(
                "—" if math.isnan(v) else f"{v:.4f}" for v in values) + " |")
    above = {s: all(run.utility[f"L-{g.upper()}", s][m] > run.utility["C-SISA", s][m]
                    for g in GROUPINGS for m in ("ndcg@10", "hr@10")) for s in run.groups_grid}
    verdict = ", ".join(f"S={s}: {'yes' if ok else 'no'}" for s, ok in above.items())
    e2h, h2e = run.utility["L-CBKM", 8], run.utility["L-CBKM hard-to-easy", 8]
    pairs = [(e2h, h2e)] + [(run.utility[f"L-CBKM easy_to_hard seed {seed}", 8],
                             run.utility[f"L-CBKM hard_to_easy seed {seed}", 8])
                            for seed in sorted({int(k.rsplit(" ", 1)[1]) for k, _ in run.utility if " seed " in k})]
    gaps = np.array([[a[m] - b[m] for m in ("ndcg@10", "hr@10")] for a, b in pairs])
    rho = [row["rho"] for row in losses]
    correlation = spearmanr(rho, [row["loss"] for row in losses]).statistic
    times = [
        "",
        f"Every LASER variant above C-SISA on both metrics: {verdict}.",
        "",
        f"**Figure 7 shape** — L-CBKM, S = 8: easy-to-hard NDCG@10 {e2h['ndcg@10']:.4f} / HR@10 {e2h['hr@10']:.4f}; "
        f"hard-to-easy {h2e['ndcg@10']:.4f} / {h2e['hr@10']:.4f} "
        f"({'easy-to-hard ahead' if e2h['ndcg@10'] > h2e['ndcg@10'] else 'hard-to-easy ahead'} on NDCG@10). "
        f"Over {len(pairs)} seed(s), easy-to-hard minus hard-to-easy: NDCG@10 {gaps[:, 0].mean():+.4f} "
        f"(sd {gaps[:, 0].std(ddof=1) if len(pairs) > 1 else math.nan:.4f}, "
        f"ahead in {(gaps[:, 0] > 0).sum()}/{len(pairs)}), "
        f"HR@10 {gaps[:, 1].mean():+.4f} (ahead in {(gaps[:, 1] > 0).sum()}/{len(pairs)}).",
        "",
        f"**Figure 4 shape** — forgetting {batch['users']} users (5% of all users, all in L-CBKM's last group {batch['group']}; "
        f"{batch['interactions']:,} interactions) in one batch, S = 8. C-SISA's users are spread over its random "
        "shards; 'parallel' = its slowest retrained shard, as the paper runs shards in parallel.",
        "",
        "| method | seconds | parallel s | checkpoints retrained | plan's cost fraction | NDCG@10 after | HR@10 after |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("Retrain", "C-SISA", "L-CBKM"):
        b = batch[name]
        times.append(f"| {name} | {b['seconds']:.1f} | {b['slowest_checkpoint']:.1f} | {b['retrained']} | "
                     f"{b['cost_fraction']:.1%} | {b['ndcg@10']:.4f} | {b['hr@10']:.4f} |")
    groups8 = run.groups("L-CBKM", 8)
    times += [
        "",
        f"Expected retraining cost of a uniformly drawn subject (Eq. 7 / Z, recorded at fit): "
        f"{groups8['expected_cost_fraction']:.1%} of the training data for L-CBKM S = 8 (balanced optimum "
        f"(1 + 1/S)/2 = {(1 + 1 / 8) / 2:.1%}).",
        "",
        f"**Figure 8 shape** — each S = 8 CBKM group trained alone from scratch ({run.cohesion_epochs} epochs), "
        "sorted by ρ "
        f"(descending); Spearman(ρ, test loss) = {correlation:+.2f} (the paper: loss grows as ρ falls, i.e. negative).",
        "",
        "| ρ | " + " | ".join(f"{r:.1f}" for r in rho) + " |",
        "|---|" + "---:|" * len(rho),
        "| test loss | " + " | ".join(f"{row['loss']:.4f}" for row in losses) + " |",
        "",
        "Fit seconds: " + ", ".join(f"{label} S={s} {sec:.0f}" for (label, s), sec in run.fit_seconds.items()) + ".",
    ]
    return "\n".join(head + rows + times) + "\n"


if __name__ == "__main__":
    main()
