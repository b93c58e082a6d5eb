"""Model checkpoints on disk: weights as ``.npz`` (no pickle), named and verified by their SHA-256.

A checkpoint file is content-addressed, so the ledger's ``artifact_sha256`` is also its name; loading
re-hashes the file and refuses one that was altered. Files of checkpoints trained on erased data are
shredded once the erasure is verified (the ledger keeps their hash).

A shard model knows a fraction of the users, yet its per-user arrays (``user_*``) span all of them, zero
where it knows nothing. Such arrays are stored for the trained users only (``_user_rows``) and expanded again
on load, so every model reads the full arrays it wrote: a SISA shard of a 10M-interaction set shrinks from
64 MB to ~3 MB, and loading twenty of them from seconds to a fraction of one.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from ledger.errors import LedgerIntegrityError


_ROWS, _USERS, _KEYS = "_user_rows", "_n_users", "_user_keys"


def _compact_users(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays with per-user ones cut to the trained users' rows, when every other row is zero."""
    trained = arrays.get("user_trained")
    if trained is None or trained.ndim != 1 or trained.all():
        return arrays
    per_user = [k for k, v in arrays.items() if k.startswith("user_") and k != "user_trained"
                and v.ndim >= 1 and len(v) == len(trained)]
    if any(np.any(arrays[k][~trained]) for k in per_user):
        return arrays  # some untrained user has non-zero values: store everything as it is
    rows = np.flatnonzero(trained)
    compact = {k: v for k, v in arrays.items() if k not in per_user and k != "user_trained"}
    return {**compact, **{k: arrays[k][rows] for k in per_user}, _ROWS: rows, _USERS: np.asarray(len(trained)),
            _KEYS: np.asarray(per_user, dtype=str)}


def _expand_users(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Undo :func:`_compact_users`: zero rows for the users the model was not trained on."""
    if _ROWS not in arrays:
        return arrays
    rows, n_users, keys = arrays.pop(_ROWS), int(arrays.pop(_USERS)), arrays.pop(_KEYS).tolist()
    for key in keys:
        full = np.zeros((n_users, *arrays[key].shape[1:]), dtype=arrays[key].dtype)
        full[rows] = arrays[key]
        arrays[key] = full
    trained = np.zeros(n_users, dtype=bool)
    trained[rows] = True
    return {**arrays, "user_trained": trained}


def save_arrays(arrays: dict[str, np.ndarray], directory: Path) -> tuple[Path, str]:
    """Write arrays to ``<sha256>.npz`` in ``directory``; returns the path and ``sha256:<hex>``."""
    buffer = io.BytesIO()
    np.savez(buffer, **_compact_users(arrays))
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
        return _expand_users({name: archive[name] for name in archive.files})


def has_artifact(directory: Path, artifact_sha256: str) -> bool:
    """Whether a checkpoint's file is still there (not shredded)."""
    return (directory / f"{artifact_sha256.removeprefix('sha256:')}.npz").exists()


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
