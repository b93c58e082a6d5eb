"""Console access: the users file, argon2 hashes, roles, and ``lethe user add``."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger import Ledger
from ui._access import AccessError, User, add_user, authenticate, current_role, load_users, require, users_path
from ui.cli import app

PASSWORD = "correct horse battery"


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger.open(tmp_path / "ws")


def test_a_user_is_stored_with_an_argon2id_hash_only(ledger: Ledger) -> None:
    user = add_user(ledger, "olivia", "officer", PASSWORD, actor="test")
    path = users_path(ledger.workspace.root)
    text = path.read_text()
    assert PASSWORD not in text
    stored = tomllib.loads(text)["users"]["olivia"]
    assert stored["role"] == "officer" and stored["password_hash"].startswith("$argon2id$")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_users(ledger.workspace.root) == {"olivia": user}
    assert PASSWORD not in repr(user)
    (event,) = ledger.log.events(["console.user_added"])
    assert event.actor == "test" and event.payload == {"name": "olivia", "role": "officer", "replaced": False}
    assert "argon2" not in str(event.payload)


def test_authenticate_accepts_the_password_and_refuses_anything_else_alike(ledger: Ledger) -> None:
    add_user(ledger, "olivia", "officer", PASSWORD)
    root = ledger.workspace.root
    assert authenticate(root, "olivia", PASSWORD).role == "officer"
    for name, password in [("olivia", PASSWORD + "!"), ("olivia", ""), ("mallory", PASSWORD)]:
        with pytest.raises(AccessError, match="^wrong user name or password$"):
            authenticate(root, name, password)


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("olivia", "officer", "short", "at least 10 characters"),
        ("olivia", "admin", PASSWORD, "role"),
        ("bad name", "officer", PASSWORD, "user name is"),
        ("-dash", "officer", PASSWORD, "user name is"),
        ("CLI", "auditor", PASSWORD, "reserved"),
    ],
)
def test_bad_users_are_refused_with_a_reason(name: str, role: str, password: str, message: str,
                                             ledger: Ledger) -> None:
    with pytest.raises(AccessError, match=message):
        add_user(ledger, name, role, password)
    assert not users_path(ledger.workspace.root).exists()


def test_an_existing_user_changes_only_with_replace(ledger: Ledger) -> None:
    add_user(ledger, "olivia", "officer", PASSWORD)
    with pytest.raises(AccessError, match="--replace"):
        add_user(ledger, "olivia", "auditor", PASSWORD)
    add_user(ledger, "aldo", "auditor", PASSWORD)
    add_user(ledger, "olivia", "auditor", "a new password", replace=True)
    root = ledger.workspace.root
    assert current_role(root, "olivia").role == "auditor"
    assert authenticate(root, "olivia", "a new password")
    with pytest.raises(AccessError):
        authenticate(root, "olivia", PASSWORD)
    assert set(load_users(root)) == {"olivia", "aldo"}


def test_roles_grant_what_issue_9_says() -> None:
    officer = User(name="olivia", role="officer", password_hash="x")
    auditor = User(name="aldo", role="auditor", password_hash="x")
    for permission in ("read", "file_request", "run_request", "verify_ledger", "download"):
        assert require(officer, permission) is officer
    for permission in ("read", "verify_ledger", "download"):
        assert require(auditor, permission) is auditor
    for permission in ("file_request", "run_request"):
        with pytest.raises(AccessError, match="an auditor may not"):
            require(auditor, permission)
    with pytest.raises(AccessError, match="sign in first"):
        require(None, "read")


def test_a_damaged_users_file_is_an_error_naming_it(ledger: Ledger) -> None:
    path = users_path(ledger.workspace.root)
    path.write_text('[users."olivia"]\nrole = "root"\npassword_hash = "x"\n')
    with pytest.raises(AccessError, match="users.toml is not a valid users file"):
        load_users(ledger.workspace.root)
    path.write_text("not = [toml")
    with pytest.raises(AccessError, match="not a valid users file"):
        authenticate(ledger.workspace.root, "olivia", PASSWORD)


def test_lethe_user_add_prompts_twice_and_stores_a_hash(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    runner = CliRunner()
    result = runner.invoke(app, ["user", "add", "olivia", "--role", "officer", "--workspace", str(workspace)],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "added officer 'olivia'" in result.output
    assert PASSWORD not in (workspace / "users.toml").read_text()
    assert authenticate(workspace, "olivia", PASSWORD).role == "officer"
    assert Ledger.open(workspace).log.events(["console.user_added"])[-1].actor == "cli"

    again = runner.invoke(app, ["user", "add", "olivia", "--role", "auditor", "--workspace", str(workspace)],
                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert again.exit_code == 2 and "--replace" in again.output
    short = runner.invoke(app, ["user", "add", "aldo", "--role", "auditor", "--workspace", str(workspace)],
                          input="short\nshort\n")
    assert short.exit_code == 2 and "at least 10 characters" in short.output
    mismatch = runner.invoke(app, ["user", "add", "aldo", "--role", "auditor", "--workspace", str(workspace)],
                             input=f"{PASSWORD}\nsomething else\n")
    assert mismatch.exit_code != 0 and "aldo" not in load_users(workspace)
