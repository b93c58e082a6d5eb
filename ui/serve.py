"""``lethe serve``: the HTTP API, the worker(s) and the audit scheduler of one workspace, started and stopped as one
(issue 22, point 2).

The API and the signed status callbacks (``ui.callbacks``) run in this process (uvicorn, a thread); each worker
and the scheduler is a child process (``lethe worker``, ``lethe audit schedule``), so a long training never
blocks an HTTP answer. Ctrl-C or SIGTERM stops the API, then
the children; none outlives its server (``ui._processes``).
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from ui._processes import children
from ui.api import create_app
from ui.callbacks import CallbackDispatcher, DispatcherThread
from ui.services import open_services


def load_or_create_token(path: Path) -> str:
    """The API's bearer token from ``path``; a new random one (mode 0600) if the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    token = path.read_text(encoding="utf-8").strip()
    if len(token) < 16:
        raise ValueError(f"{path} holds no usable API token (at least 16 characters)")
    return token


def serve(workspace: Path, host: str, port: int, workers: int, token_file: Path, identities: Path | None,
          controller_id: str, processor_domain: str, say: Callable[[str], None]) -> None:
    """Run until Ctrl-C/SIGTERM; every child is gone when this returns. Status callbacks go out from a thread."""
    token = load_or_create_token(token_file)
    commands = [[sys.executable, "-m", "ui.cli", "worker", "-w", str(workspace), "--name", f"serve-worker-{i + 1}"]
                for i in range(workers)]
    commands.append([sys.executable, "-m", "ui.cli", "audit", "schedule", "-w", str(workspace)])
    dispatcher = CallbackDispatcher(lambda: open_services(workspace), processor_domain, controller_id, say)
    with children(commands) as started:
        say(f"API on http://{host}:{port} (OpenAPI at /docs; bearer token in {token_file}), {workers} worker(s) and "
            f"the audit scheduler (pids {', '.join(str(c.pid) for c in started)}); Ctrl-C to stop")
        with DispatcherThread(dispatcher):
            uvicorn.run(create_app(workspace, token, identities, controller_id), host=host, port=port,
                        log_level="warning")
    say("stopped: the API, the workers and the scheduler")
