"""Console hardening: it listens on loopback unless told otherwise, sign-in backs off per user and per address with
every failure in the ledger (never the password), and idle sessions end."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ledger import Ledger
from tests._processes import children_of, free_port, running
from ui._access import SIGN_IN_FAILED, AccessError, SignInLimits, add_user, sign_in

PASSWORD = "correct horse battery"
WRONG = "Tr0ub4dor&3-guess"
APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    ledger = Ledger.open(tmp_path / "ws")
    add_user(ledger, "olivia", "officer", PASSWORD, actor="test")
    return ledger


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_lethe_console_listens_on_loopback_only_by_default(tmp_path: Path) -> None:
    """Streamlit's own default is every interface: an erasure console must not be reachable from the network
    unless someone asks for it (--address 0.0.0.0)."""
    port = free_port()
    console = subprocess.Popen([str(Path(sys.executable).with_name("lethe")), "console", "-w", str(tmp_path / "ws"),
                                "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not _listening_addresses(port) and time.monotonic() < deadline and console.poll() is None:
            time.sleep(0.3)
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex; no 0.0.0.0 or ::
    finally:
        console.terminate()
        console.wait(timeout=30)


def test_failed_sign_ins_back_off_exponentially_per_user(ledger: Ledger) -> None:
    for _ in range(3):  # a few typos cost nothing
        with pytest.raises(AccessError, match="^wrong user name or password$"):
            sign_in(ledger, "olivia", WRONG, "10.0.0.1")
    now = datetime.now(timezone.utc)
    with pytest.raises(AccessError, match=r"too many failed sign-ins: try again in [12] s"):
        sign_in(ledger, "olivia", PASSWORD, "10.0.0.2", now=now)  # even the right password, from anywhere
    assert sign_in(ledger, "olivia", PASSWORD, "10.0.0.2", now=now + timedelta(seconds=3)).name == "olivia"
    limits = SignInLimits()
    failures = [now] * 3
    assert [limits.wait(failures + [now] * extra, now) for extra in range(5)] == [2, 4, 8, 16, 32]
    assert limits.wait([now] * 30, now) == limits.longest
    assert limits.wait([now] * 30, now + limits.window + timedelta(seconds=1)) == 0  # old failures expire


def test_failed_sign_ins_back_off_per_address_whatever_the_name(ledger: Ledger) -> None:
    for name in ("mallory", "admin", "root"):
        with pytest.raises(AccessError, match="^wrong user name or password$"):
            sign_in(ledger, name, WRONG, "203.0.113.7")
    with pytest.raises(AccessError, match="too many failed sign-ins"):
        sign_in(ledger, "olivia", PASSWORD, "203.0.113.7")
    assert sign_in(ledger, "olivia", PASSWORD, "198.51.100.1").name == "olivia"  # her own address is not held


def test_every_failed_sign_in_is_a_ledger_event_without_the_password(ledger: Ledger) -> None:
    for name in ("olivia", PASSWORD, "olivia", "olivia"):  # a password typed into the name field, then throttled
        with pytest.raises(AccessError):
            sign_in(ledger, name, WRONG, "192.0.2.5")
    events = ledger.log.events([SIGN_IN_FAILED])
    assert len(events) == 4 and {e.actor for e in events} == {"console"}
    assert [e.payload["user"] for e in events] == ["olivia", None, "olivia", "olivia"]
    assert [e.payload["throttled"] for e in events] == [False, False, False, True]
    assert {e.payload["address"] for e in events} == {"192.0.2.5"}
    text = Path(ledger.log.path).read_bytes()
    assert WRONG.encode() not in text and PASSWORD.encode() not in text


@pytest.mark.parametrize(("idle_minutes", "idle_seconds", "signed_in"),
                         [(None, 9 * 3600, False), (None, 7 * 3600, True), ("1", 120, False)])
def test_an_idle_session_is_signed_out(ledger: Ledger, monkeypatch: pytest.MonkeyPatch, idle_minutes: str | None,
                                       idle_seconds: int, signed_in: bool) -> None:
    """Eight idle hours by default (`lethe console --idle-minutes` sets it); the expiry is a ledger event."""
    monkeypatch.setenv("LETHE_HOME", str(ledger.workspace.root))
    if idle_minutes is None:
        monkeypatch.delenv("LETHE_CONSOLE_IDLE_MINUTES", raising=False)
    else:
        monkeypatch.setenv("LETHE_CONSOLE_IDLE_MINUTES", idle_minutes)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    at.text_input(key="sign_in_name").input("olivia")
    at.text_input(key="sign_in_password").input(PASSWORD)
    at = at.form_submit_button[0].click().run()
    assert at.title[0].value == "Dashboard"
    at.session_state["signed_in_seen"] = time.time() - idle_seconds
    at = at.run()
    assert not at.exception
    assert (at.title[0].value == "Dashboard") is signed_in
    expired = Ledger.open(ledger.workspace.root).log.events(["console.session_expired"])
    assert [e.actor for e in expired] == ([] if signed_in else ["olivia"])
    if not signed_in:
        assert "idle" in at.info[0].value


def test_lethe_console_passes_the_idle_limit_and_stops_with_its_children(tmp_path: Path) -> None:
    """The idle limit reaches Streamlit's process, a worker runs beside it, and stopping `lethe console` (SIGTERM)
    leaves neither serving the port nor running."""
    port = free_port()
    console = subprocess.Popen([str(Path(sys.executable).with_name("lethe")), "console", "-w", str(tmp_path / "ws"),
                                "--port", str(port), "--idle-minutes", "30"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not _listening_addresses(port) and time.monotonic() < deadline and console.poll() is None:
            time.sleep(0.3)
        children = children_of(console.pid)
        commands = {pid: Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children}
        streamlit = next(pid for pid, argv in commands.items() if b"streamlit" in argv)
        assert any(b"worker" in argv for argv in commands.values())
        environ = Path(f"/proc/{streamlit}/environ").read_bytes().split(b"\0")
        assert b"LETHE_CONSOLE_IDLE_MINUTES=30.0" in environ
    finally:
        console.terminate()
        console.wait(timeout=30)
    deadline = time.monotonic() + 30
    while (any(running(pid) for pid in children) or _listening_addresses(port)) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not _listening_addresses(port)
    assert not [pid for pid in children if running(pid)]
