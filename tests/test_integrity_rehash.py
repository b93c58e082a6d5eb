"""Integrity covers what serves: `ledger verify` and `audit run` re-hash the live model files and the exported
checkpoint notes, so a swapped model or a rewritten ledger with re-signed heads is a named fault (exit 3)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ledger import Ledger, SignedCheckpoint
from ui.cli import app
from ui.services import Services, open_services
from unlearn.requests import ErasureRequest

runner = CliRunner()


def _live_artifacts(ledger: Ledger) -> list[Path]:
    deployment = ledger.serving_deployment_id()
    return [ledger.workspace.artifacts_dir / f"{c.artifact_sha256.removeprefix('sha256:')}.npz"
            for _, c in sorted(ledger.live_checkpoints(deployment).items())]


def _verify(root: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["ledger", "verify", "-w", str(root)])
    return result.exit_code, result.stderr


def test_a_clean_workspace_verifies_with_its_model_files(workspace: Services) -> None:
    assert _verify(workspace.ledger.workspace.root)[0] == 0


@pytest.mark.parametrize("tamper", ["bit flip", "missing", "swapped"])
def test_ledger_verify_names_a_tampered_live_model_file(workspace: Services, tamper: str) -> None:
    first, second = _live_artifacts(workspace.ledger)[:2]
    if tamper == "bit flip":
        data = bytearray(first.read_bytes())
        data[len(data) // 2] ^= 1
        first.write_bytes(bytes(data))
    elif tamper == "missing":
        first.unlink()
    else:
        shutil.copyfile(second, first)
    code, stderr = _verify(workspace.ledger.workspace.root)
    assert code == 3
    assert f"artifacts/{first.name}" in stderr
    assert ("is missing" if tamper == "missing" else "does not hash to its recorded sha256") in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_audit_run_fails_with_exit_3_on_a_swapped_model_file(workspace: Services) -> None:
    first, second = _live_artifacts(workspace.ledger)[:2]
    shutil.copyfile(second, first)
    result = runner.invoke(app, ["audit", "run", "-w", str(workspace.ledger.workspace.root), "--json"])
    assert result.exit_code == 3, result.output
    check = next(c for c in json.loads(result.stdout)["checks"] if c["name"] == "ledger integrity")
    assert not check["passed"] and any(first.name in finding for finding in check["findings"])


def _rewrite_events(ledger: Ledger) -> None:
    """The attack a holder of the signing key can make: edit an early event, recompute every later hash."""
    from ledger._events import event_hash

    con = duckdb.connect(str(ledger.log.path))
    rows = con.execute("SELECT seq, ts, kind, actor, payload FROM events ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, ts, kind, actor, payload in rows:
        if seq == 2:
            payload = payload + " "
        digest = event_hash(prev, seq, ts, kind, actor, payload.encode())
        con.execute("UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                    [payload, prev, digest, seq])
        prev = digest
    con.close()


def _checkpointed(workspace: Services) -> tuple[Ledger, Path]:
    root = workspace.ledger.workspace.root
    assert runner.invoke(app, ["ledger", "checkpoint", "-w", str(root)]).exit_code == 0
    ledger = Ledger.open(root)
    return ledger, next((root / "checkpoints").glob("*.note"))


def test_rewrite_with_deleted_stored_heads_is_caught_by_the_exported_note(workspace: Services) -> None:
    ledger, note = _checkpointed(workspace)
    _rewrite_events(ledger)
    with duckdb.connect(str(ledger.log.path)) as con:
        con.execute("DELETE FROM tree_heads")
    code, stderr = _verify(ledger.workspace.root)
    assert code == 3 and f"checkpoints/{note.name}" in stderr and "deleted" in stderr


def test_rewrite_with_re_signed_stored_heads_is_caught_by_the_exported_note(workspace: Services) -> None:
    ledger, note = _checkpointed(workspace)
    _rewrite_events(ledger)
    leaves = ledger.log.leaf_hashes()
    size = SignedCheckpoint.read(note).tree_size
    from ledger._merkle import root_hash

    forged = SignedCheckpoint.sign(ledger.workspace.signer, size, root_hash(leaves[:size]))
    ledger.log.save_tree_head(forged.to_note(), size)
    code, stderr = _verify(ledger.workspace.root)
    assert code == 3 and f"checkpoints/{note.name}" in stderr and "re-signed" in stderr


@pytest.mark.parametrize("tamper", ["edited", "re-signed line", "missing"])
def test_an_edited_or_missing_exported_note_is_named(workspace: Services, tamper: str) -> None:
    ledger, note = _checkpointed(workspace)
    text = note.read_text()
    if tamper == "missing":
        note.unlink()
    elif tamper == "edited":
        note.write_text(text.replace("time ", "time 1", 1))
    else:  # the text kept, the log's signature replaced by garbage of the same shape
        body, line = text[: text.rindex("— ")], text[text.rindex("— "):]
        flipped = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
        note.write_text(body + flipped)
    code, stderr = _verify(ledger.workspace.root)
    assert code == 3 and f"checkpoints/{note.name}" in stderr


def test_a_witness_cosigned_export_still_verifies(workspace: Services, tmp_path: Path) -> None:
    """Witnesses add signature lines to the exported note; the text the log signed is what is compared."""
    from ledger import Signer

    ledger, note = _checkpointed(workspace)
    witness = Signer.load_or_create(tmp_path / "witness")
    note.write_text(SignedCheckpoint.read(note).cosign(witness.private_key, "witness.example").to_note())
    assert _verify(ledger.workspace.root)[0] == 0


def test_an_audit_during_a_running_request_judges_it_in_progress(workspace: Services, tmp_path: Path) -> None:
    """The request's own process holds its lock while it verifies; the audit must not report it failed."""
    root = workspace.ledger.workspace.root
    policy = tmp_path / "deferred.yaml"
    policy.write_text("name: deferred\naudit:\n  defer_verification: true\n")
    services = open_services(root, policy)
    subject = str(services.ledger.store.subjects_frame().iloc[0]["subject"])
    request_id = services.engine.file(ErasureRequest(subject=subject))
    assert services.engine.run(request_id).state == "data_erased"
    script = (f"import time\nfrom ledger import Ledger\nwith Ledger.open({str(root)!r}).workspace.exclusive("
              f"{request_id!r}):\n    print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen(  # another process running the request: it holds the request's lock
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert holder.stdout.readline().strip() == "held"
        result = runner.invoke(app, ["audit", "run", "-w", str(root), "--policy", str(policy), "--json"])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout)["requests"] if r["request_id"] == request_id)
    assert (row["action"], row["passed"], row["state"]) == ("in progress", True, "data_erased")
