"""Where shard models train: in this process, in a pool of worker processes on this machine, or as Ray tasks.

Methods hand an executor a picklable function and a list of picklable tasks (arrays, names, configs —
never the ledger) and get the results back *in task order*, as they become available, so they can record
each checkpoint as soon as it and those before it are done. The ledger is written by the calling process
alone (DuckDB allows one writer). A distributed engine (Ray, Dask) implements the same ``map``.

Which executor a method uses: the one it was given (``lethe train --workers N``), else
:func:`default_executor`, set per process by the environment — so that ``lethe request run``, the worker and the
console can retrain several hit shards in parallel too:

- ``LETHE_EXECUTOR``: ``local`` (the default) or ``ray``. ``local`` runs ``LETHE_WORKERS`` processes on this machine
  (unset or 1: in this process); ``ray`` runs every shard, and the verifier's reference retrains, as Ray tasks
  (:mod:`unlearn._ray`, the ``ray`` extra) on the cluster at ``LETHE_RAY_ADDRESS`` (``auto``, ``HOST:PORT`` or
  ``ray://HOST:PORT``; unset: a Ray started for this process on this machine).
- ``--executor ray [--ray-address ADDRESS]`` of ``lethe train``, ``request run``, ``worker``, ``audit run`` (and
  ``serve``, ``console``) sets both variables (:func:`use_executor`), so the processes a command starts (the
  console's and ``serve``'s workers) inherit the choice. The environment is the one mechanism.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Protocol, TypeVar

import torch

from unlearn.threads import usable_cores

Task = TypeVar("Task")
Result = TypeVar("Result")
Shared = TypeVar("Shared")


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


EXECUTOR_VARIABLE = "LETHE_EXECUTOR"
RAY_ADDRESS_VARIABLE = "LETHE_RAY_ADDRESS"
EXECUTORS = ("local", "ray")
"""``local``: this machine (``LETHE_WORKERS`` processes); ``ray``: Ray tasks, on a cluster or a local Ray."""


def use_executor(kind: str, ray_address: str | None = None) -> None:
    """Choose the executor of this process and of the processes it starts (sets ``LETHE_EXECUTOR`` and
    ``LETHE_RAY_ADDRESS``); an address is only meaningful for Ray."""
    if kind not in EXECUTORS:
        raise ValueError(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)}")
    if ray_address is not None and kind != "ray":
        raise ValueError("a Ray address needs the ray executor (--executor ray)")
    os.environ[EXECUTOR_VARIABLE] = kind
    if ray_address is not None:
        os.environ[RAY_ADDRESS_VARIABLE] = ray_address


def executor_kind() -> str:
    """The executor the environment chooses (``LETHE_EXECUTOR``, default ``local``); an unknown name is an error."""
    kind = os.environ.get(EXECUTOR_VARIABLE, "").strip().lower() or "local"
    if kind not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_VARIABLE} must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    return kind


def distributed_executor() -> ShardExecutor | None:
    """The Ray executor when the environment chooses it, else None (work stays on this machine)."""
    if executor_kind() != "ray":
        return None
    from unlearn._ray import RayShardExecutor  # the optional ``ray`` extra; imported only when chosen

    return RayShardExecutor(os.environ.get(RAY_ADDRESS_VARIABLE) or None)


def map_shared(
    executor: ShardExecutor, function: Callable[[Shared, Task], Result], shared: Shared, tasks: Sequence[Task]
) -> Iterator[Result]:
    """``function(shared, task)`` for every task, in task order; ``shared`` (e.g. the remaining data every reference
    retrain reads) crosses to the workers once where the executor can share it (Ray's object store), else with
    each task."""
    share = getattr(executor, "map_shared", None)
    if share is not None:
        return share(function, shared, tasks)
    return executor.map(partial(function, shared), tasks)


def default_executor() -> ShardExecutor:
    """The executor of methods not given one: Ray when ``LETHE_EXECUTOR=ray``, else ``LETHE_WORKERS`` processes
    (default 1, this process)."""
    distributed = distributed_executor()
    if distributed is not None:
        return distributed
    value = os.environ.get("LETHE_WORKERS", "1")
    try:
        workers = int(value)
    except ValueError:
        raise ValueError(f"LETHE_WORKERS must be a whole number of processes, got {value!r}") from None
    return executor_for(workers)
