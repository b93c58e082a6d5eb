"""What every benchmark prints with its figures: the commit, the machine, the exact command, and where it writes.

Every bench appends its dated sections through :func:`append_section` to ``bench/results/<date>-<bench>.md``; the
tables of ``BENCHMARKS.md`` are then updated by hand from those files.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def _source_state() -> tuple[str, list[str]]:
    """``git rev-parse --short HEAD`` (+ ``-dirty``) and the paths ``git status --porcelain`` lists, bench/results/
    excluded (a run's own result files do not change the code it measures)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        changed = [line[3:] for line in git("status", "--porcelain", "--", ".", ":(exclude)bench/results").splitlines()]
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git checkout)", []
    return head + ("-dirty" if changed else ""), changed


#: The commit when the bench started (the code it imported), and the paths then uncommitted.
COMMIT, UNCOMMITTED = _source_state()


def machine() -> str:
    """CPUs usable by this process, CPU model, RAM, torch and Python versions."""
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown")
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    return (f"{len(os.sched_getaffinity(0))} CPUs (`nproc`), {model}, {mem_kb / 2**20:.1f} GiB RAM, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def cpu_stall_microseconds() -> int:
    """Total time some task waited for a CPU (Linux PSI ``/proc/pressure/cpu``), to flag a shared machine."""
    some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    return int(some.rsplit("total=", 1)[1])


def _relative(arg: str) -> str:
    """A path argument in the folder that holds the repository, written relative to the repository root (so
    ``/work/shared/data/ml-1m`` reads ``../shared/data/ml-1m``); any other argument as given."""
    path = Path(arg)
    try:
        if not (path.is_absolute() or path.exists()):
            return arg
        resolved = path.resolve()
        resolved.relative_to(REPO.parent)
    except (OSError, ValueError):
        return arg
    return os.path.relpath(resolved, REPO)


def command_line(script: str) -> str:
    """The command that reproduces this run from the repository root (``sys.argv``, paths made relative)."""
    args = [f"{arg.split('=', 1)[0]}={_relative(arg.split('=', 1)[1])}" if arg.startswith("--") and "=" in arg
            else _relative(arg) for arg in sys.argv[1:]]
    return shlex.join(["python", str(Path(script).resolve().relative_to(REPO)), *args])


def commit_line() -> str:
    """The section's commit bullet: ``git rev-parse --short HEAD`` at the start, ``-dirty`` and what was uncommitted."""
    line = f"- **Commit:** `{COMMIT}` (at the start of the run)"
    if UNCOMMITTED:
        shown = ", ".join(f"`{path}`" for path in UNCOMMITTED[:6])
        line += f"; uncommitted changes in {len(UNCOMMITTED)} path(s): {shown}{', …' if len(UNCOMMITTED) > 6 else ''}"
    return line + "."


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def append_section(markdown: str, script: str) -> Path:
    """Append one dated section to ``bench/results/<UTC date>-<bench>.md`` and say where.

    The commit bullet goes under the section's heading, with the machine and the command when the section does
    not already carry them (every bench's own header prints both)."""
    lines = markdown.strip("\n").split("\n")
    stamp = [commit_line()]
    if machine() not in markdown:
        stamp.append(f"- **Machine:** {machine()}.")
    if command_line(script) not in markdown:
        stamp.append(f"- **Command:** `{command_line(script)}`")
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("## ")), 0)
    while at < len(lines) and not lines[at].strip():
        at += 1
    lines[at:at] = stamp
    bench = Path(script).stem
    target = RESULTS / f"{datetime.now(timezone.utc):%Y-%m-%d}-{bench.replace('_', '-')}.md"
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_text(f"# {target.stem[:10]} — `bench/{bench}.py`\n\nDated sections appended by "
                          f"`bench/{bench}.py`. The current figures are in [`BENCHMARKS.md`](../../BENCHMARKS.md), "
                          "updated by hand from files like this one.\n", encoding="utf-8")
    with target.open("a", encoding="utf-8") as handle:
        handle.write("\n" + "\n".join(lines) + "\n")
    print(f"appended to {os.path.relpath(target, REPO)}", flush=True)
    return target


def data_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every bench on a real data set takes: data folder, loader, seed, workspace and --no-append."""
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-1m",
                        help="data set folder (default: ../shared/data/ml-1m next to the repo)")
    parser.add_argument("--source", default="ml-1m", help="loader name (ml-1m, ml-100k, lightgcn, csv)")
    parser.add_argument("--seed", type=int, default=0, help="split, shard assignment, training and sampling seed")
    parser.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: a fresh temp dir)")
    parser.add_argument("--no-append", action="store_true",
                        help="print the section only, write nothing to bench/results/")


def provenance_lines(args: argparse.Namespace, facts: dict, contention: float, script: str) -> list[str]:
    """The data, machine and command bullets every bench section opens with (``facts``: the ingest event)."""
    return [
        f"- **Data:** `{args.source}` from `{args.data.name}/` — {facts['n_interactions']:,} interactions, "
        f"{facts['n_users']:,} users, {facts['n_items']:,} items; per-user split (seed {args.seed}): "
        f"train {facts['n_train']:,} / test {facts['n_test']:,}.",
        f"- **Machine:** {machine()}. CPU pressure during the run: some task waited for a CPU "
        f"{contention:.0%} of the time (PSI; other jobs shared the machine if this is high), "
        f"load average {os.getloadavg()[1]:.1f} (5 min) at the end.",
        f"- **Command:** `{command_line(script)}`",
    ]
