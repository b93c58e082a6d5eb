"""A witness of a Lethe ledger: an auditor's own key that cosigns a checkpoint only if it extends the last one it
cosigned (c2sp.org/tlog-cosignature v1; the checks of c2sp.org/tlog-witness's add-checkpoint, run locally).

Why: the workspace's key signs every checkpoint, so whoever holds it can rewrite the ledger and re-sign a history
that looks consistent, or show an auditor another log than the one a certificate was proven in (a split view).
A witness remembers, per log, the last tree head it cosigned and cosigns a new one only with an RFC 9162
consistency proof from it. The proof is checked against the two signed roots, so the workspace that computes it
need not be trusted. A certificate checked with ``--witness-vkey`` is accepted only if its tree is a prefix of a
witnessed one (``verify.standalone.check_witnessed``).

State (a directory the auditor keeps, never inside the workspace)::

    witness.skey                  the cosigner key, PRIVATE+KEY+<name>+<key ID>+base64(0x04 || seed), mode 0600
    witness.vkey                  its verifier key, <name>+<key ID>+base64(0x04 || public key): hand it out
    logs/<log id>/log.vkey        the log's key, pinned the first time the log is witnessed
    logs/<log id>/latest.note     the last checkpoint cosigned, with the cosignature
    logs/<log id>/refused/*.note  checkpoints refused (fork, split view, rollback), kept as evidence
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import (
    LedgerIntegrityError,
    Note,
    NoteSignature,
    SignatureError,
    WorkspaceError,
    consistency_proof,
    parse_skey,
    skey,
    vkey,
    write_atomically,
)
from verify.standalone import (
    COSIGNATURE_TYPE,
    SIGNATURE_DASH,
    Checkpoint,
    LaterCheckpoint,
    NoteKey,
    VerificationError,
    cosignature_message,
    note_key_hash,
    open_checkpoint,
    parse_checkpoint,
    parse_vkey,
    valid_note_name,
    verify_consistency,
)

SKEY_FILE = "witness.skey"
VKEY_FILE = "witness.vkey"


def default_witness_name() -> str:
    """``lethe-witness/<host>``: the cosigner's name when none is given (a schema-less URL-like label)."""
    host = "".join(ch for ch in os.uname().nodename if ch.isalnum() or ch in ".-") or "localhost"
    return f"lethe-witness/{host}"


