"""What every benchmark prints with its figures: the machine, the exact command, and where it appends."""

from __future__ import annotations

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
