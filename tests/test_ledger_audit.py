"""What an auditor gets from the ledger: signed checkpoints, inclusion proofs, lineage — and faults named."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import duckdb
import pytest

from ledger import Ledger, LedgerIntegrityError, NoteVerifier, SignatureError, SignedCheckpoint, Signer
from verify.standalone import VerificationError, verify_bundle
from tests.conftest import build_workspace
from ui.services import Services
from unlearn.requests import ErasureRequest


@pytest.fixture(scope="module")
def erased(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("audit") / "ws"
    services: Services = build_workspace(root)
    subject = str(services.ledger.store.subjects_frame().iloc[3]["subject"])
    request_id = services.engine.file(ErasureRequest(subject=subject))
    services.engine.run(request_id)
    return {"root": root, "subject": subject, "request_id": request_id}


def _copy(erased: dict, tmp_path: Path) -> Ledger:
    shutil.copytree(erased["root"], tmp_path / "ws")
    return Ledger.open(tmp_path / "ws")


def test_every_request_leaves_a_signed_checkpoint_that_verifies(erased: dict) -> None:
    ledger = Ledger.open(erased["root"])
    notes = sorted((erased["root"] / "checkpoints").glob("*.note"))
    assert notes
    head = SignedCheckpoint.read(notes[-1])
    head.verify(ledger.workspace.signer.public_key)
    assert ledger.verify(head).ok


def test_inclusion_proof_of_a_request_verifies_offline_with_the_public_key(erased: dict) -> None:
    ledger = Ledger.open(erased["root"])
    bundle = ledger.prove_request(erased["request_id"])
    checkpoint = verify_bundle(bundle, NoteVerifier.for_key(ledger.workspace.signer.public_key))
    assert checkpoint.tree_size == len(ledger.log.events())
    assert {e["event"]["kind"] for e in bundle["events"]} >= {"request.received", "request.certified"}


def test_flipped_proof_node_or_edited_event_fails(erased: dict) -> None:
    ledger = Ledger.open(erased["root"])
    bundle = ledger.prove_request(erased["request_id"])
    forged = copy.deepcopy(bundle)
    node = forged["events"][0]["audit_path"][0]
    forged["events"][0]["audit_path"][0] = ("A" if node[0] != "A" else "B") + node[1:]
    with pytest.raises(VerificationError):
        verify_bundle(forged, NoteVerifier.for_key(ledger.workspace.signer.public_key))
    edited = copy.deepcopy(bundle)
    edited["events"][0]["event"]["payload"]["basis"] = "none"
    with pytest.raises(VerificationError, match="hash does not match"):
        verify_bundle(edited, NoteVerifier.for_key(ledger.workspace.signer.public_key))


def test_bundle_under_another_key_is_refused(erased: dict, tmp_path: Path) -> None:
    bundle = Ledger.open(erased["root"]).prove_request(erased["request_id"])
    with pytest.raises(VerificationError, match="another key"):
        verify_bundle(bundle, NoteVerifier.for_key(Signer.load_or_create(tmp_path / "k").public_key))


def test_rewriting_a_checkpointed_event_is_caught_even_with_a_rebuilt_chain(erased: dict, tmp_path: Path) -> None:
    """An attacker who edits an event and recomputes every later hash still cannot match the signed root."""
    from ledger._events import event_hash

    ledger = _copy(erased, tmp_path)
    con = duckdb.connect(str(ledger.log.path))
    rows = con.execute("SELECT seq, ts, kind, actor, payload FROM events ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, ts, kind, actor, payload in rows:
        if seq == 2:
            payload = payload.replace('"sisa"', '"retrain"') if '"sisa"' in payload else payload + " "
        digest = event_hash(prev, seq, ts, kind, actor, payload.encode())
        con.execute("UPDATE events SET payload = ?, prev_hash = ?, hash = ? WHERE seq = ?", [payload, prev, digest, seq])
        prev = digest
    con.close()
    result = ledger.verify()
    assert not result.ok and "root differs" in result.reason


def test_checkpoint_signed_by_another_key_is_refused(erased: dict, tmp_path: Path) -> None:
    ledger = _copy(erased, tmp_path)
    foreign = SignedCheckpoint.sign(Signer.load_or_create(tmp_path / "k"), 3, b"\0" * 32)
    result = ledger.verify(foreign)
    assert not result.ok and "another key" in result.reason


def test_subject_lineage_shows_shards_checkpoints_and_the_erasure(erased: dict) -> None:
    lineage = Ledger.open(erased["root"]).subject_lineage(erased["subject"])
    assert lineage["interaction_ids"] and not lineage["data_in_store"]
    assert lineage["placements"] and not any(p["in_training_set"] for p in lineage["placements"])
    assert [r["state"] for r in lineage["requests"]] == ["certified"]


def test_checkpoint_lineage_walks_the_parent_chain(erased: dict) -> None:
    ledger = Ledger.open(erased["root"])
    replaced = ledger.request(erased["request_id"]).require_payload("unlearned")["deployments"][0]["replaced"][0]
    chain = ledger.checkpoint_lineage(replaced["new"])
    assert [c.checkpoint_id for c in chain] == [replaced["new"], replaced["old"]]
    assert all(c.training_set_digest.startswith("sha256:") for c in chain)


def test_corrupted_ledger_file_is_a_clear_error(erased: dict, tmp_path: Path) -> None:
    from ledger import WorkspaceError

    shutil.copytree(erased["root"], tmp_path / "ws")
    path = tmp_path / "ws" / "ledger.duckdb"
    data = bytearray(path.read_bytes())
    data[:4096] = b"\xff" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(WorkspaceError, match="cannot open"):
        Ledger.open(tmp_path / "ws")


def test_missing_signing_key_is_an_error_not_a_new_key(erased: dict, tmp_path: Path) -> None:
    from ledger import WorkspaceError

    shutil.copytree(erased["root"], tmp_path / "ws")
    (tmp_path / "ws" / "keys" / "signing.key").unlink()
    ledger = Ledger.open(tmp_path / "ws")
    ledger.append("note.added", {"text": "a new tree to sign"})  # the head of the current tree is already signed
    with pytest.raises(WorkspaceError, match="signing key .* is missing"):
        ledger.checkpoint()
    assert not (tmp_path / "ws" / "keys" / "signing.key").exists()
