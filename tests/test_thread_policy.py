"""Issue 21, point 5: every Lethe process sizes its thread pools from the cores it may use, and nothing spin-waits.

The policy's arithmetic is checked on fake cgroup trees; what a process really ends up with is checked in real
processes started with a restricted CPU affinity (the way ``taskset`` or a container's cpuset restricts them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unlearn.threads import apply_thread_policy, cgroup_cpu_limit, thread_policy

REPO = Path(__file__).resolve().parents[1]
CORES = sorted(os.sched_getaffinity(0))

PROBE = """
import json, os, sys
sys.argv = ['lethe', '--help']
from ui.cli import main
try:
    main()  # the entry point sets the policy, then prints the help
except SystemExit:
    pass
import numba, numpy, torch
from threadpoolctl import threadpool_info
from unlearn.executor import available_cores
numpy.ones((64, 64)) @ numpy.ones((64, 64))
torch.ones(1000, 1000).sum()
blas = sorted({pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"})
print(json.dumps({"torch": torch.get_num_threads(), "blas": blas, "numba": numba.config.NUMBA_NUM_THREADS,
                  "wait": os.environ.get("OMP_WAIT_POLICY"), "cores": available_cores()}))
"""


def probe(cpus: set[int], **env: str) -> dict:
    """Start the ``lethe`` entry point in a process pinned to ``cpus``; the thread counts it ends with."""
    clean = {k: v for k, v in os.environ.items()
             if k not in {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                          "OMP_WAIT_POLICY", "KMP_BLOCKTIME", "LETHE_THREAD_POLICY"}}
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False,
                          cwd=REPO, env={**clean, **env}, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_process_pinned_to_one_core_runs_one_thread_everywhere() -> None:
    seen = probe({CORES[0]})
    assert seen == {"torch": 1, "blas": [1], "numba": 1, "wait": "PASSIVE", "cores": 1}


@pytest.mark.skipif(len(CORES) < 2, reason="needs two usable cores")
def test_a_process_on_two_cores_gives_torch_both_and_blas_one() -> None:
    seen = probe(set(CORES[:2]))
    assert seen == {"torch": 2, "blas": [1], "numba": 2, "wait": "PASSIVE", "cores": 2}


@pytest.mark.skipif(len(CORES) < 2, reason="needs two usable cores")
def test_the_operators_settings_and_the_off_switch_win() -> None:
    assert probe(set(CORES[:2]), OPENBLAS_NUM_THREADS="2", OMP_WAIT_POLICY="ACTIVE")["blas"] == [2]
    off = probe(set(CORES[:2]), LETHE_THREAD_POLICY="off")
    assert off["wait"] is None and all(n > 1 for n in off["blas"])  # the libraries' default: a BLAS thread per core


def _cgroup(tmp_path: Path, lines: str, files: dict[str, str]) -> tuple[Path, Path]:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    proc = tmp_path / "proc-cgroup"
    proc.write_text(lines)
    return tmp_path, proc


@pytest.mark.parametrize(("lines", "files", "limit"), [
    ("0::/\n", {"cpu.max": "max 100000\n"}, None),
    ("0::/jobs/a\n", {"cpu.max": "max 100000\n", "jobs/a/cpu.max": "150000 100000\n"}, 1.5),
    ("0::/jobs/a\n", {"jobs/cpu.max": "50000 100000\n", "jobs/a/cpu.max": "max 100000\n"}, 0.5),  # a parent's
    ("1:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"},
     None),
    ("1:cpu:/box\n", {"cpu/box/cpu.cfs_quota_us": "300000\n", "cpu/box/cpu.cfs_period_us": "100000\n"}, 3.0),
    ("0::/\n", {}, None),  # no controller files at all
])
def test_cgroup_quota(tmp_path: Path, lines: str, files: dict[str, str], limit: float | None) -> None:
    root, proc = _cgroup(tmp_path, lines, files)
    assert cgroup_cpu_limit(root, proc) == limit


def test_policy_from_cores_and_apply_keeps_what_is_set() -> None:
    assert thread_policy(cores=4).environment()["OMP_NUM_THREADS"] == "4"
    assert thread_policy(cores=0).cores == 1
    environ = {"OMP_NUM_THREADS": "3"}
    policy = apply_thread_policy(environ)
    assert policy is not None and environ["OMP_NUM_THREADS"] == "3" and environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert apply_thread_policy({"LETHE_THREAD_POLICY": "off"}) is None