class Witness:
    """One cosigner key and its memory of every log it witnessed."""

    def __init__(self, state_dir: Path, name: str, private_key: Ed25519PrivateKey) -> None:
        self.state_dir = state_dir
        self.name = name
        self.private_key = private_key
        public = private_key.public_key()
        self.verifier = NoteKey(name, note_key_hash(name, public, COSIGNATURE_TYPE), public, COSIGNATURE_TYPE)

    @classmethod
    def open(cls, state_dir: Path, name: str | None = None) -> "Witness":
        """The witness kept in ``state_dir``; created (named ``name``, default :func:`default_witness_name`) if the
        directory holds none. An existing witness keeps its name: asking for another one is an error."""
        state_dir = Path(state_dir)
        skey_path = state_dir / SKEY_FILE
        if not skey_path.exists():
            return cls._create(state_dir, name or default_witness_name())
        try:
            stored_name, private_key = parse_skey(skey_path.read_text(encoding="utf-8"), COSIGNATURE_TYPE)
        except ValueError as exc:
            raise WorkspaceError(f"{skey_path}: {exc}") from None
        if name is not None and name != stored_name:
            raise WorkspaceError(f"{state_dir} holds witness {stored_name!r}, not {name!r}: use another --state "
                                 "directory for another witness")
        return cls(state_dir, stored_name, private_key)

    @classmethod
    def _create(cls, state_dir: Path, name: str) -> "Witness":
        if not valid_note_name(name):
            raise ValueError(f"{name!r} is not a valid witness name (no spaces, no '+')")
        state_dir.mkdir(parents=True, exist_ok=True)
        witness = cls(state_dir, name, Ed25519PrivateKey.generate())
        descriptor = os.open(state_dir / SKEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(skey(name, witness.private_key, COSIGNATURE_TYPE) + "\n")
        (state_dir / VKEY_FILE).write_text(witness.vkey + "\n", encoding="utf-8")
        return witness

    @property
    def vkey(self) -> str:
        """The cosigner's C2SP verifier key: what an auditor passes as ``--witness-vkey``."""
        return vkey(self.name, self.verifier.key, COSIGNATURE_TYPE)

    def _log_dir(self, origin: str) -> Path:
        return self.state_dir / "logs" / hashlib.sha256(origin.encode("utf-8")).hexdigest()[:16]

    def last_cosigned(self, origin: str) -> Checkpoint | None:
        """The last checkpoint of log ``origin`` this witness cosigned, if any."""
        path = self._log_dir(origin) / "latest.note"
        return parse_checkpoint(path.read_bytes(), str(path)) if path.exists() else None

    def pinned_log_key(self, origin: str) -> NoteKey | None:
        path = self._log_dir(origin) / "log.vkey"
        return parse_vkey(path.read_text(encoding="utf-8")) if path.exists() else None

    def cosign(self, note: bytes | str, log: NoteKey, proof: list[bytes], now: int | None = None) -> str:
        """Cosign the checkpoint ``note`` of ``log`` if it extends the last one cosigned; return the note with
        this witness's cosignature line added (replacing an older one of its own).

        ``proof`` is the RFC 9162 consistency proof from the last cosigned size to the note's (empty the first
        time, or at an equal size). Refused, with nothing cosigned and the note kept under ``refused/``: a note
        not signed by ``log``, another key than the one pinned for that log (SignatureError); a smaller tree than
        already cosigned (rollback), another root at the same size (split view), or a proof that fails (fork)
        (LedgerIntegrityError).
        """
        with self._locked():
            try:
                checkpoint = open_checkpoint(note, log, "the log's checkpoint")
            except VerificationError as exc:
                raise SignatureError(str(exc)) from None
            log_dir = self._log_dir(checkpoint.origin)
            pinned = self.pinned_log_key(checkpoint.origin)
            if pinned is not None and _vkey_of(pinned) != _vkey_of(log):
                raise SignatureError(f"log {checkpoint.origin} was first witnessed under key {pinned.key_hash.hex()}, "
                                     f"now presented under {log.key_hash.hex()}: a witness never changes a log's key")
            last = self.last_cosigned(checkpoint.origin)
            if last is not None:
                fault = _refusal(last, checkpoint, proof)
                if fault:
                    self._keep_refused(log_dir, checkpoint)
                    raise LedgerIntegrityError(f"witness {self.name} refuses to cosign: {fault}")
            cosigned = _with_signature(checkpoint, self._cosignature(checkpoint.text, now))
            log_dir.mkdir(parents=True, exist_ok=True)
            if pinned is None:
                write_atomically(log_dir / "log.vkey", _vkey_of(log) + "\n")
            write_atomically(log_dir / "latest.note", cosigned)
            return cosigned

    def _cosignature(self, text: str, now: int | None) -> tuple[str, bytes, bytes]:
        """(name, key ID, timestamped signature): a cosignature/v1 of the checkpoint ``text`` at time ``now``."""
        timestamp = int(time.time()) if now is None else now
        signature = self.private_key.sign(cosignature_message(text, timestamp))
        return self.name, self.verifier.key_hash, timestamp.to_bytes(8, "big") + signature

    def _keep_refused(self, log_dir: Path, checkpoint: Checkpoint) -> None:
        folder = log_dir / "refused"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        (folder / f"{stamp}-{checkpoint.tree_size}.note").write_text(_note_text(checkpoint), encoding="utf-8")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One cosigning at a time per state directory: two runs must not both extend from the same last head."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _refusal(last: Checkpoint, new: Checkpoint, proof: list[bytes]) -> str | None:
    """Why ``new`` must not be cosigned after ``last`` (same log), or None."""
    if new.tree_size < last.tree_size:
        return (f"rollback: the log presents size {new.tree_size}, smaller than size {last.tree_size} already "
                "cosigned")
    if new.tree_size == last.tree_size:
        if new.root != last.root:
            return f"split view: two different roots at size {new.tree_size}"
        return None
    try:
        verify_consistency(last.tree_size, new.tree_size, last.root, new.root, proof)
    except VerificationError as exc:
        return (f"fork: size {new.tree_size} does not extend size {last.tree_size} cosigned before "
                f"({exc})")
    return None


def find_witnessed(folder: Path, log: NoteKey, witnesses: tuple[NoteKey, ...], tree_size: int,
                   leaf_hashes: Callable[[int], list[bytes]]) -> LaterCheckpoint | None:
    """The smallest exported checkpoint in ``folder`` of at least ``tree_size`` that every witness cosigned, with
    the RFC 9162 consistency proof from ``tree_size`` computed from the ledger's ``leaf_hashes`` (the verifier
    checks it against both signed roots, so the ledger need not be trusted); None if there is none."""
    found: list[tuple[int, bytes]] = []
    for path in folder.glob("*.note"):
        note = path.read_bytes()
        try:
            checkpoint = open_checkpoint(note, log, str(path))
            if checkpoint.tree_size >= tree_size and all(checkpoint.signed_by(w) for w in witnesses):
                found.append((checkpoint.tree_size, note))
        except VerificationError:
            continue  # not this log's, or a cosignature that fails: it vouches for nothing
    if not found:
        return None
    size, note = min(found)
    return LaterCheckpoint(note, consistency_proof(tree_size, leaf_hashes(size)) if size > tree_size else [])


def export_cosigned(folder: Path, cosigned: str) -> Path:
    """Add a cosigned note's lines to the workspace's exported ``<size>.note`` (merging with any other witness's),
    replaced atomically: a concurrent `ledger verify` never reads half a note. Returns the note's path."""
    path = folder / f"{parse_checkpoint(cosigned).tree_size}.note"
    write_atomically(path, merge_cosignatures(path.read_bytes(), cosigned) if path.exists() else cosigned)
    return path


def merge_cosignatures(existing: bytes | str, incoming: bytes | str) -> str:
    """One note holding every signature line of two notes over the same checkpoint text (a line of the same key in
    ``incoming`` replaces the one in ``existing``): how an exported note gathers several witnesses' cosignatures."""
    old, new = parse_checkpoint(existing, "the exported checkpoint"), parse_checkpoint(incoming, "the cosigned one")
    if old.text != new.text:
        raise LedgerIntegrityError(f"the exported checkpoint of size {old.tree_size} and the cosigned one differ")
    keys = {signature[:2] for signature in new.signatures}
    kept = [signature for signature in old.signatures if signature[:2] not in keys]
    return _note_text(Checkpoint(old.origin, old.tree_size, old.root, old.text, (*kept, *new.signatures)))


def _with_signature(checkpoint: Checkpoint, signature: tuple[str, bytes, bytes]) -> str:
    """The note with ``signature`` as its last signature line and no earlier line of the same key."""
    kept = tuple(sig for sig in checkpoint.signatures if sig[:2] != signature[:2])
    return _note_text(Checkpoint(checkpoint.origin, checkpoint.tree_size, checkpoint.root, checkpoint.text,
                                 (*kept, signature)))


def _vkey_of(key: NoteKey) -> str:
    return vkey(key.name, key.key, key.key_type)


def _note_text(checkpoint: Checkpoint) -> str:
    return Note(checkpoint.text, tuple(NoteSignature(*signature) for signature in checkpoint.signatures)).to_text()
