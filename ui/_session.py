"""Streamlit glue shared by the console pages: the workspace's services, who is signed in, error boxes,
progress, and the ledger event every console action leaves.

Everything here touches ``st``; the data the pages show is shaped in :mod:`ui._tables`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import streamlit as st
from pydantic import ValidationError

from ledger import LetheError, default_workspace_path
from ui._access import DEFAULT_IDLE_MINUTES, IDLE_MINUTES_ENV, AccessError, Permission, User, current_role, require
from ui._access import sign_in as checked_sign_in
from ui.services import Services, open_services

SESSION_USER = "signed_in_as"
"""Session-state key holding the signed-in user's *name* only; the role is read from the users file each run."""
SESSION_SEEN = "signed_in_seen"
"""Session-state key holding when (unix seconds) the signed-in session last ran: idle past the limit, it ends."""
SESSION_EXPIRED = "session_expired"
"""Session-state flag: the last session ended idle (the sign-in page says so)."""


@st.cache_resource(show_spinner=False)
def _open_services(workspace: str) -> Services:
    return open_services(workspace)


def services() -> Services:
    """The services of the workspace in ``$LETHE_HOME``, opened once per process and keyed by its path, so a
    console (or a test) pointed at another workspace never sees the previous one's ledger."""
    return _open_services(str(default_workspace_path().resolve()))


FIELD_WORDS = {"subject": "the subject's id", "basis": "the legal basis", "regulation": "the regulation",
               "notes": "the notes", "items": "the interactions to erase", "start": "the window's first day",
               "end": "the window's last day", "name": "the name", "dpo_email": "the DPO's e-mail",
               "dpo_name": "the DPO's name", "reason": "the reason"}
"""How a form field is named in an error, instead of pydantic's location path."""


def _message(exc: Exception) -> str:
    """An error in plain words: a rejected form value names the field as the form does and what to do."""
    if not isinstance(exc, ValidationError):
        return str(exc)
    first = exc.errors()[0]
    last = str(first["loc"][-1]) if first["loc"] else "input"
    field = FIELD_WORDS.get(last, last.replace("_", " "))
    limits = first.get("ctx") or {}
    if first["type"] == "string_too_short":
        return f"Enter {field}: it cannot be empty." if limits.get("min_length", 1) <= 1 else \
            f"{field.capitalize()} needs at least {limits['min_length']} characters."
    if first["type"] == "string_too_long":
        return f"{field.capitalize()} is too long: at most {limits.get('max_length')} characters."
    if first["type"] == "missing":
        return f"{field.capitalize()} is missing."
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{field.capitalize()}: {message[:1].lower()}{message[1:]}."


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
def idle_limit_seconds() -> float:
    """How long a signed-in session may sit unused (``$LETHE_CONSOLE_IDLE_MINUTES``, default eight hours)."""
    minutes = os.environ.get(IDLE_MINUTES_ENV, "")
    return 60 * (float(minutes) if minutes.strip() else DEFAULT_IDLE_MINUTES)


def signed_in_user() -> User | None:
    """The user this session signed in as, with the role the users file gives them *now*; a user removed from
    the file is signed out, and so is a session idle for longer than :func:`idle_limit_seconds` (a
    ``console.session_expired`` event): an unlocked screen left overnight opens no erasure controls."""
    name = st.session_state.get(SESSION_USER)
    if name is None:
        return None
    now = time.time()
    idle = now - st.session_state.get(SESSION_SEEN, now)
    if idle > idle_limit_seconds():
        services().ledger.append("console.session_expired", {"idle_seconds": round(idle)}, actor=name)
        _end_session()
        st.session_state[SESSION_EXPIRED] = True
        return None
    try:
        user = current_role(services().ledger.workspace.root, name)
    except AccessError:
        _end_session()
        return None
    st.session_state[SESSION_SEEN] = now
    return user


def _end_session() -> None:
    for key in (SESSION_USER, SESSION_SEEN):
        st.session_state.pop(key, None)


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
    """Check the password (throttled per name and per the browser's address, every failure recorded: see
    :func:`ui._access.sign_in`) and start the session; the sign-in is a ledger event with the user as actor."""
    address = st.context.ip_address  # None on a local connection (and not a string in Streamlit's AppTest)
    user = checked_sign_in(services().ledger, name.strip(), password, address if isinstance(address, str) else None)
    st.session_state[SESSION_USER] = user.name
    st.session_state[SESSION_SEEN] = time.time()
    st.session_state.pop(SESSION_EXPIRED, None)
    return user


def sign_out(user: User) -> None:
    """Record the sign-out and clear the whole session: chosen request, filters, form values, everything."""
    services().ledger.append("console.signed_out", {"role": user.role}, actor=user.name)
    st.session_state.clear()


def record_action(user: User, permission: Permission, kind: str, payload: dict[str, Any]) -> None:
    """Check the permission again, then leave a ``console.*`` event with the user as actor (for console actions
    the engine does not record itself; the engine's own steps carry ``actor=user.name``)."""
    if not kind.startswith("console."):
        raise ValueError(f"console actions are recorded as console.* events, not {kind!r}")
    require(user, permission)
    services().ledger.append(kind, payload, actor=user.name)
