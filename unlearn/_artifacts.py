"""Model checkpoints on disk: weights as ``.npz`` (no pickle), named and verified by their SHA-256.

A checkpoint file is content-addressed, so the ledger's ``artifact_sha256`` is also its name; loading
re-hashes the file and refuses one that was altered. Files of checkpoints trained on erased data are
shredded once the erasure is verified (the ledger keeps their hash).
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from ledger.errors import LedgerIntegrityError


def save_arrays(arrays: dict[str, np.ndarray], directory: Path) -> tuple[Path, str]:
    """Write arrays to ``<sha256>.npz`` in ``directory``; returns the path and ``sha256:<hex>``."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    path = directory / f"{digest}.npz"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path, f"sha256:{digest}"


def load_arrays(directory: Path, artifact_sha256: str) -> dict[str, np.ndarray]:
    """Load a checkpoint's arrays after checking the file still hashes to what the ledger recorded."""
    digest = artifact_sha256.removeprefix("sha256:")
    path = directory / f"{digest}.npz"
    if not path.exists():
        raise LedgerIntegrityError(f"checkpoint artifact {path.name} is missing (shredded or never written)")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise LedgerIntegrityError(f"checkpoint artifact {path.name} does not match its recorded sha256")
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def shred(directory: Path, artifact_sha256: str) -> bool:
    """Overwrite and delete a checkpoint file; returns whether there was one."""
    path = directory / f"{artifact_sha256.removeprefix('sha256:')}.npz"
    if not path.exists():
        return False
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()
    return True
