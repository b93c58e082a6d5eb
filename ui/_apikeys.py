"""API keys for ``lethe serve``: one per caller, each with a role, stored hashed (issue 22, point 3).

The file is ``api-keys.toml`` in the workspace root (mode 0600, written by ``lethe apikey add``)::

    [keys."fides-prod"]
    role = "integration"
    sha256 = "9f86d0…"

A key is 32 random bytes (``lethe_…``), shown once when it is made; only its SHA-256 is kept (a key is not a
password a person chose, so a fast hash of it is as strong as the key). Roles:

- ``integration`` (a DSR tool): file, follow and cancel erasures; read their certificates and the verifier key;
- ``auditor``: read everything (requests, plans, reports, certificates, checkpoints, audits), change nothing;
- ``officer``: everything.

Adding or revoking a key is a ledger event (name and role, never the key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ledger import Ledger, LetheError

KEYS_FILE = "api-keys.toml"
ApiRole = Literal["integration", "auditor", "officer"]
API_ROLES: tuple[str, ...] = ("integration", "auditor", "officer")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
GRANTS: dict[str, frozenset[str]] = {
    "integration": frozenset({"read", "file", "cancel"}),
    "auditor": frozenset({"read", "audit"}),
    "officer": frozenset({"read", "file", "cancel", "audit"}),
}


class ApiKeyError(LetheError):
    """A key cannot be added or revoked as asked."""

    exit_code = 2


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    sha256: str

    def may(self, action: str) -> bool:
        return action in GRANTS[self.role]


def keys_path(workspace_root: Path) -> Path:
    return Path(workspace_root) / KEYS_FILE


def load_keys(workspace_root: Path) -> dict[str, ApiKey]:
    """Every key of the workspace by name (none without the file)."""
    path = keys_path(workspace_root)
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("keys", {})
        return {name: ApiKey(name, str(fields["role"]), str(fields["sha256"])) for name, fields in table.items()}
    except (tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ApiKeyError(f"{path} is not a valid API keys file: {exc}") from None


def _write_keys(workspace_root: Path, keys: dict[str, ApiKey]) -> None:
    lines = ["# Lethe API keys: written by `lethe apikey add`; only each key's SHA-256 is kept.\n"]
    for key in sorted(keys.values(), key=lambda k: k.name):
        lines.append(f"\n[keys.{json.dumps(key.name)}]\nrole = {json.dumps(key.role)}\nsha256 = {json.dumps(key.sha256)}\n")
    path = keys_path(workspace_root)
    temporary = path.with_suffix(".toml.tmp")
    temporary.write_text("".join(lines), encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_key(ledger: Ledger, name: str, role: str, actor: str = "cli") -> str:
    """Make a key for ``name`` with ``role``; returns the key (shown once, never stored)."""
    if not _NAME.fullmatch(name):
        raise ApiKeyError("a key name is 1-64 letters, digits or . _ - and starts with a letter or digit")
    if role not in API_ROLES:
        raise ApiKeyError(f"role must be one of {', '.join(API_ROLES)}, not {role!r}")
    keys = load_keys(ledger.workspace.root)
    if name in keys:
        raise ApiKeyError(f"a key named {name!r} exists; revoke it first (`lethe apikey revoke {name}`)")
    key = "lethe_" + secrets.token_urlsafe(32)
    _write_keys(ledger.workspace.root, {**keys, name: ApiKey(name, role, _digest(key))})
    ledger.append("api.key_added", {"name": name, "role": role}, actor=actor)
    return key


def revoke_key(ledger: Ledger, name: str, actor: str = "cli") -> None:
    keys = load_keys(ledger.workspace.root)
    if name not in keys:
        raise ApiKeyError(f"no API key named {name!r}")
    del keys[name]
    _write_keys(ledger.workspace.root, keys)
    ledger.append("api.key_revoked", {"name": name}, actor=actor)


def authenticate(workspace_root: Path, presented: str) -> ApiKey | None:
    """The key ``presented`` is, or None; every stored hash is compared, in constant time each."""
    digest = _digest(presented)
    found = None
    for key in load_keys(workspace_root).values():
        if hmac.compare_digest(key.sha256, digest):
            found = key
    return found
