"""Signed checkpoints of the ledger's Merkle log: C2SP tlog-checkpoint notes, signed as C2SP signed notes.

A checkpoint (c2sp.org/tlog-checkpoint) is the text::

    lethe.dev/ledger/<first 16 hex of the key fingerprint>      origin: the log's identity
    <tree size>                                                 decimal, no leading zeros
    <root hash, base64>                                         RFC 6962 root, 32 bytes
    time <ISO-8601 UTC>                                         an extension line (opaque; when it was signed)

followed, as a signed note (c2sp.org/signed-note), by a blank line and one line per signature::

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature over the text above)>

The key ID is ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``; the workspace exports the matching verifier
key as ``keys/signing.vkey`` (``ledger._signing``). Witnesses add their own signature lines (C2SP
tlog-cosignature/v1, ``verify.witness``).

Reading is ``verify.standalone``'s (``parse_note``, ``parse_checkpoint``, ``NoteKey``), the one reader an auditor's
copy and Lethe's own commands share; this module makes notes and gives them the ledger's types and errors. Reading
follows the specifications: any note may carry signatures by keys this reader does not know (they are
ignored, in any order), every signature by a known key must verify, and a note with no valid signature by the
required key is refused. Any malformed note — bad UTF-8, a control character, a signature line that does not parse,
non-canonical base64 — is refused whole. An auditor keeps the notes and later checks the log only grew.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger._signing import Signer, note_key_name, parse_vkey, vkey
from ledger.errors import LedgerIntegrityError, SignatureError
from verify.standalone import (
    ED25519_NOTE_TYPE,
    NoteKey,
    VerificationError,
    b64decode_strict,
    note_key_hash,
    parse_checkpoint,
    valid_note_name,
)
from verify.standalone import parse_note as standalone_parse_note

SIGNATURE_DASH = "— "  # U+2014 EM DASH, space
TIME_EXTENSION = "time "


@dataclass(frozen=True)
class NoteVerifier(NoteKey):
    """A known Ed25519 note key: its name, 4-byte key ID and public key (a C2SP ``vkey`` holds all three), and its
    type (0x01 a note key, 0x04 a witness's cosigner key); what it verifies is ``verify.standalone.NoteKey``'s."""

    @classmethod
    def from_vkey(cls, text: str) -> "NoteVerifier":
        key = parse_vkey(text)
        return cls(key.name, key.key_hash, key.key, key.key_type)

    @classmethod
    def for_key(cls, public_key: Ed25519PublicKey, name: str | None = None,
                key_type: bytes = ED25519_NOTE_TYPE) -> "NoteVerifier":
        """The verifier of ``public_key`` under ``name`` (default: the workspace's ledger name for this key)."""
        name = note_key_name(public_key) if name is None else name
        return cls(name, note_key_hash(name, public_key, key_type), public_key, key_type)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key

    @property
    def vkey(self) -> str:
        return vkey(self.name, self.key, self.key_type)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name, its 4-byte key ID, and the signature over the note text."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIGNATURE_DASH}{self.name} {base64.b64encode(self.key_hash + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    """A signed note, parsed but not yet verified: its text (ending in a newline) and its signature lines."""

    text: str
    signatures: tuple[NoteSignature, ...] = ()

    def to_text(self) -> str:
        return self.text + "\n" + "".join(signature.line() for signature in self.signatures)

    def signed_by(self, verifiers: Iterable[NoteVerifier]) -> list[NoteVerifier]:
        """The known keys whose signatures verify (each once; unknown signers are ignored).

        Raises :class:`SignatureError` if a known key's signature fails (the note was altered or forged) or if no
        known key signed at all.
        """
        known = {(v.name, v.key_hash): v for v in verifiers}
        accepted: list[NoteVerifier] = []
        for signature in self.signatures:
            verifier = known.get((signature.name, signature.key_hash))
            if verifier is None:
                continue  # a signer we do not know: a witness, a rotated key, anything — ignored
            if verifier.verifies(self.text, signature.signature) is None:
                raise SignatureError(f"the signature by {signature.name} does not match the note: it was altered")
            if verifier not in accepted:
                accepted.append(verifier)
        if not accepted:
            names = ", ".join(f"{s.name} ({s.key_hash.hex()})" for s in self.signatures)
            wanted = ", ".join(f"{v.name} ({v.key_hash.hex()})" for v in known.values()) or "no key"
            raise SignatureError(f"the note was signed by another key ({names}), not by {wanted}")
        return accepted

    def add_signature(self, private_key: Ed25519PrivateKey, name: str | None = None) -> "Note":
        """This note with one more signature line (an Ed25519 key's; e.g. a witness co-signing)."""
        return Note(self.text, (*self.signatures, sign_text(self.text, private_key, name)))


def parse_skey(text: str, key_type: bytes = ED25519_NOTE_TYPE) -> tuple[str, Ed25519PrivateKey]:
    """``(name, private key)`` of a signer key in the Go/C2SP ``PRIVATE+KEY+<name>+<hex key ID>+<base64(type ||
    32-byte seed)>`` form (type 0x01 a note signer, 0x04 a cosigner); ValueError if it is not one of ``key_type``
    or its key ID does not match."""
    prefix, private, name, key_id_hex, encoded = (text.strip().split("+", 4) + [""] * 5)[:5]
    if (prefix, private) != ("PRIVATE", "KEY") or not valid_note_name(name) or len(key_id_hex) != 8:
        raise ValueError("not a signed-note signer key (PRIVATE+KEY+name+keyid+base64 key)")
    material = b64decode_strict(encoded, "the signer key")
    if len(material) != 33 or material[:1] != key_type:
        raise ValueError(f"not an Ed25519 signer key of type 0x{key_type.hex()} with a 32-byte seed")
    private_key = Ed25519PrivateKey.from_private_bytes(material[1:])
    if note_key_hash(name, private_key.public_key(), key_type).hex() != key_id_hex.lower():
        raise ValueError(f"the signer key's ID {key_id_hex} does not match its name and key")
    return name, private_key


def skey(name: str, private_key: Ed25519PrivateKey, key_type: bytes = ED25519_NOTE_TYPE) -> str:
    """The ``PRIVATE+KEY+…`` text of a signer key (what :func:`parse_skey` reads)."""
    key_id = note_key_hash(name, private_key.public_key(), key_type).hex()
    return f"PRIVATE+KEY+{name}+{key_id}+{base64.b64encode(key_type + private_key.private_bytes_raw()).decode()}"


def sign_text(text: str, private_key: Ed25519PrivateKey, name: str | None = None) -> NoteSignature:
    """The signature line of ``private_key`` (named ``name``, default the workspace ledger name) over ``text``."""
    public_key = private_key.public_key()
    name = note_key_name(public_key) if name is None else name
    if not valid_note_name(name):
        raise ValueError(f"{name!r} is not a valid signed-note key name")
    return NoteSignature(name, note_key_hash(name, public_key), private_key.sign(text.encode("utf-8")))


def parse_note(note: str | bytes, where: str = "note") -> Note:
    """Split a signed note into text and signature lines (c2sp.org/signed-note, "Format"); verify nothing.

    :class:`LedgerIntegrityError` naming ``where`` if it is not a well-formed note (``verify.standalone.parse_note``
    says what well-formed is).
    """
    try:
        text, signatures = standalone_parse_note(note, where)
    except VerificationError as exc:
        raise LedgerIntegrityError(str(exc)) from None
    return Note(text, tuple(NoteSignature(*signature) for signature in signatures))


def open_note(note: str | bytes, verifiers: Iterable[NoteVerifier], where: str = "note") -> tuple[Note, list[NoteVerifier]]:
    """Parse ``note`` and check it as the spec says; returns the note and the known keys that signed it.

    Refused (a LetheError): a malformed note; a failing signature by a known key; no signature by a known key.
    """
    parsed = parse_note(note, where)
    try:
        return parsed, parsed.signed_by(verifiers)
    except SignatureError as exc:
        raise SignatureError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class SignedCheckpoint:
    """A tree head of a log (origin, size, root, extension lines) with the signature lines of its note."""

    origin: str
    tree_size: int
    root: bytes
    extensions: tuple[str, ...] = ()
    signatures: tuple[NoteSignature, ...] = field(default=(), compare=True)

    @property
    def text(self) -> str:
        """The note text every signature covers."""
        root = base64.b64encode(self.root).decode()
        return "".join(f"{line}\n" for line in (self.origin, str(self.tree_size), root, *self.extensions))

    @property
    def body(self) -> bytes:
        return self.text.encode("utf-8")

    @property
    def timestamp(self) -> str | None:
        """When the log signed it (the ``time`` extension line of Lethe's checkpoints), if stated."""
        return next((line.removeprefix(TIME_EXTENSION) for line in self.extensions if line.startswith(TIME_EXTENSION)),
                    None)

    @property
    def keyid(self) -> str:
        """Hex key ID of the log's own signature (the one named like the origin), else of the first one."""
        own = [s for s in self.signatures if s.name == self.origin] or list(self.signatures)
        return own[0].key_hash.hex() if own else ""

    @property
    def note(self) -> Note:
        return Note(self.text, self.signatures)

    def to_note(self) -> str:
        return self.note.to_text()

    @classmethod
    def sign(cls, signer: Signer, tree_size: int, root: bytes) -> "SignedCheckpoint":
        """The workspace's checkpoint of a tree: origin = the key's note name, with a ``time`` extension line."""
        if len(root) != 32:
            raise ValueError(f"a root hash is 32 bytes, not {len(root)}")
        timestamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        unsigned = cls(signer.note_name, tree_size, root, (TIME_EXTENSION + timestamp,))
        return unsigned.cosign(signer.private_key, signer.note_name)

    def cosign(self, private_key: Ed25519PrivateKey, name: str | None = None) -> "SignedCheckpoint":
        """This checkpoint with one more signature line over the same text (a witness's co-signature)."""
        return SignedCheckpoint(self.origin, self.tree_size, self.root, self.extensions,
                                (*self.signatures, sign_text(self.text, private_key, name)))

    @classmethod
    def from_note(cls, text: str | bytes, where: str = "checkpoint") -> "SignedCheckpoint":
        """Parse a checkpoint note (c2sp.org/tlog-checkpoint, read by ``verify.standalone.parse_checkpoint``); any
        deviation is a LedgerIntegrityError naming ``where``. Signatures are not checked here: see :meth:`verify`."""
        try:
            checkpoint = parse_checkpoint(text, where)
        except VerificationError as exc:
            raise LedgerIntegrityError(str(exc)) from None
        return cls(checkpoint.origin, checkpoint.tree_size, checkpoint.root,
                   tuple(checkpoint.text[:-1].split("\n")[3:]),
                   tuple(NoteSignature(*signature) for signature in checkpoint.signatures))

    @classmethod
    def read(cls, path: Path) -> "SignedCheckpoint":
        try:
            return cls.from_note(Path(path).read_bytes(), str(path))
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise LedgerIntegrityError(f"cannot read checkpoint {path}: {exc}") from exc

    def verify(self, public_key: Ed25519PublicKey, name: str | None = None) -> None:
        """Raise :class:`SignatureError` unless ``public_key`` (as note key ``name``, default the workspace's
        ledger name for it) signed exactly this checkpoint, and the checkpoint is of that key's log."""
        verifier = NoteVerifier.for_key(public_key, name)
        try:
            self.note.signed_by([verifier])
        except SignatureError as exc:
            raise SignatureError(f"checkpoint of size {self.tree_size}: {exc}") from None
        if name is None and self.origin != verifier.name:
            raise SignatureError(f"checkpoint of size {self.tree_size} is of log {self.origin!r}, not {verifier.name!r}")

    def signers(self, verifiers: Iterable[NoteVerifier]) -> list[NoteVerifier]:
        """The known keys that signed this checkpoint (e.g. the log and its witnesses); see :meth:`Note.signed_by`."""
        return self.note.signed_by(verifiers)
