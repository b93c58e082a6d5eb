"""What the integrity check covers outside the database: the exported checkpoint notes and the live model files.

The chain and the stored tree heads live in ``ledger.duckdb``: whoever holds the workspace's signing key can rewrite
the events, recompute every hash and re-sign the heads, and the database alone still verifies. A head kept
*outside* the database catches that rewrite — the log no longer has that head's root at that size. The exported
notes (``checkpoints/<size>.note``) are such heads for as long as nobody rewrote them too; an auditor's own copy
(``lethe ledger verify --checkpoint``) or a witness's cosigned note is one the workspace's key cannot reach.

The files a deployment serves from are checked the same way: every live checkpoint's artifact must be in
``artifacts/`` and hash to the sha256 its ``checkpoint.created`` event recorded (the name ``<hex>.npz`` is the
workspace's layout, see :mod:`ledger._workspace`), or a swapped or bit-flipped model would serve unnoticed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ledger._checkpoints import SignedCheckpoint
from ledger._records import CheckpointRecord
from ledger.errors import LetheError

NOTES_DIR = "checkpoints"
SECOND_LOOK_SECONDS = 0.2


@dataclass(frozen=True)
class Fault:
    """The first thing that does not match: where (an event's seq, or a tree size) and why, naming the file."""

    at: int
    reason: str


def note_path(root: Path, tree_size: int) -> Path:
    """Where :meth:`ledger.Ledger.checkpoint` exports the signed head of a tree of ``tree_size`` events."""
    return root / NOTES_DIR / f"{tree_size}.note"


def exported_heads(root: Path, stored: Callable[[], list[str]]) -> tuple[list[tuple[str, SignedCheckpoint]],
                                                                          Fault | None]:
    """:func:`read_exported_heads`, judged on a second look a moment later when the first finds a fault: a note
    another process is writing (a checkpoint, a witness's cosignature) must not read as an edited one."""
    heads, fault = read_exported_heads(root, stored)
    if fault is None:
        return heads, None
    time.sleep(SECOND_LOOK_SECONDS)
    return read_exported_heads(root, stored)


def read_exported_heads(root: Path, stored: Callable[[], list[str]]) -> tuple[list[tuple[str, SignedCheckpoint]],
                                                                               Fault | None]:
    """The exported notes as ``(file name, head)``, and the first mismatch between them and the stored heads.

    Each note must parse, be named after its tree size, and have the text (origin, size, root, time) of the stored
    head of that size — witnesses' cosignatures may add signature lines to the file, never change the text. A
    stored head whose note is gone is a fault too. The caller checks every exported head against the log (signature,
    root, consistency), which is what catches a rewrite that also deleted or re-signed the stored heads.

    ``stored`` is read *after* listing the files: :meth:`ledger.Ledger.checkpoint` stores a head before it exports
    it, so a checkpoint signed meanwhile by another process is never mistaken for a deleted head.
    """
    folder = root / NOTES_DIR
    files = sorted(folder.glob("*.note")) if folder.is_dir() else []
    heads: dict[int, tuple[str, SignedCheckpoint]] = {}
    for file in files:
        name = f"{NOTES_DIR}/{file.name}"
        try:
            head = SignedCheckpoint.read(file)
        except LetheError as exc:
            return [], Fault(0, f"{name}: {exc}")
        if file.stem != str(head.tree_size):
            return [], Fault(head.tree_size, f"{name} holds the head of a tree of {head.tree_size} events: the "
                                             "file was swapped or renamed")
        heads[head.tree_size] = (name, head)
    by_size = {head.tree_size: head for head in (SignedCheckpoint.from_note(note, "a stored checkpoint")
                                                 for note in stored())}
    for size, (name, head) in sorted(heads.items()):
        mine = by_size.get(size)
        if mine is None:
            return [], Fault(size, f"{name}: the ledger database holds no tree head of size {size} (deleted)")
        if mine.text != head.text:
            return [], Fault(size, f"{name} differs from the stored tree head of size {size} (re-signed, or the "
                                   "note was edited)")
    for size in sorted(set(by_size) - set(heads)):
        if not note_path(root, size).exists():  # looked at again: it may have been exported since the listing
            return [], Fault(size, f"{NOTES_DIR}/{size}.note is missing: the exported note of a stored tree head")
    return [heads[size] for size in sorted(heads)], None


def artifact_path(artifacts_dir: Path, artifact_sha256: str) -> Path:
    return artifacts_dir / f"{artifact_sha256.removeprefix('sha256:')}.npz"


def artifact_fault(artifacts_dir: Path, record: CheckpointRecord) -> Fault | None:
    """Whether a live checkpoint's model file is missing or no longer hashes to its recorded sha256."""
    path = artifact_path(artifacts_dir, record.artifact_sha256)
    where = (f"artifacts/{path.name} (checkpoint {record.checkpoint_id} of deployment {record.deployment_id}, "
             f"shard {record.shard})")
    try:
        with path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return Fault(record.seq, f"{where} is missing")
    except OSError as exc:
        return Fault(record.seq, f"{where} cannot be read: {exc.strerror}")
    if f"sha256:{digest}" != record.artifact_sha256:
        return Fault(record.seq, f"{where} does not hash to its recorded sha256 (edited or swapped): sha256:{digest}")
    return None


def first_artifact_fault(artifacts_dir: Path, live: Callable[[], Iterable[CheckpointRecord]]) -> Fault | None:
    """The first live checkpoint whose file does not match, judged on the live set read twice.

    A request running meanwhile may have replaced a checkpoint and shredded its file after ``live`` was read: a
    fault found on the first pass counts only if the live set read afterwards still shows it.
    """
    for _ in range(2):
        fault = next((f for record in live() if (f := artifact_fault(artifacts_dir, record)) is not None), None)
        if fault is None:
            return None
    return fault
