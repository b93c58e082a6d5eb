"""Where a request's time goes (issue 21, point 1): one whole-subject SISA erasure through the engine, timed by
phase, on the demo data, ML-100K and ML-1M.

Each data set gets a fresh workspace: ingest, a SISA deployment (BPR-MF, 5 shards, the policy's defaults unless
``--epochs``), then one request for a subject of median activity, run with a progress callback that stamps every
stage. The phases come from the ledger's own step events (received → validated → planned → unlearned → erased →
verified → certified) and, inside verification, from the verifier's stages (the references trained side by side,
then measuring every check); signing, the PDF and the inclusion proof are the certify step.

    python bench/request_profile.py                          # demo, ML-100K, ML-1M
    python bench/request_profile.py --datasets demo --no-append
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402

from ui.services import open_services  # noqa: E402
from unlearn.data import load_source  # noqa: E402
from unlearn.ingest import ingest  # noqa: E402
from unlearn.methods import MethodSettings, get_method, set_serving  # noqa: E402
from unlearn.requests import ErasureRequest  # noqa: E402

DATA = REPO.parent / "shared" / "data"
STEPS = ("validated", "planned", "unlearned", "data_erased", "verified", "certified")
PHASE_OF_STEP = {"validated": "validate", "planned": "plan", "unlearned": "forget (retrain hit shards)",
                 "data_erased": "erase rows + shred", "verified": "verify", "certified": "sign, PDF, inclusion proof"}


class StageClock:
    """A progress callback that keeps when each stage was first and last reported."""

    def __init__(self) -> None:
        self.spans: dict[str, list[float]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        span = self.spans.setdefault(stage, [now, now])
        span[1] = now


def source(name: str) -> Any:
    if name == "demo":
        return load_source("synthetic", seed=0, n_users=1000, n_items=600)
    return load_source(name, DATA / name)


def profile(name: str, root: Path, epochs: int | None) -> dict[str, Any]:
    services = open_services(root)
    facts = ingest(services.ledger, source(name), split_seed=0).payload
    model = {} if epochs is None else {"epochs": epochs}
    started = time.perf_counter()
    deployment = get_method("sisa").fit(services.ledger, MethodSettings(method="sisa", shards=5, model=model),
                                        lambda *_: None, "bench")
    train_s = time.perf_counter() - started
    set_serving(services.ledger, deployment.deployment_id)
    subjects = services.ledger.store.subjects_frame().sort_values(["interactions", "subject"])
    subject = subjects.iloc[len(subjects) // 2]
    clock = StageClock()
    request_id = services.engine.file(ErasureRequest(subject=str(subject["subject"])), actor="bench")
    started = time.perf_counter()
    record = services.engine.run(request_id, clock, actor="bench")
    wall = time.perf_counter() - started
    stamps = {event.kind.removeprefix("request."): datetime.fromisoformat(event.ts) for event in record.history}
    phases: dict[str, float] = {}
    previous = stamps["received"]
    for step in STEPS:
        if step in stamps:
            phases[PHASE_OF_STEP[step]] = (stamps[step] - previous).total_seconds()
            previous = stamps[step]
    inside = {stage: span[1] - span[0] for stage, span in clock.spans.items()
              if stage in ("train references", "measure")}
    return {"name": name, "facts": facts, "train_s": train_s, "wall": wall, "phases": phases, "inside": inside,
            "state": record.state, "interactions": int(subject["interactions"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["demo", "ml-100k", "ml-1m"])
    parser.add_argument("--epochs", type=int, default=None, help="BPR epochs (default: the model's default)")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    stalled, run_started = cpu_stall_microseconds(), time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="lethe-profile-") as tmp:
        for name in args.datasets:
            print(f"{name} …", flush=True)
            results.append(profile(name, Path(tmp) / name, args.epochs))
            print(results[-1], flush=True)
    contention = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - run_started)
    phases = list(dict.fromkeys(p for r in results for p in r["phases"]))
    header = "| phase | " + " | ".join(r["name"] for r in results) + " |"
    rows = [f"| {phase} | " + " | ".join(f"{r['phases'].get(phase, 0):.2f} s" for r in results) + " |"
            for phase in phases]
    rows += [f"| ↳ verify: {stage} | " + " | ".join(f"{r['inside'].get(stage, 0):.2f} s" for r in results) + " |"
             for stage in ("train references", "measure")]
    rows.append("| **request → certificate** | " + " | ".join(f"**{r['wall']:.2f} s** ({r['state']})"
                                                            for r in results) + " |")
    rows.append("| (SISA deployment trained first) | " + " | ".join(f"{r['train_s']:.1f} s" for r in results) + " |")
    section = "\n".join([
        f"## Request profile — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the run (PSI).",
        f"- **Command:** `{command_line(__file__)}`",
        "- **Data:** " + "; ".join(f"{r['name']} {r['facts']['n_interactions']:,} interactions, subject of median "
                                   f"activity ({r['interactions']} interactions)" for r in results) + ".",
        "- SISA, BPR-MF, 5 shards, " + (f"{args.epochs} epochs" if args.epochs else "the model's default epochs")
        + "; phases from the request's ledger events, verification stages from the verifier's progress.",
        "",
        header,
        "|---|" + "---:|" * len(results),
        *rows,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
