"""The workspace's Ed25519 signing key and detached signatures over canonical JSON.

The private key is created on first use with file mode 0600; the public key is exported next to it so that
an auditor or a regulator can verify reports, certificates and ledger heads with nothing else.
Signatures cover exact bytes (the canonical JSON of the payload), never a re-serialised dict of unknown form.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger._canonical import canonical_json, sha256_hex
from ledger.errors import SignatureError, WorkspaceError

PRIVATE_KEY_FILE = "signing.key"
PUBLIC_KEY_FILE = "signing.pub"


def public_key_fingerprint(public_key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: the ``keyid`` printed on every signature."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return sha256_hex(raw)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read a PEM public key; a clear error if the file is missing or not an Ed25519 key."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except FileNotFoundError as exc:
        raise SignatureError(f"public key file not found: {path}") from exc
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

    def sign(self, payload: Any) -> dict[str, str]:
        """Sign the canonical JSON of ``payload``; returns ``{"keyid", "sig"}`` (sig base64)."""
        signature = self.private_key.sign(canonical_json(payload))
        return {"keyid": self.keyid, "sig": base64.b64encode(signature).decode()}

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
            staged = public_path.with_name(f".{public_path.name}.{os.getpid()}")
            staged.write_bytes(public_pem)
            os.replace(staged, public_path)
        return cls(key)

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
