"""Shard and reference training as Ray tasks: the :class:`~unlearn.executor.ShardExecutor` contract on a cluster.

Chosen with ``LETHE_EXECUTOR=ray`` (``--executor ray``), at ``LETHE_RAY_ADDRESS`` (``auto``, ``HOST:PORT``,
``ray://HOST:PORT``; unset: a Ray started for this process on the cores it may use). What crosses the wire:

- each task (a shard's own training arrays, its name, config and seed) is put in Ray's object store once
  (``ray.put``), and so is a value every task shares (:meth:`RayShardExecutor.map_shared`: the remaining data the
  verifier's reference retrains all read) — never a copy of the full data set per task;
- a task returns its model's arrays (numpy buffers, out of band) and the driver, the only process that opened the
  workspace, saves the artifact and appends the ledger event: tasks never see the ledger or the workspace, so the
  workers need Lethe installed but no shared filesystem.

A task whose worker process dies (killed, out of memory, its node lost) is run again by Ray, up to
:data:`MAX_RETRIES` times; training is a pure function of the task (arrays, config, seed), so a retried task gives
the same bytes and the ledger records its checkpoint once. An exception raised by the training itself is not
retried: it reaches the caller as it would in this process. One torch intra-op thread per task (Ray gives each
task one CPU), as in the process pool. This module imports nothing of :mod:`unlearn.executor`, which imports it
only when Ray is chosen.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import ray
import torch

from ledger import LetheError
from unlearn.threads import usable_cores

Task = TypeVar("Task")
Result = TypeVar("Result")
Shared = TypeVar("Shared")

MAX_RETRIES = 3
"""Times Ray re-runs a task whose worker process died (Ray's ``max_retries``)."""


class RayUnreachable(LetheError):
    """The Ray cluster named by ``--ray-address`` / ``LETHE_RAY_ADDRESS`` did not accept this process."""


def connect(address: str | None = None) -> None:
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT``, ``ray://…``), or start one on this machine
    (one CPU per core this process may use, no dashboard); nothing if this process is connected already."""
    if ray.is_initialized():
        return
    with _signal_handlers_kept():
        _init(address)


@contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """Keep this process's SIGTERM/SIGINT handlers across ``ray.init``: a driver's init installs Ray's own
    (``sys.exit`` from inside Ray's C++ runtime), and a ``lethe worker`` whose executor came from LETHE_EXECUTOR
    connects lazily, at its first task — a SIGTERM then aborted it (exit -6) instead of stopping it cleanly."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; Ray sets none from other threads either
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            if handler is not None:  # None: a handler not set from Python, which Python cannot put back
                signal.signal(sig, handler)


def _init(address: str | None) -> None:
    if address:
        _reachable(address)
        try:
            ray.init(address=address, logging_level=logging.WARNING)
        except ConnectionError as exc:
            # Ray 2.60's `ray start` enables token authentication: the client needs RAY_AUTH_MODE=token and the token
            raise RayUnreachable(
                f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]} (a cluster started with "
                "`ray start` wants RAY_AUTH_MODE=token and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN here)"
            ) from exc
    else:
        ray.init(num_cpus=usable_cores(), include_dashboard=False, logging_level=logging.WARNING)


def _reachable(address: str) -> None:
    """A ``HOST:PORT`` nobody listens on fails at once (Ray itself keeps retrying for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ``auto``, ``ray://…``: Ray resolves them
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        raise RayUnreachable(f"cannot join the Ray cluster at {address}: {exc}") from exc


@ray.remote(num_cpus=1, max_retries=MAX_RETRIES)
def _run(function: Callable[..., Any], *arguments: Any) -> Any:
    torch.set_num_threads(1)  # one CPU per task, as in the process pool (unlearn.executor)
    return function(*arguments)


class RayShardExecutor:
    """Every task as a Ray task (one CPU each); results come back in task order, each as soon as it and those before
    it are done."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        connect(address)  # at once: a command fails before it records anything it cannot train

    def map(self, function: Callable[[Task], Result], tasks: Sequence[Task]) -> Iterator[Result]:
        return self._submit(function, None, tasks)

    def map_shared(
        self, function: Callable[[Shared, Task], Result], shared: Shared, tasks: Sequence[Task]
    ) -> Iterator[Result]:
        """``function(shared, task)`` for every task; ``shared`` enters the object store once for all of them."""
        return self._submit(function, (shared,), tasks)

    def _submit(self, function: Callable[..., Result], shared: tuple[Any] | None,
                tasks: Sequence[Task]) -> Iterator[Result]:
        connect(self.address)
        function_ref = ray.put(function)
        leading = [ray.put(shared[0])] if shared is not None else []
        refs = [_run.remote(function_ref, *leading, ray.put(task)) for task in tasks]
        try:
            while refs:
                yield ray.get(refs.pop(0))  # dropping the ref frees its result in the store
        finally:
            for ref in refs:  # the caller stopped early (an error): do not leave tasks running for nobody
                ray.cancel(ref)
