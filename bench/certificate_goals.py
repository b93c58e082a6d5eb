"""A certificate in seconds (issue 21, point 6): the goals measured side by side in one run, met or missed.

Per data set (demo, ML-100K, ML-1M) one workspace with a SISA deployment (BPR-MF, 5 shards, the model's default
epochs), then three whole-subject requests for subjects of median activity:

1. under the default policy (``certify_exact_on: lineage``): request → certificate on the lineage proof;
2. the audit that follows it: the statistical follow-up with the window's one shared reference, split into training
   the references (shared by every request of a window) and measuring this request (paid per request);
3. under ``certify_exact_on: statistics``: request → certificate with the request's own references (as before).

Verification cost per request at a window of ``w`` requests is the shared references' training time / ``w`` plus
one request's measuring. ``--demo-e2e`` also times ``lethe demo`` end to end in a fresh process and workspace.

    python bench/certificate_goals.py                              # demo, ML-100K, ML-1M and lethe demo
    python bench/certificate_goals.py --datasets demo --no-append
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_section, command_line, cpu_stall_microseconds, machine, utc_stamp  # noqa: E402
from request_profile import StageClock, source  # noqa: E402

from ui.services import Services, open_services  # noqa: E402
from unlearn.engine import ErasureEngine  # noqa: E402
from unlearn.ingest import ingest  # noqa: E402
from unlearn.methods import MethodSettings, get_method, set_serving  # noqa: E402
from unlearn.requests import ErasureRequest  # noqa: E402
from verify import StatisticalVerifier, run_audit  # noqa: E402

GOAL_SECONDS = {"demo": 5.0, "ml-100k": 10.0, "ml-1m": 30.0}
"""Issue 21's goals for request → signed certificate."""
WINDOWS = (10, 100)


def _engine(services: Services, certify_exact_on: str) -> ErasureEngine:
    rules = services.policy.verification.model_copy(update={"certify_exact_on": certify_exact_on})
    policy = services.policy.model_copy(update={"verification": rules})
    return ErasureEngine(services.ledger, policy, StatisticalVerifier(policy))


def _request(engine: ErasureEngine, subject: str) -> tuple[float, float, str]:
    """Run one request; returns (request → certificate seconds, forget seconds, final state)."""
    request_id = engine.file(ErasureRequest(subject=subject), actor="bench")
    started = time.perf_counter()
    record = engine.run(request_id, StageClock(), actor="bench")
    wall = time.perf_counter() - started
    forget = sum(d["seconds"] for d in record.require_payload("unlearned")["deployments"])
    return wall, forget, record.state


def measure(name: str, root: Path) -> dict[str, Any]:
    services = open_services(root)
    facts = ingest(services.ledger, source(name), split_seed=0).payload
    deployment = get_method("sisa").fit(services.ledger, MethodSettings(method="sisa", shards=5), lambda *_: None,
                                        "bench")
    set_serving(services.ledger, deployment.deployment_id)
    subjects = services.ledger.store.subjects_frame().sort_values(["interactions", "subject"])
    middle = len(subjects) // 2
    lineage_subject, statistics_subject = (str(subjects.iloc[middle + k]["subject"]) for k in (0, 1))

    lineage_wall, lineage_forget, lineage_state = _request(_engine(services, "lineage"), lineage_subject)
    clock = StageClock()
    started = time.perf_counter()
    audit = run_audit(services.ledger, services.policy, actor="bench", progress=clock)
    audit_wall = time.perf_counter() - started
    follow_up = next(r for r in audit.requests if r.action == "statistics verified now")
    references = clock.spans["train references"][1] - clock.spans["train references"][0]
    measuring = clock.spans["measure"][1] - clock.spans["measure"][0]
    statistics_wall, statistics_forget, statistics_state = _request(_engine(services, "statistics"),
                                                                   statistics_subject)
    return {"name": name, "interactions": facts["n_interactions"], "lineage_wall": lineage_wall,
            "lineage_forget": lineage_forget, "lineage_state": lineage_state, "audit_wall": audit_wall,
            "follow_up_passed": follow_up.passed, "references": references, "measure": measuring,
            "statistics_wall": statistics_wall, "statistics_forget": statistics_forget,
            "statistics_state": statistics_state}


