"""Signed checkpoints of the ledger's Merkle log: C2SP tlog-checkpoint notes, signed as C2SP signed notes.

A checkpoint (c2sp.org/tlog-checkpoint) is the text::

    lethe.dev/ledger/<first 16 hex of the key fingerprint>      origin: the log's identity
    <tree size>                                                 decimal, no leading zeros
    <root hash, base64>                                         RFC 6962 root, 32 bytes
    time <ISO-8601 UTC>                                         an extension line (opaque; when it was signed)

followed, as a signed note (c2sp.org/signed-note), by a blank line and one line per signature::

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature over the text above)>

The key ID is ``SHA-256(key name || 0x0A || 0x01 || public key)[:4]``; the workspace exports the matching verifier
key as ``keys/signing.vkey`` (``ledger._signing``). Witnesses add their own signature lines (co-signatures).

Reading follows the specifications: any note may carry signatures by keys this reader does not know (they are
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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger._signing import (
    Signer,
    note_key_hash,
    note_key_name,
    parse_vkey,
    strict_b64decode,
    valid_note_name,
    vkey,
)
from ledger.errors import LedgerIntegrityError, SignatureError

SIGNATURE_DASH = "— "  # U+2014 EM DASH, space
MAX_SIGNATURES = 100  # the spec asks readers to accept at least 16; Go's reference stops at 100
MAX_NOTE_BYTES = 1 << 20
TIME_EXTENSION = "time "
LEGACY_FORMAT = (
    "a checkpoint note in Lethe's checkpoint format 1 (origin 'lethe-ledger', no key ID in its signature line), "
    "written before Lethe adopted C2SP signed notes; this version reads C2SP tlog-checkpoint notes only, so the "
    "note cannot be checked here"
)


@dataclass(frozen=True)
class NoteVerifier:
    """A known Ed25519 note key: its name, 4-byte key ID and public key (a C2SP ``vkey`` holds all three)."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, text: str) -> "NoteVerifier":
        return cls(*parse_vkey(text))

    @classmethod
    def for_key(cls, public_key: Ed25519PublicKey, name: str | None = None) -> "NoteVerifier":
        """The verifier of ``public_key`` under ``name`` (default: the workspace's ledger name for this key)."""
        name = note_key_name(public_key) if name is None else name
        return cls(name, note_key_hash(name, public_key), public_key)

    @property
    def vkey(self) -> str:
        return vkey(self.name, self.public_key)

    def verifies(self, text: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text)
        except InvalidSignature:
            return False
        return True


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
        body = self.text.encode("utf-8")
        for signature in self.signatures:
            verifier = known.get((signature.name, signature.key_hash))
            if verifier is None:
                continue  # a signer we do not know: a witness, a rotated key, anything — ignored
            if not verifier.verifies(body, signature.signature):
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


def parse_skey(text: str) -> tuple[str, Ed25519PrivateKey]:
    """``(name, private key)`` of a signer key in the Go/C2SP ``PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ||
    32-byte seed)>`` form; ValueError if it is not an Ed25519 one or its key ID does not match."""
    prefix, private, name, key_id_hex, encoded = (text.strip().split("+", 4) + [""] * 5)[:5]
    if (prefix, private) != ("PRIVATE", "KEY") or not valid_note_name(name) or len(key_id_hex) != 8:
        raise ValueError("not a signed-note signer key (PRIVATE+KEY+name+keyid+base64 key)")
    material = strict_b64decode(encoded, "the signer key")
    if len(material) != 33 or material[0] != 1:
        raise ValueError("not an Ed25519 signer key (type 0x01, 32-byte seed)")
    private_key = Ed25519PrivateKey.from_private_bytes(material[1:])
    if note_key_hash(name, private_key.public_key()).hex() != key_id_hex.lower():
        raise ValueError(f"the signer key's ID {key_id_hex} does not match its name and key")
    return name, private_key


def sign_text(text: str, private_key: Ed25519PrivateKey, name: str | None = None) -> NoteSignature:
    """The signature line of ``private_key`` (named ``name``, default the workspace ledger name) over ``text``."""
    public_key = private_key.public_key()
    name = note_key_name(public_key) if name is None else name
    if not valid_note_name(name):
        raise ValueError(f"{name!r} is not a valid signed-note key name")
    return NoteSignature(name, note_key_hash(name, public_key), private_key.sign(text.encode("utf-8")))


def parse_note(note: str | bytes, where: str = "note") -> Note:
    """Split a signed note into text and signature lines (c2sp.org/signed-note, "Format"); verify nothing.

    :class:`LedgerIntegrityError` naming ``where`` if it is not a well-formed note.
    """
    def malformed(reason: str) -> LedgerIntegrityError:
        return LedgerIntegrityError(f"{where} is not a signed note: {reason}")

    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise malformed(f"larger than {MAX_NOTE_BYTES} bytes")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise malformed("not valid UTF-8") from None
    if not isinstance(note, str):
        raise malformed("not text")
    if len(note) > MAX_NOTE_BYTES:
        raise malformed(f"larger than {MAX_NOTE_BYTES} bytes")
    if note.startswith("lethe-ledger ") and "\n— lethe " in note:
        raise LedgerIntegrityError(f"{where} is {LEGACY_FORMAT}")
    if any(ch < " " and ch != "\n" for ch in note):
        raise malformed("it holds a control character other than newline")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise malformed("not valid UTF-8 (a lone surrogate)") from None
    split = note.rfind("\n\n")
    if split < 0:
        raise malformed("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise malformed("the signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise malformed(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_DASH):
            raise malformed(f"{line[:40]!r} is not a signature line ('— <name> <base64>')")
        name, space, encoded = line[len(SIGNATURE_DASH) :].partition(" ")
        if not space or not valid_note_name(name):
            raise malformed(f"{line[:40]!r} does not name a valid key")
        try:
            raw = strict_b64decode(encoded, f"the signature by {name}")
        except ValueError as exc:
            raise malformed(str(exc)) from None
        if len(raw) < 5:
            raise malformed(f"the signature by {name} is shorter than a key ID and a signature")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(signatures))


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
        """Parse a checkpoint note (c2sp.org/tlog-checkpoint); any deviation is a LedgerIntegrityError naming
        ``where``. Signatures are not checked here: see :meth:`verify`."""
        note = parse_note(text, where)

        def malformed(reason: str) -> LedgerIntegrityError:
            return LedgerIntegrityError(f"{where} is not a tlog checkpoint: {reason}")

        lines = note.text[:-1].split("\n")
        if len(lines) < 3:
            raise malformed("it needs an origin, a tree size and a root hash line")
        origin, size, root, *extensions = lines
        if not origin:
            raise malformed("the origin line is empty")
        if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
            raise malformed(f"tree size {size[:30]!r} is not a decimal number without leading zeros")
        try:
            root_hash = strict_b64decode(root, "the root hash")
        except ValueError as exc:
            raise malformed(str(exc)) from None
        if len(root_hash) != 32:
            raise malformed(f"the root hash is {len(root_hash)} bytes, not 32")
        if any(not line for line in extensions):
            raise malformed("an extension line is empty")
        return cls(origin, int(size), root_hash, tuple(extensions), note.signatures)

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
