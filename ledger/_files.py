"""Writing a file so that no reader ever sees it half-written: the evidence files (keys, exported checkpoint notes,
a witness's state) are read by other processes (`ledger verify`, an audit, a witness) while they are replaced."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes | str) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path`` (one atomic step)."""
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    os.replace(staged, path)
