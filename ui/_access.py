"""Who may use the console, and for what: a users file in the workspace, argon2 password hashes, two roles.

The file is ``users.toml`` in the workspace root (written by ``lethe user add``; hand-editable)::

    [users."olivia"]
    role = "officer"
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

Roles grant permissions; pages ask :func:`require` before every action, so a role is enforced where the action
runs, not only by hiding its button. The role is read from the file on every check: demoting or removing a user
takes effect at their next click, without waiting for them to sign out. Signing in (:func:`sign_in`) backs off
exponentially per user name and per address after a few failures, and every failure is a ledger event. No
Streamlit here (the CLI imports it).
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ledger import Ledger, LetheError
from policies import Role

USERS_FILE = "users.toml"
SIGNED_IN = "console.signed_in"
SIGN_IN_FAILED = "console.sign_in_failed"
IDLE_MINUTES_ENV = "LETHE_CONSOLE_IDLE_MINUTES"
DEFAULT_IDLE_MINUTES = 480
"""A console session nobody used for eight hours (a working day) is signed out; `lethe console --idle-minutes`."""
Permission = Literal["read", "file_request", "run_request", "register_model", "verify_ledger", "download"]

PERMISSIONS: dict[str, frozenset[str]] = {
    # Issue 9: the officer files and runs requests; the auditor reads, verifies and downloads. Actions the policy
    # governs (running an audit, extending a deadline) are checked against its approvers where they run.
    "officer": frozenset({"read", "file_request", "run_request", "register_model", "verify_ledger", "download"}),
    "auditor": frozenset({"read", "verify_ledger", "download"}),
}
RESERVED_NAMES = frozenset({"system", "cli", "console"})
"""Actors the engine and the CLI already write into the ledger; a console user may not pose as them."""
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("lethe: no such user")


class AccessError(LetheError):
    """Signing in failed, or the signed-in user's role does not allow the action."""

    exit_code = 2