def demo_end_to_end(root: Path) -> float:
    """``lethe demo`` in a fresh process and workspace, wall seconds (imports, training, request and follow-up)."""
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "lethe"), "demo", "--workspace", str(root)], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def _verdict(value: float, goal: float) -> str:
    return f"{value:.2f} s vs < {goal:g} s: **{'met' if value < goal else 'missed'}**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["demo", "ml-100k", "ml-1m"])
    parser.add_argument("--no-demo-e2e", action="store_true", help="skip timing `lethe demo` end to end")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    stalled, run_started = cpu_stall_microseconds(), time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="lethe-goals-") as tmp:
        demo_wall = None if args.no_demo_e2e else demo_end_to_end(Path(tmp) / "demo-e2e")
        for name in args.datasets:
            print(f"{name} …", flush=True)
            results.append(measure(name, Path(tmp) / name))
            print(results[-1], flush=True)
    contention = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - run_started)

    rows = ["| | " + " | ".join(f"{r['name']} ({r['interactions']:,})" for r in results) + " |",
            "|---|" + "---:|" * len(results)]

    def row(label: str, cell: Any) -> None:
        rows.append(f"| {label} | " + " | ".join(cell(r) for r in results) + " |")

    row("forget (retrain the hit shard)", lambda r: f"{r['lineage_forget']:.2f} s")
    row("**request → certificate, lineage first** (default)",
        lambda r: f"**{r['lineage_wall']:.2f} s** ({r['lineage_state']})")
    row("request → certificate, own statistics (before)",
        lambda r: f"{r['statistics_wall']:.2f} s ({r['statistics_state']})")
    row("audit with the follow-up (whole audit)", lambda r: f"{r['audit_wall']:.2f} s "
        f"({'passed' if r['follow_up_passed'] else 'did not pass'})")
    row("↳ shared references (once per window)", lambda r: f"{r['references']:.2f} s")
    row("↳ measuring this request", lambda r: f"{r['measure']:.2f} s")
    for window in WINDOWS:
        row(f"verification per request, window {window}",
            lambda r, w=window: f"{r['references'] / w + r['measure']:.2f} s")

    goals = [f"- request → signed certificate on {r['name']}: {_verdict(r['lineage_wall'], GOAL_SECONDS[r['name']])}"
             for r in results if r["name"] in GOAL_SECONDS]
    goals += [f"- lineage-proof certificate < 2× the forget time on {r['name']}: "
              f"{r['lineage_wall'] / r['lineage_forget']:.1f}× "
              f"(**{'met' if r['lineage_wall'] < 2 * r['lineage_forget'] else 'missed'}**)" for r in results]
    goals += [f"- verification per request at window 100 ≤ forget time on {r['name']}: "
              f"{r['references'] / 100 + r['measure']:.2f} s vs {r['lineage_forget']:.2f} s "
              f"(**{'met' if r['references'] / 100 + r['measure'] <= r['lineage_forget'] else 'missed'}**)"
              for r in results]
    if demo_wall is not None:
        goals.insert(0, f"- `lethe demo` end to end (fresh process, includes the follow-up): "
                        f"{_verdict(demo_wall, 15.0)}")
    section = "\n".join([
        f"## Certificate goals — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {contention:.0%} of the run (PSI).",
        f"- **Command:** `{command_line(__file__)}`",
        "- SISA, BPR-MF, 5 shards, default epochs; three whole-subject requests per data set, subjects of median "
        "activity; the audit's follow-up shares one reference set (reference, Retrain*, damaged control, attack "
        "shadow) for its window.",
        "",
        *rows,
        "",
        "Goals (issue 21, point 6):",
        "",
        *goals,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
