"""Wall time of the `lethe` commands people run to look (issue 21, point 4): help, request list/show, ledger lineage
and certificate verify, each the best of ``--repeat`` runs as a fresh process, on a workspace ``lethe demo`` made.

``--baseline REV`` times the same commands with the code of another commit (``git archive`` into a temporary
folder, first on ``PYTHONPATH``), each version on a demo workspace its own code made, side by side in one run.
Also printed: the heavy packages each command imported (Python's import profiler).

    python bench/cli_startup.py --baseline 7c16a69~1
    python bench/cli_startup.py --workspace /tmp/demo-ws --no-append
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "streamlit", "sklearn", "numba", "gensim", "scipy", "pandas", "numpy", "pyarrow")


def lethe(code: Path, args: list[str], profile: bool = False) -> subprocess.CompletedProcess:
    """``lethe ARGS`` as a fresh process running the code in ``code`` (the entry point's own ``main``)."""
    env = {**os.environ, "PYTHONPATH": str(code)} | ({"PYTHONPROFILEIMPORTTIME": "1"} if profile else {})
    script = "import sys; from ui.cli import main; sys.argv[0] = 'lethe'; main()"
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, cwd=code,
                          timeout=600, check=False)


def demo_workspace(code: Path, root: Path) -> dict[str, str]:
    """``lethe demo`` into ``root`` (unless it holds a workspace); ids and paths the commands need."""
    if not (root / "ledger.duckdb").exists():
        done = lethe(code, ["demo", "-w", str(root)])
        if done.returncode != 0:
            raise RuntimeError(f"lethe demo failed:\n{done.stderr[-3000:]}")
    probe = ("import json, sys; from ledger import Ledger; ledger = Ledger.open(sys.argv[1]); "
             "request = ledger.requests()[-1]; subject = str(ledger.store.subjects_frame().iloc[0]['subject']); "
             "print(json.dumps({'request': request.request_id, 'subject': subject, "
             "'checkpoint': ledger.subject_lineage(subject)['placements'][0]['checkpoint'], "
             "'certificate': (request.payload('certified') or {}).get('json_path', '')}))")
    done = subprocess.run([sys.executable, "-c", probe, str(root)], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(code)}, cwd=code)
    found = json.loads(done.stdout)
    return {**found, "root": str(root), "certificate": str(root / found["certificate"]),
            "key": str(root / "keys" / "signing.pub")}


def commands(ws: dict[str, str]) -> dict[str, list[str]]:
    return {
        "lethe --help": ["--help"],
        "lethe request list": ["request", "list", "-w", ws["root"]],
        "lethe request show ID": ["request", "show", ws["request"], "-w", ws["root"]],
        "lethe ledger lineage --subject S": ["ledger", "lineage", "--subject", ws["subject"], "-w", ws["root"]],
        "lethe ledger lineage --checkpoint C": ["ledger", "lineage", "--checkpoint", ws["checkpoint"],
                                                "-w", ws["root"]],
        "lethe certificate verify CERT --public-key KEY": ["certificate", "verify", ws["certificate"], "--public-key",
                                                          ws["key"]],
    }


def measure(code: Path, args: list[str], repeat: int) -> tuple[float, int, list[str]]:
    """Best wall time of ``repeat`` runs, the exit code, and the heavy packages imported."""
    best, code_seen = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        code_seen = lethe(code, args).returncode
        best = min(best, time.perf_counter() - started)
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in lethe(code, args, True).stderr.splitlines()
                if line.startswith("import time:")}
    return best, code_seen, [name for name in HEAVY if name in imported]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="a commit to time side by side (e.g. 7c16a69~1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command; the best counts (default 3)")
    parser.add_argument("--workspace", type=Path, help="a demo workspace to reuse (made by this code if absent)")
    parser.add_argument("--no-append", action="store_true", help="print the section only")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import append_section, command_line, cpu_stall_microseconds, machine, utc_stamp

    stalled, started = cpu_stall_microseconds(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lethe-cli-") as tmp:
        versions = {"this commit": REPO}
        if args.baseline:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=REPO, capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
            versions = {f"`{args.baseline}`": baseline, **versions}
        results: dict[str, dict[str, tuple[float, int, list[str]]]] = {}
        for name, code in versions.items():
            root = args.workspace if code == REPO and args.workspace else Path(tmp) / f"ws-{len(results)}"
            print(f"{name}: demo workspace at {root} …", flush=True)
            ws = demo_workspace(code, root)
            results[name] = {label: measure(code, argv, args.repeat) for label, argv in commands(ws).items()}
            print(results[name], flush=True)
    pressure = (cpu_stall_microseconds() - stalled) / 1e6 / (time.perf_counter() - started)
    names = list(results)
    rows = []
    for label in results[names[-1]]:
        cells = []
        for name in names:
            wall, exit_code, heavy = results[name][label]
            cells.append(f"{wall:.2f} s" + ("" if exit_code == 0 else f" (exit {exit_code})")
                         + f" | {', '.join(heavy) or '–'}")
        rows.append(f"| `{label}` | " + " | ".join(cells) + " |")
    section = "\n".join([
        f"## CLI start-up — {utc_stamp()}",
        "",
        f"- **Machine:** {machine()}. CPU pressure: some task waited for a CPU {pressure:.0%} of the run (PSI).",
        f"- **Command:** `{command_line(__file__)}`",
        f"- Each figure is the best of {args.repeat} fresh processes (`python -c 'from ui.cli import main; main()'`, "
        "what the `lethe` script runs), on a workspace `lethe demo` made with the same code; heavy = which of "
        f"{', '.join(HEAVY)} the command imported.",
        "",
        "| command | " + " | ".join(f"{name} | heavy imports" for name in names) + " |",
        "|---|" + "---:|---|" * len(names),
        *rows,
    ])
    print(section)
    if not args.no_append:
        append_section(section, __file__)


if __name__ == "__main__":
    main()
