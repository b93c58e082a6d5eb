"""Signed checkpoints of the Merkle log (signed tree heads), as small text notes an auditor keeps.

The format follows the C2SP ``tlog-checkpoint`` / signed-note idea::

    lethe-ledger <key fingerprint, 16 hex>
    <tree size>
    <root hash, base64>
    <time, ISO-8601 UTC>

    — lethe <base64 Ed25519 signature over the four lines above and their newlines>

An auditor holding the public key and an old note can later ask the workspace for a consistency proof and
know the log was only ever appended to.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger._signing import Signer, public_key_fingerprint
from ledger.errors import LedgerIntegrityError, SignatureError

ORIGIN = "lethe-ledger"
SIGNATURE_PREFIX = "— lethe "


@dataclass(frozen=True)
class SignedCheckpoint:
    """A tree head: size and root of the event log at a time, with the workspace key's signature."""

    keyid: str
    tree_size: int
    root: bytes
    timestamp: str
    signature: bytes

    @property
    def body(self) -> bytes:
        root = base64.b64encode(self.root).decode()
        return f"{ORIGIN} {self.keyid[:16]}\n{self.tree_size}\n{root}\n{self.timestamp}\n".encode()

    def to_note(self) -> str:
        return self.body.decode() + "\n" + SIGNATURE_PREFIX + base64.b64encode(self.signature).decode() + "\n"

    @classmethod
    def sign(cls, signer: Signer, tree_size: int, root: bytes) -> "SignedCheckpoint":
        timestamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        unsigned = cls(signer.keyid, tree_size, root, timestamp, b"")
        return cls(signer.keyid, tree_size, root, timestamp, signer.private_key.sign(unsigned.body))

    @classmethod
    def from_note(cls, text: str, where: str = "checkpoint") -> "SignedCheckpoint":
        """Parse a note; any deviation from the format is a :class:`LedgerIntegrityError` naming ``where``."""
        lines = text.split("\n")
        try:
            origin, keyid = lines[0].split(" ")
            if origin != ORIGIN or lines[4] != "" or not lines[5].startswith(SIGNATURE_PREFIX):
                raise ValueError("layout")
            return cls(
                keyid, int(lines[1]), base64.b64decode(lines[2], validate=True), lines[3],
                base64.b64decode(lines[5].removeprefix(SIGNATURE_PREFIX), validate=True),
            )
        except (ValueError, IndexError) as exc:
            raise LedgerIntegrityError(f"{where} is not a Lethe checkpoint note") from exc

    @classmethod
    def read(cls, path: Path) -> "SignedCheckpoint":
        try:
            return cls.from_note(Path(path).read_text(encoding="utf-8"), str(path))
        except (FileNotFoundError, UnicodeDecodeError) as exc:
            raise LedgerIntegrityError(f"cannot read checkpoint {path}: {exc}") from exc

    def verify(self, public_key: Ed25519PublicKey) -> None:
        """Raise :class:`SignatureError` unless the workspace key signed exactly this note."""
        if not public_key_fingerprint(public_key).startswith(self.keyid[:16]):
            raise SignatureError(f"checkpoint of size {self.tree_size} was signed by another key ({self.keyid[:16]})")
        try:
            public_key.verify(self.signature, self.body)
        except InvalidSignature:
            raise SignatureError(f"checkpoint of size {self.tree_size}: signature does not match its content") from None
