"""Witnesses (issue 18, point 5): an auditor's key cosigns the ledger's checkpoints only while the log grows
append-only, and a certificate checked with ``--witness-vkey`` holds only if its tree is a prefix of a witnessed one.

The witness runs as a real ``lethe ledger witness`` process; the attacker holds the workspace's signing key (a
copy of the workspace taken before a request) and writes another history with it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger import Ledger, LedgerIntegrityError, SignedCheckpoint, consistency_proof
from ui.services import open_services
from unlearn.requests import ErasureRequest
from verify.standalone import LaterCheckpoint, parse_checkpoint, parse_vkey, verify_certificate_bytes
from verify.witness import Witness, merge_cosignatures

pytestmark = pytest.mark.slow

STANDALONE = Path(__file__).resolve().parents[1] / "verify" / "standalone.py"


def lethe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, timeout=300)


def standalone(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(STANDALONE), *args], capture_output=True, text=True, timeout=120)


def fork_to(root: Path, size: int) -> None:
    """As an attacker with the workspace's key: append events of another history until the log has ``size``."""
    ledger = Ledger.open(root)
    while len(ledger.log.leaf_hashes()) < size:
        ledger.append("note.forged", {"text": "another history"}, actor="attacker")


@pytest.fixture(scope="module")
def witnessed(trained_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A workspace witnessed before and after one certified request, and a copy taken before the request."""
    base = tmp_path_factory.mktemp("witness")
    root, before, state = base / "ws", base / "before", base / "witness-state"
    shutil.copytree(trained_workspace_template, root)
    first = lethe("ledger", "witness", "-w", str(root), "--state", str(state), "--name", "witness.example/w1")
    assert first.returncode == 0, first.stderr
    shutil.copytree(root, before)
    services = open_services(root)
    subject = str(services.ledger.store.subjects_frame().iloc[0]["subject"])
    record = services.engine.run(services.engine.file(ErasureRequest(subject=subject)))
    second = lethe("ledger", "witness", "-w", str(root), "--state", str(state))
    assert second.returncode == 0, second.stderr
    certificate = root / record.history[-1].payload["json_path"]
    size = len(Ledger.open(root).log.leaf_hashes())
    return {"root": root, "before": before, "state": state, "certificate": certificate, "size": size,
            "first_output": first.stderr, "second_output": second.stderr, "base": base}


def test_the_witness_cosigns_a_growing_log_and_writes_its_cosignature_into_the_exported_note(
        witnessed: dict[str, Any]) -> None:
    assert "first cosignature" in witnessed["first_output"]
    assert "extends size" in witnessed["second_output"]
    note = (witnessed["root"] / "checkpoints" / f"{witnessed['size']}.note").read_text()
    witness = parse_vkey((witnessed["state"] / "witness.vkey").read_text())
    assert witness.key_type == b"\x04"  # a C2SP cosigner key, not a note key
    assert parse_checkpoint(note).signed_by(witness)


def test_a_certificate_verifies_with_the_witness_key_through_a_later_witnessed_checkpoint(
        witnessed: dict[str, Any]) -> None:
    vkey = str(witnessed["state"] / "witness.vkey")
    result = lethe("certificate", "verify", str(witnessed["certificate"]), "-w", str(witnessed["root"]),
                   "--witness-vkey", vkey)
    assert result.returncode == 0, result.stderr
    assert "1 witness(es) cosigned it or a later checkpoint" in result.stdout


def test_the_standalone_verifier_accepts_the_witnessed_checkpoint_with_the_logs_consistency_proof(
        witnessed: dict[str, Any], tmp_path: Path) -> None:
    cert_size = parse_checkpoint(_certificate_note(witnessed["certificate"])).tree_size
    proof = tmp_path / "proof"
    made = lethe("ledger", "consistency", "-w", str(witnessed["root"]), "--from", str(cert_size),
                 "--to", str(witnessed["size"]), "--out", str(proof))
    assert made.returncode == 0, made.stderr
    args = [str(witnessed["certificate"]), "--vkey", str(witnessed["root"] / "keys" / "signing.vkey"),
            "--witness-vkey", str(witnessed["state"] / "witness.vkey"),
            "--witnessed-checkpoint", str(witnessed["root"] / "checkpoints" / f"{witnessed['size']}.note")]
    accepted = standalone(*args, "--witnessed-proof", str(proof))
    assert accepted.returncode == 0, accepted.stderr
    assert "cosigned by 1 witness" in accepted.stdout
    without_proof = standalone(*args)
    assert without_proof.returncode == 1 and "lethe ledger consistency" in without_proof.stderr


def test_without_a_witnessed_checkpoint_the_witness_requirement_fails(witnessed: dict[str, Any]) -> None:
    result = standalone(str(witnessed["certificate"]), "--vkey", str(witnessed["root"] / "keys" / "signing.vkey"),
                        "--witness-vkey", str(witnessed["state"] / "witness.vkey"))
    assert result.returncode == 1 and "no cosignature by witness witness.example/w1" in result.stderr


def test_the_witness_refuses_a_fork_written_with_the_workspace_key_and_keeps_it_as_evidence(
        witnessed: dict[str, Any], tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(witnessed["state"], state)
    fork = tmp_path / "fork"
    shutil.copytree(witnessed["before"], fork)
    fork_to(fork, witnessed["size"] + 3)
    latest = next((state / "logs").glob("*/latest.note")).read_bytes()
    result = lethe("ledger", "witness", "-w", str(fork), "--state", str(state))
    assert result.returncode == 3, result.stderr
    assert "fork" in result.stderr and result.stderr.count("\n") == 1
    assert next((state / "logs").glob("*/latest.note")).read_bytes() == latest  # nothing cosigned
    assert list((state / "logs").glob("*/refused/*.note"))


def test_the_witness_refuses_a_rolled_back_log(witnessed: dict[str, Any], tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(witnessed["state"], state)
    result = lethe("ledger", "witness", "-w", str(witnessed["before"]), "--state", str(state))
    assert result.returncode == 3 and "rollback" in result.stderr, result.stderr


def test_the_witness_refuses_a_split_view_two_roots_at_one_size(witnessed: dict[str, Any], tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(witnessed["state"], state)
    witness = Witness.open(state)
    ledger = Ledger.open(witnessed["root"])
    log = parse_vkey((witnessed["root"] / "keys" / "signing.vkey").read_text())
    other = SignedCheckpoint.sign(ledger.workspace.signer, witnessed["size"], hashlib.sha256(b"other").digest())
    with pytest.raises(LedgerIntegrityError, match="split view"):
        witness.cosign(other.to_note(), log, [])


def test_the_witness_refuses_a_checkpoint_not_signed_by_the_pinned_log_key(
        witnessed: dict[str, Any], tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(witnessed["state"], state)
    impostor = tmp_path / "impostor.vkey"
    other = Witness.open(tmp_path / "other", "other.example/log")  # any Ed25519 key, as a note key of the same name
    log = parse_vkey((witnessed["root"] / "keys" / "signing.vkey").read_text())
    impostor.write_text(_note_vkey(log.name, other.verifier.key) + "\n")
    result = lethe("ledger", "witness", "-w", str(witnessed["root"]), "--state", str(state),
                   "--log-vkey", str(impostor))
    assert result.returncode == 3, result.stderr


def test_a_certificate_from_a_forked_log_fails_against_a_checkpoint_the_witness_cosigned(
        witnessed: dict[str, Any], tmp_path: Path) -> None:
    """A split view: the witness saw (and cosigned) another history than the one the certificate is proven in."""
    fork = tmp_path / "fork"
    shutil.copytree(witnessed["before"], fork)
    fork_to(fork, witnessed["size"] + 2)
    state = tmp_path / "state"
    assert lethe("ledger", "witness", "-w", str(fork), "--state", str(state), "--name",
                 "witness.example/w2").returncode == 0
    fork_ledger = Ledger.open(fork)
    head = fork_ledger.checkpoint()
    note = (fork / "checkpoints" / f"{head.tree_size}.note").read_bytes()
    cert_size = parse_checkpoint(_certificate_note(witnessed["certificate"])).tree_size
    proof = consistency_proof(cert_size, fork_ledger.log.leaf_hashes(head.tree_size))
    log = parse_vkey((witnessed["root"] / "keys" / "signing.vkey").read_text())
    witness = parse_vkey((state / "witness.vkey").read_text())
    with pytest.raises(Exception, match="split view"):
        verify_certificate_bytes(witnessed["certificate"].read_bytes(), log, witness_vkeys=(witness,),
                                 witnessed=LaterCheckpoint(note, proof))


def test_a_changed_byte_in_the_cosignature_is_refused(witnessed: dict[str, Any], tmp_path: Path) -> None:
    note = (witnessed["root"] / "checkpoints" / f"{witnessed['size']}.note").read_text()
    line = note.rstrip("\n").split("\n")[-1]
    name, encoded = line[2:].split(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    tampered = note.replace(encoded, base64.b64encode(bytes(raw)).decode())
    witness = parse_vkey((witnessed["state"] / "witness.vkey").read_text())
    with pytest.raises(Exception, match="altered"):
        parse_checkpoint(tampered).signed_by(witness)


def test_the_cosignature_follows_c2sp_tlog_cosignature_v1_byte_for_byte(witnessed: dict[str, Any]) -> None:
    """Checked as the spec writes it, with nothing of Lethe: key ID SHA-256(name || LF || 0x04 || key)[:4], the line
    base64(key ID || u64 big-endian time || Ed25519 over "cosignature/v1\\ntime <t>\\n" || checkpoint text)."""
    note = (witnessed["root"] / "checkpoints" / f"{witnessed['size']}.note").read_text()
    text, signatures = note.split("\n\n", 1)
    name, vkey_hash, vkey_b64 = (witnessed["state"] / "witness.vkey").read_text().strip().split("+", 2)
    material = base64.b64decode(vkey_b64)
    assert material[0] == 4
    assert hashlib.sha256(name.encode() + b"\n" + material).digest()[:4].hex() == vkey_hash
    line = next(line for line in signatures.splitlines() if line.startswith(f"\u2014 {name} "))
    raw = base64.b64decode(line.split(" ")[2])
    assert raw[:4].hex() == vkey_hash and len(raw) == 4 + 8 + 64
    timestamp = int.from_bytes(raw[4:12], "big")
    Ed25519PublicKey.from_public_bytes(material[1:]).verify(
        raw[12:], f"cosignature/v1\ntime {timestamp}\n".encode() + (text + "\n").encode())


def test_the_specs_example_cosignature_line_parses_to_its_key_id_and_time() -> None:
    """c2sp.org/tlog-cosignature's example line: key ID 8d66cf3f, time 1679315147 (its message's ``time`` line)."""
    example = ("example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
               "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGz"
               "Gku9nTo+zyWE+xeMcTOAYQ8=\n"
               "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1"
               "nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n")
    checkpoint = parse_checkpoint(example)
    name, key_id, signature = checkpoint.signatures[1]
    assert (name, key_id.hex(), int.from_bytes(signature[:8], "big")) == ("witness.example.com/w1", "8d66cf3f",
                                                                         1679315147)


def test_merging_keeps_every_witness_line_and_refuses_another_checkpoint(witnessed: dict[str, Any]) -> None:
    note = (witnessed["root"] / "checkpoints" / f"{witnessed['size']}.note").read_text()
    log_only = note.split("\n\n")[0] + "\n\n" + note.split("\n\n")[1].splitlines()[0] + "\n"
    assert merge_cosignatures(log_only, note) == note
    other = (witnessed["before"] / "checkpoints").glob("*.note")
    with pytest.raises(LedgerIntegrityError):
        merge_cosignatures(next(iter(sorted(other))).read_text(), note)


def test_an_existing_witness_keeps_its_name(witnessed: dict[str, Any], tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(witnessed["state"], state)
    with pytest.raises(Exception, match="holds witness"):
        Witness.open(state, "someone.else/w9")


def _certificate_note(path: Path) -> str:
    payload = json.loads(base64.b64decode(json.loads(path.read_text())["payload"]))
    return payload["predicate"]["inclusion_proof"]["checkpoint"]


def _note_vkey(name: str, key: Ed25519PublicKey) -> str:
    from verify.standalone import note_key_hash, raw_key

    material = base64.b64encode(b"\x01" + raw_key(key)).decode()
    return f"{name}+{note_key_hash(name, key).hex()}+{material}"
