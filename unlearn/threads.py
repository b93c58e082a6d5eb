"""One thread policy per process, chosen from the cores it may use, set at start before torch or numba load.

Why (issue 21, point 5). A request runs its parallel work *explicitly*: the verifier trains its references side by
side in Python threads (``verify/_reference.py``), a shard pool runs one process per core
(:mod:`unlearn.executor`), WMF splits its rows over a thread pool, and each of those jobs runs its torch loop in one
intra-op thread (:func:`unlearn.models.one_intra_op_thread`). The libraries underneath each keep a pool of their
own as well, sized from what *they* think the machine has, and idle workers that keep polling a core after a call:

- torch's CPU wheel parallelises with GNU OpenMP (its own ``libgomp``; scikit-learn ships another). After every
  parallel region libgomp's workers spin up to ``GOMP_SPINCOUNT`` (300,000 polls by default) before they sleep:
  on a shared core that spinning takes the time slice another thread of ours, or another process, needed.
  ``OMP_WAIT_POLICY=PASSIVE`` makes them sleep at once (libgomp's spin count becomes 0). ``KMP_BLOCKTIME=0`` is
  the same for Intel's OpenMP, which MKL builds may load instead.
- numpy and scipy each bundle an OpenBLAS with its own pthread pool. Lethe's numpy BLAS calls are small (scoring
  blocks of users × a few hundred items, 64-wide factors, Procrustes on d × d), issued from several threads at
  once while references train; OpenBLAS serves one caller at a time and its workers poll for a while after each
  call. One BLAS thread per caller: the callers are already parallel.
- numba sizes its pool from the machine's CPU count, not the affinity mask or a container's quota. Lethe's numba
  loops are ``nogil`` functions run from Python threads, so its parallel pool is never launched; the cap keeps it
  honest if one ever is.
- Every library's default ignores a cgroup CPU quota: a container limited to 2 CPUs of a 64-core host would start
  64 OpenMP and 64 BLAS threads per pool.

The policy: ``cores`` = the CPUs of this process's affinity mask, capped by the cgroup quota (rounded up);
torch/OpenMP/MKL/numba pools sized to ``cores`` (a single large op outside the training loops may still use
them all: the loops narrow themselves to one thread), OpenBLAS to one thread, and no spin-waiting anywhere.
Variables already in the environment are the operator's choice and are kept; ``LETHE_THREAD_POLICY=off`` turns
the whole policy off (what ``bench/contention.py`` compares against).

The environment is read by each library when it loads (and inherited by the worker, console and shard-pool
processes a Lethe process starts), so :func:`apply_thread_policy` runs first in every entry point; this module
imports nothing heavy. If torch or numpy are already loaded it sets what can still be set through their APIs.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

OFF_SWITCH = "LETHE_THREAD_POLICY"
"""``off`` (or ``0``, ``no``, ``false``): leave every library's threads as it chooses them."""

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class ThreadPolicy:
    """Thread counts for one process; :meth:`environment` is how the libraries learn them."""

    cores: int
    """CPUs this process may use: its affinity mask, capped by the cgroup CPU quota."""
    intra_op: int
    """torch intra-op, OpenMP and MKL threads (the training loops narrow themselves to one)."""
    blas: int
    """OpenBLAS threads (numpy's and scipy's)."""
    numba: int
    """numba's parallel pool, if ever launched."""

    def environment(self) -> dict[str, str]:
        return {
            "OMP_NUM_THREADS": str(self.intra_op),
            "MKL_NUM_THREADS": str(self.intra_op),
            "OPENBLAS_NUM_THREADS": str(self.blas),
            "NUMBA_NUM_THREADS": str(self.numba),
            "OMP_WAIT_POLICY": "PASSIVE",  # libgomp: workers sleep at once (spin count 0) instead of polling a core
            "KMP_BLOCKTIME": "0",  # the same for Intel OpenMP
        }


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs' worth of time this process's cgroup may use (quota / period), or ``None`` when unlimited.

    cgroup v2 (``cpu.max``: ``"max 100000"`` or ``"200000 100000"``) or v1 (``cpu.cfs_quota_us`` /
    ``cpu.cfs_period_us``); the tightest limit on the path from the process's cgroup up to the root counts.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2
            folders, read = _ancestors(root, path), _v2_limit
        elif "cpu" in controllers.split(","):  # v1
            folders, read = _ancestors(root / controllers, path) + _ancestors(root / "cpu", path), _v1_limit
        else:
            continue
        limits += [limit for folder in folders if (limit := read(folder)) is not None]
    return min(limits, default=None)


def _ancestors(base: Path, path: str) -> list[Path]:
    parts = [part for part in path.strip("/").split("/") if part]
    return [base.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]


def _v2_limit(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def _v1_limit(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota <= 0 or period <= 0 else quota / period


def usable_cores() -> int:
    """CPUs this process may run on: the affinity mask, capped by the cgroup's CPU quota (rounded up), at least 1."""
    cores = len(os.sched_getaffinity(0))
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def thread_policy(cores: int | None = None) -> ThreadPolicy:
    """The policy for a process that may use ``cores`` CPUs (default: :func:`usable_cores`)."""
    cores = usable_cores() if cores is None else max(1, cores)
    return ThreadPolicy(cores=cores, intra_op=cores, blas=1, numba=cores)


def policy_disabled(environ: MutableMapping[str, str] = os.environ) -> bool:
    return environ.get(OFF_SWITCH, "").strip().lower() in {"off", "0", "no", "false"}


def apply_thread_policy(environ: MutableMapping[str, str] = os.environ) -> ThreadPolicy | None:
    """Set this process's thread policy (once, first thing in an entry point); ``None`` when switched off.

    Variables already set are kept. For this process's own environment, torch's intra-op count and the BLAS pools
    are also set through their APIs when torch or numpy were loaded before this ran (their variables are read only
    at load); another mapping (a child's environment) only gets the variables.
    """
    if policy_disabled(environ):
        return None
    policy = thread_policy()
    for name, value in policy.environment().items():
        environ.setdefault(name, value)
    if environ is os.environ:
        _set_loaded_libraries(environ)
    return policy


def _set_loaded_libraries(environ: MutableMapping[str, str]) -> None:
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(int(environ["OMP_NUM_THREADS"]))
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(environ["OPENBLAS_NUM_THREADS"]), user_api="blas")
