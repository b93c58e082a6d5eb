"""The workspace's Ed25519 signing key, and the public forms an auditor gets.

The private key is created on first use with file mode 0600. Two public forms are exported next to it, so that an
auditor or a regulator can verify reports, certificates and ledger checkpoints with nothing else:

- ``keys/signing.pub``: the PEM (SubjectPublicKeyInfo) public key, for DSSE envelopes;
- ``keys/signing.vkey``: the C2SP signed-note verifier key (c2sp.org/signed-note, "Verifier keys")
  ``<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>``, for checkpoint notes. The name is the ledger's
  log identity, ``lethe.dev/ledger/<first 16 hex of the key fingerprint>``; the key ID is the first 4 bytes of
  ``SHA-256(name || 0x0A || 0x01 || public key)``.

Signatures cover exact bytes (DSSE's PAE of the payload bytes, a note's text), never a re-serialised dict.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger._canonical import sha256_hex
from ledger.errors import SignatureError, WorkspaceError

PRIVATE_KEY_FILE = "signing.key"
PUBLIC_KEY_FILE = "signing.pub"
VKEY_FILE = "signing.vkey"
LOG_NAME_PREFIX = "lethe.dev/ledger/"
ED25519_NOTE_TYPE = b"\x01"  # the signed-note signature type of Ed25519 (c2sp.org/signed-note, "Signature types")


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of ``public_key``."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def strict_b64decode(text: str, what: str, urlsafe_too: bool = False) -> bytes:
    """Decode canonical, padded base64 (RFC 4648 §4; with ``urlsafe_too`` also §5, one alphabet per string).

    Refused: other characters, missing padding, and non-canonical encodings whose unused bits are set (two
    spellings of the same bytes would let a flipped character go unnoticed). Raises ``ValueError`` naming ``what``.
    """
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a base64 string")
    standard = re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) is not None
    urlsafe = urlsafe_too and not standard and re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text) is not None
    if not (standard or urlsafe):
        raise ValueError(f"{what} is not base64")
    try:
        data = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(text.encode("ascii"))
    except binascii.Error as exc:
        raise ValueError(f"{what} is not valid base64 ({exc})") from None
    again = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode("ascii")
    if again != text:
        raise ValueError(f"{what} is not canonical base64 (unused bits set or padding wrong)")
    return data


def note_key_name(public_key: Ed25519PublicKey) -> str:
    """The signed-note key name of a workspace key, which is also its ledger's origin line."""
    return LOG_NAME_PREFIX + public_key_fingerprint(public_key)[:16]


def note_key_hash(name: str, public_key: Ed25519PublicKey) -> bytes:
    """C2SP key ID of an Ed25519 note key: ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + ED25519_NOTE_TYPE + raw_public_key(public_key)).digest()[:4]


def valid_note_name(name: str) -> bool:
    """Key names are non-empty and hold no Unicode space and no ``+`` (c2sp.org/signed-note, "Format")."""
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The C2SP verifier key ``<name>+<hex key ID>+<base64(0x01 || public key)>``."""
    if not valid_note_name(name):
        raise ValueError(f"{name!r} is not a valid signed-note key name")
    encoded = base64.b64encode(ED25519_NOTE_TYPE + raw_public_key(public_key)).decode()
    return f"{name}+{note_key_hash(name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """``(name, key ID, public key)`` of an Ed25519 C2SP verifier key; :class:`SignatureError` if it is not one
    (another signature type, a key ID that does not match the name and key, a malformed part)."""
    text = text.strip()
    name, _, rest = text.partition("+")
    key_id_hex, _, key_b64 = rest.partition("+")
    try:
        if not valid_note_name(name) or not re.fullmatch(r"[0-9a-f]{8}", key_id_hex):
            raise ValueError("name or key ID")
        material = strict_b64decode(key_b64, "the key")
    except ValueError as exc:
        raise SignatureError(f"not a signed-note verifier key (name+keyid+base64 key): {exc}") from None
    if len(material) != 33 or material[:1] != ED25519_NOTE_TYPE:
        raise SignatureError("the verifier key is not an Ed25519 signed-note key (type 0x01, 32 bytes)")
    public_key = Ed25519PublicKey.from_public_bytes(material[1:])
    if note_key_hash(name, public_key) != bytes.fromhex(key_id_hex):
        raise SignatureError(f"the verifier key's ID {key_id_hex} does not match its name and key")
    return name, bytes.fromhex(key_id_hex), public_key


def public_key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: the ``keyid`` printed on every signature."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a PEM public key or a C2SP verifier key (``.vkey``); a clear error if the file is missing or holds
    no Ed25519 key."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise SignatureError(f"public key file not found: {path}") from exc
    if not data.lstrip().startswith(b"-----BEGIN"):
        try:
            return parse_vkey(data.decode("utf-8"))[2]
        except (SignatureError, UnicodeDecodeError) as exc:
            raise SignatureError(f"{path} is neither a PEM public key nor a verifier key: {exc}") from None
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SignatureError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError(f"{path} is not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Signer:
    """Holds the workspace's private key; signs canonical JSON payloads."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def keyid(self) -> str:
        return public_key_fingerprint(self.public_key)

    @property
    def note_name(self) -> str:
        """The key's signed-note name: the ledger's origin line."""
        return note_key_name(self.public_key)

    @property
    def vkey(self) -> str:
        """The C2SP verifier key an auditor checks checkpoint notes with."""
        return vkey(self.note_name, self.public_key)

    @classmethod
    def load_or_create(cls, key_dir: Path) -> "Signer":
        """Load the key pair from ``key_dir``; create it (private key mode 0600) if absent.

        Creation is atomic (write a temporary file, then hard-link it into place), so processes that race to
        open a new workspace all end up with the one key that won, never a half-written file.
        """
        key_dir.mkdir(parents=True, exist_ok=True)
        private_path = key_dir / PRIVATE_KEY_FILE
        if not private_path.exists():
            cls._create_key(key_dir, private_path)
        try:
            key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        except ValueError as exc:
            raise WorkspaceError(f"{private_path} is not a readable PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise WorkspaceError(f"{private_path} is not an Ed25519 private key")
        public_path = key_dir / PUBLIC_KEY_FILE
        if not public_path.exists():
            public_pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            _write_atomically(public_path, public_pem)
        signer = cls(key)
        vkey_path = key_dir / VKEY_FILE
        if not vkey_path.exists():  # also added to workspaces made before vkeys existed
            _write_atomically(vkey_path, (signer.vkey + "\n").encode())
        return signer

    @staticmethod
    def _create_key(key_dir: Path, private_path: Path) -> None:
        """Generate a key into a private temporary file and link it to ``private_path`` unless one is there."""
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, temporary = tempfile.mkstemp(dir=key_dir, prefix=".signing-")  # mkstemp creates it mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, private_path)
        except FileExistsError:
            pass  # another process created the key first: use theirs
        finally:
            os.unlink(temporary)


def _write_atomically(path: Path, data: bytes) -> None:
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_bytes(data)
    os.replace(staged, path)
