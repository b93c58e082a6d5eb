"""Where shard models train: in this process, or in a pool of worker processes on this machine.

Methods hand an executor a picklable function and a list of picklable tasks (arrays, names, configs —
never the ledger) and get the results back *in task order*, as they become available, so they can record
each checkpoint as soon as it and those before it are done. The ledger is written by the calling process
alone (DuckDB allows one writer). A distributed engine (Ray, Dask) implements the same ``map``.

Which executor a method uses: the one it was given (``lethe train --workers N``), else
:func:`default_executor`, set per process by ``LETHE_WORKERS`` (unset or 1: in this process) — so that
``lethe request run`` and the console can retrain several hit shards in parallel too.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

import torch

from unlearn.threads import usable_cores

Task = TypeVar("Task")
Result = TypeVar("Result")


class ShardExecutor(Protocol):
    """Maps a function over shard tasks; results come back in task order."""

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]: ...


class SerialExecutor:
    """Every task in this process, one after another (torch keeps its own intra-op threads)."""

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        return (function(task) for task in tasks)


def available_cores() -> int:
    """CPUs this process may run on: the affinity mask, capped by a cgroup CPU quota (:mod:`unlearn.threads`)."""
    return usable_cores()


def _single_threaded_worker() -> None:
    """Workers share the cores: one torch thread each, so ``workers`` shards never oversubscribe them."""
    torch.set_num_threads(1)


class ProcessPoolShardExecutor:
    """Up to ``workers`` tasks at once in spawned processes (default: one per available core).

    Spawned, not forked: a forked child of a process that already ran torch's OpenMP pool can hang. A single
    task runs in this process instead, since starting a worker (importing torch) costs seconds.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or available_cores()
        if self.workers < 1:
            raise ValueError(f"need at least one worker, got {self.workers}")

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        if self.workers == 1 or len(tasks) <= 1:
            yield from SerialExecutor().map(function, tasks)
            return
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(tasks)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_single_threaded_worker,
        )
        try:
            yield from pool.map(function, tasks)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def executor_for(workers: int) -> ShardExecutor:
    """Serial for one worker, a process pool for more."""
    return SerialExecutor() if workers == 1 else ProcessPoolShardExecutor(workers)


def default_executor() -> ShardExecutor:
    """The executor of methods not given one: ``LETHE_WORKERS`` processes (default 1, this process)."""
    value = os.environ.get("LETHE_WORKERS", "1")
    try:
        workers = int(value)
    except ValueError:
        raise ValueError(f"LETHE_WORKERS must be a whole number of processes, got {value!r}") from None
    return executor_for(workers)
