"""Where a Lethe installation keeps its files, and the secrets that belong to it.

Layout (default ``./lethe-workspace``, or ``$LETHE_HOME``)::

    store.duckdb        raw interactions: mutable, erasure removes a subject's rows
    ledger.duckdb       append-only lineage ledger (events + bulk lineage tables)
    keys/signing.key    Ed25519 private key (0600); keys/signing.pub is what auditors get
    keys/subject.key    HMAC key that turns subject ids into the pseudonymous refs the ledger records
    artifacts/          model checkpoints (.npz weights + sha256 recorded in the ledger)
    reports/ certificates/
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ledger._signing import PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, Signer
from ledger.errors import RequestError, WorkspaceError

DEFAULT_WORKSPACE = "lethe-workspace"
SUBJECT_KEY_FILE = "subject.key"
DEPLOYMENTS_LOCK = "deployments"
"""The lock held from a request's plan until its data is erased, and by a training run: whoever holds it sees the
checkpoints that serve and is the only one replacing them (see :meth:`Workspace.exclusive`)."""
_LOCK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
"""What may name a lock file: ids as Lethe makes them; never a separator, so never a path out of ``locks/``."""


def default_workspace_path() -> Path:
    """``$LETHE_HOME`` if set, else ``./lethe-workspace``."""
    return Path(os.environ.get("LETHE_HOME", DEFAULT_WORKSPACE))


@dataclass(frozen=True)
class Workspace:
    """Paths and keys of one workspace; creating it makes the folders, never touches existing data."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).resolve())
        # Keys are made only with a new workspace: a missing key later is an error, never silently replaced.
        object.__setattr__(self, "_new", not self.ledger_path.exists())
        for folder in (self.root, self.keys_dir, self.artifacts_dir, self.reports_dir, self.certificates_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self._new:
            Signer.load_or_create(self.keys_dir)

    @property
    def store_path(self) -> Path:
        return self.root / "store.duckdb"

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.duckdb"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def public_key_path(self) -> Path:
        return self.keys_dir / PUBLIC_KEY_FILE

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def certificates_dir(self) -> Path:
        return self.root / "certificates"

    @cached_property
    def signer(self) -> Signer:
        if not self._new and not (self.keys_dir / PRIVATE_KEY_FILE).exists():
            raise WorkspaceError(
                f"signing key {self.keys_dir / PRIVATE_KEY_FILE} is missing; restore it from backup "
                "(a new key could not vouch for what the old one signed)"
            )
        return Signer.load_or_create(self.keys_dir)

    @cached_property
    def _subject_key(self) -> bytes:
        path = self.keys_dir / SUBJECT_KEY_FILE
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
        return path.read_bytes()

    def held(self, name: str) -> bool:
        """Whether another process holds the lock ``name`` now (e.g. runs that request); probing takes it briefly."""
        try:
            with self.exclusive(name):
                return False
        except WorkspaceError:
            return True

    @contextmanager
    def exclusive(self, name: str, wait: float = 0.0) -> Iterator[None]:
        """Hold an inter-process lock named ``name`` (a request id, or :data:`DEPLOYMENTS_LOCK`).

        ``wait`` 0 fails at once if another process holds it (two officers pressing "run" on the same request must
        not both append its next step); otherwise it waits up to ``wait`` seconds (``math.inf``: as long as it
        takes), since requests touching one deployment must take turns rather than fail. The kernel releases the
        lock when its holder dies, so a SIGKILL never leaves it stuck. A name that is not an id (``../x``) is
        refused before any file is made.
        """
        if not _LOCK_NAME.fullmatch(name) or ".." in name:
            raise RequestError(f"{name!r} is not a valid id (letters, digits, '.', '_' and '-' only)")
        locks = self.root / "locks"
        locks.mkdir(exist_ok=True)
        deadline = time.monotonic() + wait
        with open(locks / f"{name}.lock", "w") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WorkspaceError(f"{name} is being worked on by another process; try again when it is "
                                             "done") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def subject_ref(self, subject: str) -> str:
        """Pseudonymous, stable reference to a subject: what the append-only ledger records instead of the id."""
        return hmac.new(self._subject_key, str(subject).encode(), hashlib.sha256).hexdigest()[:32]
