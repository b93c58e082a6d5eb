"""The verifier's power: does it catch half-hearted unlearners, and does it leave honest ones alone?

For each request size (whole users erased) and each seeded trial, erases a fresh set of users, trains every candidate
of ``verify._power`` (half-hearted: no-op, fine-tune cut to 1 % / 10 % of warm start's steps, AltEraser's erase pass
over half the users, SISA retraining a wrong shard; honest: retrain, SISA, RecEraser, AltEraser) and one set of
references, judges each candidate with the policy and counts per candidate and size how often it *failed* a check
(detection for half-hearted candidates, a false alarm for honest ones), *certified*, or neither (every informative
check inconclusive: the request would wait for the audit window). Prints the tables and appends them to
bench/results/.

    python bench/verifier_power.py                                      # ML-1M, sizes 1 10 100, 10 trials
    python bench/verifier_power.py --source ml-100k --data ../shared/data/ml-100k --trials 3 --epochs 8 --dim 32
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from ledger import Ledger
from policies import load_policy
from unlearn.data import load_source
from unlearn.ingest import ingest
from unlearn.models import BPRConfig
from unlearn.training_data import Interactions
from verify._power import CANDIDATES, DISHONEST, PowerStudy, run_power_study, separation_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

OUTCOMES = ("failed", "certified", "undecided")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-1m")
    parser.add_argument("--source", default="ml-1m", help="loader name (ml-1m, ml-100k, ...)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100], help="whole users erased per request")
    parser.add_argument("--trials", type=int, default=10, help="seeded trials per size (users, models, references)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--dim", type=int, default=64, help="embedding size")
    parser.add_argument("--shards", type=int, default=5, help="SISA and RecEraser shards")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-append", action="store_true", help="print only, write nothing to bench/results/")
    return parser.parse_args(argv)


def outcome(study: PowerStudy, candidate: str) -> str:
    """``failed`` (a check failed), ``certified`` (certifiable on statistics alone) or ``undecided``."""
    if any(check.verdict == "fail" for check in study.checks[candidate]):
        return "failed"
    return "certified" if study.passed(candidate) else "undecided"


def _cell(value: float | str) -> str:
    return value if isinstance(value, str) else ("-" if math.isnan(value) else f"{value:.4f}")


def report(args: argparse.Namespace, facts: dict, counts: dict[tuple[str, int], Counter], reasons: dict[str, Counter],
           example: PowerStudy, seconds: float, contention: float) -> str:
    """The markdown section appended to bench/results/."""
    rates = []
    for candidate in CANDIDATES:
        kind = "half-hearted" if candidate in DISHONEST else "honest"
        cells = []
        for size in args.sizes:
            seen = counts[candidate, size]
            cells.append(" / ".join(f"{seen[o] / args.trials:.0%}" for o in OUTCOMES))
        top = ", ".join(f"{name} ({n})" for name, n in reasons[candidate].most_common(3)) or "-"
        rates.append(f"| {candidate} | {kind} | {' | '.join(cells)} | {top} |")
    header = ["metric", *example.evidence, "Retrain*", "reference"]
    rows = [f"| {' | '.join(_cell(v) for v in row.values())} |" for row in separation_rows(example)]
    size_header = " | ".join(f"{size} user{'s' if size > 1 else ''}" for size in args.sizes)
    return "\n".join([
        f"## Verifier power with half-hearted unlearners — {facts['name']}, BPR-MF — {utc_stamp()}",
        "",
        f"- **Data:** `{args.source}` — {facts['n_interactions']:,} interactions, {facts['n_users']:,} users, "
        f"{facts['n_items']:,} items; per-user split (seed {args.seed}); requests of {', '.join(map(str, args.sizes))} "
        f"whole users, {args.trials} seeded trials each (users, candidates and references all reseeded).",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the time.",
        f"- **Command:** `{command_line(__file__)}` ({seconds:.0f} s wall).",
        f"- **Models:** BPR-MF, {args.epochs} epochs, dimension {args.dim}; SISA {args.shards} random user shards; "
        f"RecEraser {args.shards} UBP shards, attention aggregator; AltEraser Hessian-free. Policy: the shipped default.",
        "",
        "Share of trials in which each candidate **failed** a check / was **certified** on statistics alone (a "
        "forgetting check whose controls separate passed, none failed) / was **undecided** (every informative check "
        "inconclusive: the request would wait for the audit window). A half-hearted candidate is detected when it "
        "failed; an honest one that failed is a false alarm.",
        "",
        f"| candidate | kind | {size_header} | checks failed most (trials) |",
        f"|---|---|{'---|' * len(args.sizes)}---|",
        *rates,
        "",
        f"Separation on the first trial of {args.sizes[-1]} users: each candidate's unlearned model against one "
        "reference retrain; *Retrain\\** is its value against the reference (the seed-noise floor).",
        "",
        f"| {' | '.join(header)} |",
        f"|{'---|' * len(header)}",
        *rows,
        "",
    ])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="lethe-power-") as scratch:
        ledger = Ledger.open(scratch)
        facts = ingest(ledger, load_source(args.source, path=args.data), split_seed=args.seed, actor="bench").payload
        train, test = Interactions.from_store(ledger, "train"), Interactions.from_store(ledger, "test")
    config = BPRConfig(epochs=args.epochs, embedding_size=args.dim)
    rules = load_policy().verification
    counts: dict[tuple[str, int], Counter] = {(c, size): Counter() for c in CANDIDATES for size in args.sizes}
    reasons: dict[str, Counter] = {c: Counter() for c in CANDIDATES}
    example = None
    stalled, started = cpu_stall_microseconds(), time.perf_counter()
    for size in args.sizes:
        for trial in range(args.trials):
            seed = args.seed + trial
            forget = np.sort(np.random.default_rng(seed).choice(np.unique(train.user_idx), size, replace=False))
            study = run_power_study(train, test, forget, "bpr", config, rules, seed, args.shards)
            for candidate in CANDIDATES:
                counts[candidate, size][outcome(study, candidate)] += 1
                reasons[candidate].update(c.name for c in study.checks[candidate] if c.verdict == "fail")
            print(f"{size} users, trial {trial}: " + ", ".join(f"{c} {outcome(study, c)}" for c in CANDIDATES),
                  flush=True)
            if size == args.sizes[-1] and trial == 0:
                example = study
    seconds = time.perf_counter() - started
    contention = (cpu_stall_microseconds() - stalled) / 1e6 / seconds
    section = report(args, facts, counts, reasons, example, seconds, contention)
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
