"""Streamlit glue shared by the console pages: the workspace's services, who is signed in, error boxes,
progress, and the ledger event every console action leaves.

Everything here touches ``st``; the data the pages show is shaped in :mod:`ui._tables`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from pydantic import ValidationError

from ledger import LetheError, default_workspace_path
from ui._access import AccessError, Permission, User, authenticate, current_role, require
from ui.services import Services, open_services

SESSION_USER = "signed_in_as"
"""Session-state key holding the signed-in user's *name* only; the role is read from the users file each run."""


@st.cache_resource(show_spinner=False)
def _open_services(workspace: str) -> Services:
    return open_services(workspace)


def services() -> Services:
    """The services of the workspace in ``$LETHE_HOME``, opened once per process and keyed by its path, so a
    console (or a test) pointed at another workspace never sees the previous one's ledger."""
    return _open_services(str(default_workspace_path().resolve()))


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(part) for part in first['loc']) or 'input'}: {first['msg']}"
    return str(exc)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Show Lethe's expected failures and rejected input as an error box; anything else is a bug and raises."""
    try:
        yield
    except (LetheError, ValidationError) as exc:
        st.error(_message(exc))


class StreamlitProgress:
    """The engine's progress callback drawn as one progress bar whose text names the current stage."""

    def __init__(self) -> None:
        self._bar = st.progress(0.0, text="starting")

    def __call__(self, stage: str, done: int, total: int) -> None:
        self._bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{stage}: {done}/{total}")


# -- who is signed in -----------------------------------------------------------------------------------
def signed_in_user() -> User | None:
    """The user this session signed in as, with the role the users file gives them *now*; a user removed from
    the file is signed out."""
    name = st.session_state.get(SESSION_USER)
    if name is None:
        return None
    try:
        return current_role(services().ledger.workspace.root, name)
    except AccessError:
        del st.session_state[SESSION_USER]
        return None


def page_user(permission: Permission = "read") -> User:
    """The signed-in user of a page, or stop the page: pages are unreachable signed out, and this holds even
    if a page is run some other way."""
    try:
        return require(signed_in_user(), permission)
    except AccessError as exc:
        st.error(str(exc))
        st.stop()
        raise  # st.stop() raises; this keeps type checkers sure the function never falls through


def sign_in(name: str, password: str) -> User:
    """Check the password and start the session; the sign-in is a ledger event with the user as actor."""
    ledger = services().ledger
    user = authenticate(ledger.workspace.root, name.strip(), password)
    ledger.append("console.signed_in", {"role": user.role}, actor=user.name)
    st.session_state[SESSION_USER] = user.name
    return user


def sign_out(user: User) -> None:
    services().ledger.append("console.signed_out", {"role": user.role}, actor=user.name)
    st.session_state.pop(SESSION_USER, None)


def record_action(user: User, permission: Permission, kind: str, payload: dict[str, Any]) -> None:
    """Check the permission again, then leave a ``console.*`` event with the user as actor (for console actions
    the engine does not record itself; the engine's own steps carry ``actor=user.name``)."""
    if not kind.startswith("console."):
        raise ValueError(f"console actions are recorded as console.* events, not {kind!r}")
    require(user, permission)
    services().ledger.append(kind, payload, actor=user.name)
