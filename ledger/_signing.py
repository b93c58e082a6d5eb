"""The workspace's Ed25519 signing key, and the public forms an auditor gets.

The private key is created on first use with file mode 0600. Two public forms are exported next to it, so that an
auditor or a regulator can verify reports, certificates and ledger checkpoints with nothing else:

- ``keys/signing.pub``: the PEM (SubjectPublicKeyInfo) public key, for DSSE envelopes;
- ``keys/signing.vkey``: the C2SP signed-note verifier key (c2sp.org/signed-note, "Verifier keys")
  ``<name>+<hex key ID>+<base64(0x01 || 32-byte public key)>``, for checkpoint notes. The name is the ledger's
  log identity, ``lethe.dev/ledger/<first 16 hex of the key fingerprint>``; the key ID is the first 4 bytes of
  ``SHA-256(name || 0x0A || 0x01 || public key)``.

Signatures cover exact bytes (DSSE's PAE of the payload bytes, a note's text), never a re-serialised dict. Key
IDs, names and vkeys are read with ``verify.standalone``'s functions: the verifier an auditor runs is the one
definition of these formats.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger._files import write_atomically
from ledger.errors import SignatureError, WorkspaceError
from verify.standalone import ED25519_NOTE_TYPE, NoteKey, VerificationError, note_key_hash, valid_note_name
from verify.standalone import key_fingerprint as public_key_fingerprint  # SHA-256 of the raw key, hex: every keyid
from verify.standalone import parse_vkey as standalone_parse_vkey
from verify.standalone import raw_key as raw_public_key  # the 32-byte RFC 8032 encoding

PRIVATE_KEY_FILE = "signing.key"
PUBLIC_KEY_FILE = "signing.pub"
VKEY_FILE = "signing.vkey"
LOG_NAME_PREFIX = "lethe.dev/ledger/"


def note_key_name(public_key: Ed25519PublicKey) -> str:
    """The signed-note key name of a workspace key, which is also its ledger's origin line."""
    return LOG_NAME_PREFIX + public_key_fingerprint(public_key)[:16]


def vkey(name: str, public_key: Ed25519PublicKey, key_type: bytes = ED25519_NOTE_TYPE) -> str:
    """The C2SP verifier key ``<name>+<hex key ID>+<base64(type || public key)>`` (type 0x01 a note key, 0x04 a
    witness's cosigner key)."""
    if not valid_note_name(name):
        raise ValueError(f"{name!r} is not a valid signed-note key name")
    encoded = base64.b64encode(key_type + raw_public_key(public_key)).decode()
    return f"{name}+{note_key_hash(name, public_key, key_type).hex()}+{encoded}"


def parse_vkey(text: str) -> NoteKey:
    """An Ed25519 C2SP verifier key (note key or cosigner key); :class:`SignatureError` if it is not one (another
    signature type, a key ID that does not match the name and key, a malformed part)."""
    try:
        return standalone_parse_vkey(text)
    except VerificationError as exc:
        raise SignatureError(str(exc)) from None



def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a PEM public key or a C2SP verifier key (``.vkey``); a clear error if the file is missing or holds
    no Ed25519 key."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise SignatureError(f"public key file not found: {path}") from exc
    if not data.lstrip().startswith(b"-----BEGIN"):
        try:
            return parse_vkey(data.decode("utf-8")).key
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
            write_atomically(public_path, public_pem)
        signer = cls(key)
        vkey_path = key_dir / VKEY_FILE
        if not vkey_path.exists():  # also added to workspaces made before vkeys existed
            write_atomically(vkey_path, (signer.vkey + "\n").encode())
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

