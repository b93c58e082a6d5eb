"""What every benchmark prints with its figures: the machine, the exact command, and where it appends."""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "BENCHMARKS.md"


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


def command_line(script: str) -> str:
    """The command that reproduces this run, relative to the repository root."""
    return shlex.join(["python", str(Path(script).resolve().relative_to(REPO)), *sys.argv[1:]])


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def append_section(markdown: str) -> None:
    """Append one dated section to BENCHMARKS.md (created with its title if absent)."""
    if not BENCHMARKS.exists():
        BENCHMARKS.write_text("# Benchmarks\n\nMeasured by the scripts in `bench/`.\n")
    with BENCHMARKS.open("a", encoding="utf-8") as handle:
        handle.write("\n" + markdown.rstrip() + "\n")


def data_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every bench on a real data set takes: data folder, loader, seed, workspace and --no-append."""
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "ml-1m",
                        help="data set folder (default: ../shared/data/ml-1m next to the repo)")
    parser.add_argument("--source", default="ml-1m", help="loader name (ml-1m, ml-100k, lightgcn, csv)")
    parser.add_argument("--seed", type=int, default=0, help="split, shard assignment, training and sampling seed")
    parser.add_argument("--workspace", type=Path, default=None, help="workspace folder (default: a fresh temp dir)")
    parser.add_argument("--no-append", action="store_true", help="print the table only, do not touch BENCHMARKS.md")


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
