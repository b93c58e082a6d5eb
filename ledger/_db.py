"""DuckDB connections that share files between processes without corrupting them or deadlocking.

DuckDB allows one writer process per file. The console, the CLI and the audit scheduler each open a
connection for one short transaction and close it; if another process holds the file, we retry with
back-off instead of failing (dlt's ``begin_transaction`` pattern: commit or roll back, never leave half).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from ledger.errors import WorkspaceError

LOCK_TIMEOUT_SECONDS = 60.0
#: DuckDB may use this much memory per connection, spilling the rest to disk: large ingests stay bounded.
DUCKDB_CONFIG = {"memory_limit": os.environ.get("LETHE_DUCKDB_MEMORY", "512MB")}


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    return "lock" in str(exc).lower()


@contextmanager
def transaction(path: Path, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open ``path``, run the body in one transaction, commit (or roll back on error), close.

    Retries opening while another process holds the write lock, up to ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), config=DUCKDB_CONFIG)
            break
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc) or time.monotonic() > deadline:
                raise WorkspaceError(f"cannot open {path}: {exc}") from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
    try:
        con.execute("SET enable_progress_bar = false")  # a library must not draw on the caller's terminal
        con.begin()
        yield con
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.close()