class User(BaseModel):
    """One console user as stored in the users file (the hash only, never the password)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    role: Role
    password_hash: str = Field(repr=False)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, name: str) -> str:
        if not _NAME.fullmatch(name):
            raise ValueError("a user name is 1-64 letters, digits or . _ @ - and starts with a letter or digit")
        if name.lower() in RESERVED_NAMES:
            raise ValueError(f"{name!r} is reserved for the engine's own ledger entries")
        return name

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]


def users_path(workspace_root: Path) -> Path:
    return Path(workspace_root) / USERS_FILE


def load_users(workspace_root: Path) -> dict[str, User]:
    """Every user of the workspace by name; no file means no users (nobody can sign in)."""
    path = users_path(workspace_root)
    if not path.exists():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("users", {})
        return {name: User(name=name, **fields) for name, fields in table.items()}
    except (tomllib.TOMLDecodeError, TypeError, ValidationError) as exc:
        raise AccessError(f"{path} is not a valid users file: {exc}") from None


def _write_users(workspace_root: Path, users: dict[str, User]) -> None:
    """Rewrite the whole file atomically (``json.dumps`` strings are valid TOML basic strings)."""
    lines = ["# Lethe console users: written by `lethe user add`; passwords are argon2id hashes.\n"]
    for user in sorted(users.values(), key=lambda u: u.name):
        lines.append(f"\n[users.{json.dumps(user.name)}]\nrole = {json.dumps(user.role)}\n"
                     f"password_hash = {json.dumps(user.password_hash)}\n")
    path = users_path(workspace_root)
    temporary = path.with_suffix(".toml.tmp")
    temporary.write_text("".join(lines), encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def add_user(ledger: Ledger, name: str, role: str, password: str, replace: bool = False, actor: str = "cli") -> User:
    """Add (or with ``replace``, re-role and re-password) a user of the ledger's workspace; the password is stored
    as an argon2id hash, and the change is a ``console.user_added`` event (name and role, never the hash)."""
    workspace_root = ledger.workspace.root
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    users = load_users(workspace_root)
    if name in users and not replace:
        raise AccessError(f"user {name!r} exists; pass --replace to change their role or password")
    try:
        user = User(name=name, role=role, password_hash=_hasher.hash(password))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise AccessError(f"{first['loc'][0]}: {first['msg']}") from None
    _write_users(workspace_root, {**users, name: user})
    ledger.append("console.user_added", {"name": user.name, "role": user.role, "replaced": name in users}, actor=actor)
    return user


def authenticate(workspace_root: Path, name: str, password: str) -> User:
    """The user if the password matches; one message for a wrong name or a wrong password."""
    user = load_users(workspace_root).get(name)
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise AccessError("wrong user name or password")
    return user


def current_role(workspace_root: Path, name: str) -> User:
    """The signed-in user as the users file says now (removed users lose access at once)."""
    user = load_users(workspace_root).get(name)
    if user is None:
        raise AccessError(f"user {name!r} no longer exists; sign in again")
    return user


def require(user: User | None, permission: Permission) -> User:
    """Refuse the action unless someone is signed in with a role that grants ``permission``."""
    if user is None:
        raise AccessError("sign in first")
    if not user.can(permission):
        raise AccessError(f"{user.name} is an {user.role}; an {user.role} may not {permission.replace('_', ' ')}")
    return user


@dataclass(frozen=True)
class SignInLimits:
    """Back-off after failed sign-ins, counted per user name and per address: the first ``free`` failures within
    ``window`` cost nothing; after that each failure doubles the wait (from ``base`` seconds, at most ``longest``)
    before the next attempt is even checked. A successful sign-in clears the count of its name and address."""

    free: int = 3
    base: float = 2.0
    longest: float = 900.0
    window: timedelta = timedelta(hours=1)

    def wait(self, failures: list[datetime], now: datetime) -> float:
        """Seconds left before the next attempt after these failures (oldest first)."""
        recent = [at for at in failures if now - at <= self.window]
        if len(recent) < self.free:
            return 0.0
        delay = min(self.base * 2 ** (len(recent) - self.free), self.longest)
        return max(0.0, delay - (now - recent[-1]).total_seconds())


def _failures_since_success(ledger: Ledger, name_ref: str,
                            address: str | None) -> tuple[list[datetime], list[datetime]]:
    """Times of the checked (not throttled) failed sign-ins of this name and of this address since each last
    signed in, from the ledger: the count holds across sessions, browsers and console processes."""
    by_name: list[datetime] = []
    by_address: list[datetime] = []
    for event in ledger.log.events([SIGN_IN_FAILED, SIGNED_IN]):
        same_name, same_address = event.payload.get("name_ref") == name_ref, event.payload.get("address") == address
        if event.kind == SIGNED_IN:
            by_name, by_address = ([] if same_name else by_name), ([] if same_address else by_address)
        elif not event.payload.get("throttled"):
            at = datetime.fromisoformat(event.ts)
            by_name += [at] if same_name else []
            by_address += [at] if same_address else []
    return by_name, by_address


def sign_in(ledger: Ledger, name: str, password: str, address: str | None, limits: SignInLimits = SignInLimits(),
            now: datetime | None = None) -> User:
    """Authenticate a console sign-in from ``address``, throttled and recorded.

    While the name or the address is backing off, the attempt is refused before the password is looked at. Every
    refused or failed attempt is a ``console.sign_in_failed`` event (actor ``console``) with the address, why, and
    the user's name only if it is a user's — an unknown "name" may be a password typed into the wrong field, so only
    its keyed hash (``name_ref``, which the back-off counts by) is kept; the password never is. A wrong name and a
    wrong password get one message, and a throttled attempt another whether the name is a user's or not (neither
    tells who has an account). A success is ``console.signed_in`` (the user as actor), which clears the count of
    its name and address.
    """
    now = now or datetime.now(timezone.utc)
    root = ledger.workspace.root
    name_ref = ledger.workspace.subject_ref(f"console sign-in\n{name}")  # keyed, domain-separated from subjects
    by_name, by_address = _failures_since_success(ledger, name_ref, address)
    wait = max(limits.wait(by_name, now), limits.wait(by_address, now))

    def failed(reason: str) -> AccessError:
        known = name if name in load_users(root) else None
        ledger.append(SIGN_IN_FAILED, {"user": known, "name_ref": name_ref, "address": address, "reason": reason,
                                       "throttled": wait > 0}, actor="console")
        return AccessError(reason)

    if wait > 0:
        raise failed(f"too many failed sign-ins: try again in {math.ceil(wait)} s")
    try:
        user = authenticate(root, name, password)
    except AccessError as exc:
        raise failed(str(exc)) from None
    ledger.append(SIGNED_IN, {"role": user.role, "name_ref": name_ref, "address": address}, actor=user.name)
    return user
