"""``lethe serve``: the HTTP API, the worker(s) and the audit scheduler of one workspace, started and stopped as one
(issue 22, point 2).

The API and the signed status callbacks (``ui.callbacks``) run in this process (uvicorn, a thread); each worker
and the scheduler is a child process (``lethe worker``, ``lethe audit schedule``), so a long training never
blocks an HTTP answer. Ctrl-C or SIGTERM stops the API, then
the children; none outlives its server (``ui._processes``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from ui._apikeys import ApiKeyError, load_keys
from ui._processes import children
from ui.api import create_app
from ui.callbacks import CallbackDispatcher, DispatcherThread
from ui.services import open_services


def serve(workspace: Path, host: str, port: int, workers: int, identities: Path | None, controller_id: str,
          processor_domain: str, say: Callable[[str], None]) -> None:
    """Run until Ctrl-C/SIGTERM; every child is gone when this returns. Status callbacks go out from a thread."""
    if not load_keys(workspace):
        raise ApiKeyError("no API key yet: make one with `lethe apikey add NAME --role integration` (a DSR tool), "
                          "auditor or officer; the API refuses every call without one")
    commands = [[sys.executable, "-m", "ui.cli", "worker", "-w", str(workspace), "--name", f"serve-worker-{i + 1}"]
                for i in range(workers)]
    commands.append([sys.executable, "-m", "ui.cli", "audit", "schedule", "-w", str(workspace)])
    dispatcher = CallbackDispatcher(lambda: open_services(workspace), processor_domain, controller_id, say)
    with children(commands) as started:
        say(f"API on http://{host}:{port} (OpenAPI at /docs; keys from `lethe apikey add`), {workers} worker(s) "
            f"and the audit scheduler (pids {', '.join(str(c.pid) for c in started)}); Ctrl-C to stop")
        with DispatcherThread(dispatcher):
            uvicorn.run(create_app(workspace, identities, controller_id), host=host, port=port, log_level="warning")
    say("stopped: the API, the workers and the scheduler")
