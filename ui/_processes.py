"""Child processes that live and die with the command that started them (`lethe serve`, `lethe console`).

Each child gets SIGTERM from the kernel if its parent dies without cleaning up (Linux ``PR_SET_PDEATHSIG``), and
leaving :func:`children` stops the rest: SIGTERM, then SIGKILL after a grace period. So stopping the command with
Ctrl-C, SIGTERM or even SIGKILL leaves no worker training and no console serving its port.
"""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

GRACE_SECONDS = 30.0


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux); elsewhere the explicit shutdown suffices."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextmanager
def children(commands: list[list[str]], env: Mapping[str, str] | None = None) -> Iterator[list[subprocess.Popen]]:
    """Start ``commands``; on leaving (normally or by an exception, Ctrl-C included) stop every one still running."""
    started = [subprocess.Popen(command, env=env, preexec_fn=_die_with_parent) for command in commands]
    try:
        yield started
    finally:
        for child in started:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in started:
            try:
                child.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
