"""verify/standalone.py: the one-file verifier a regulator copies, run on a real certificate (issue 18, point 6).

It runs once in a fresh venv holding only ``cryptography``, from a temp folder that cannot see the project; the
tamper cases run it with the repo's interpreter (same file, copied out too) for speed.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger import Ledger, Signer, consistency_proof
from ledger._checkpoints import SignedCheckpoint
from ui.cli import app
from ui.services import open_services
from unlearn.requests import ErasureRequest
from verify import verify_certificate_file
from verify._report import CERTIFICATE_PAYLOAD_TYPE, save_envelope, sign_bytes

pytestmark = pytest.mark.slow

STANDALONE = Path(__file__).resolve().parents[1] / "verify" / "standalone.py"


@pytest.fixture(scope="module")
def certified(trained_workspace_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copy of the trained workspace with one request run through the engine, and the verifier copied out."""
    base = tmp_path_factory.mktemp("standalone")
    root = base / "ws"
    shutil.copytree(trained_workspace_template, root)
    services = open_services(root)
    subject = str(services.ledger.store.subjects_frame().iloc[0]["subject"])
    older = services.ledger.checkpoint()  # what an auditor fetched before this request (the ledger signs one per request)
    request_id = services.engine.file(ErasureRequest(subject=subject))
    record = services.engine.run(request_id)
    outside = base / "auditor"
    outside.mkdir()
    shutil.copy(STANDALONE, outside / "standalone.py")
    certificate = root / record.history[-1].payload["json_path"]
    return {"root": root, "certificate": certificate, "vkey": root / "keys" / "signing.vkey", "dir": outside,
            "signer": Signer.load_or_create(root / "keys"), "older": older}


@pytest.fixture(scope="session")
def crypto_only_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with only ``cryptography`` installed (created once per session)."""
    where = tmp_path_factory.mktemp("crypto-venv") / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(where)
    python = where / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    result = subprocess.run([str(python), "-m", "pip", "install", "-q", "cryptography"], capture_output=True, text=True)
    if result.returncode != 0:  # a skip here would let the one outsider's-eye test of the verifier vanish silently
        pytest.fail(f"cannot install cryptography into a fresh venv: {result.stderr.strip()[-300:]}")
    return python


def run(python: Path | str, certified: dict[str, Any], certificate: Path, *extra: str) -> tuple[int, str]:
    result = subprocess.run(
        [str(python), "standalone.py", str(certificate), "--vkey", str(certified["vkey"]), *extra],
        cwd=certified["dir"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, timeout=120,
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def envelope(certified: dict[str, Any]) -> dict[str, Any]:
    return json.loads(certified["certificate"].read_text())


def write(certified: dict[str, Any], data: dict[str, Any] | bytes, name: str) -> Path:
    path = certified["dir"] / name
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def resigned(certified: dict[str, Any], change: Any, name: str) -> Path:
    """The certificate with its statement changed and signed again by the workspace's own key: only the
    evidence inside (not the envelope signature) can catch it."""
    statement = json.loads(base64.b64decode(envelope(certified)["payload"]))
    change(statement["predicate"])
    body = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    return save_envelope(sign_bytes(body, CERTIFICATE_PAYLOAD_TYPE, certified["signer"]), certified["dir"] / name)


def test_a_fresh_venv_with_only_cryptography_verifies_a_real_certificate(
        certified: dict[str, Any], crypto_only_python: Path) -> None:
    check = subprocess.run([str(crypto_only_python), "-c", "import pydantic"], capture_output=True)
    assert check.returncode != 0, "the fresh venv must not hold the project's dependencies"
    code, output = run(crypto_only_python, certified, certified["certificate"])
    assert code == 0, output
    assert output.startswith("OK: certificate ") and "\n" not in output
    tampered = envelope(certified)
    tampered["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
    code, output = run(crypto_only_python, certified, write(certified, tampered, "zero-sig.json"))
    assert code == 1 and "altered" in output and "\n" not in output


def test_the_library_and_the_standalone_file_agree(certified: dict[str, Any]) -> None:
    assert run(sys.executable, certified, certified["certificate"])[0] == 0
    certificate = verify_certificate_file(certified["certificate"], certified["vkey"])
    assert certificate.certificate_id in run(sys.executable, certified, certified["certificate"])[1]


def test_the_checkpoint_of_the_same_size_is_accepted(certified: dict[str, Any]) -> None:
    note = json.loads(base64.b64decode(envelope(certified)["payload"]))["predicate"]["inclusion_proof"]["checkpoint"]
    path = write(certified, note.encode(), "same.note")
    code, output = run(sys.executable, certified, certified["certificate"], "--checkpoint", str(path))
    assert code == 0 and "consistent with your checkpoint" in output, output


def _flip_payload_byte(e: dict[str, Any]) -> None:
    body = bytearray(base64.b64decode(e["payload"]))
    body[len(body) // 2] ^= 0x01
    e["payload"] = base64.b64encode(bytes(body)).decode()


def _flip_signature(e: dict[str, Any]) -> None:
    sig = bytearray(base64.b64decode(e["signatures"][0]["sig"]))
    sig[10] ^= 0x80
    e["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()


@pytest.mark.parametrize(("change", "reason"), [
    (_flip_payload_byte, "altered"),
    (_flip_signature, "altered"),
    (lambda e: e.update(payload=e["payload"][:-4] + "!!!!"), "base64"),
    (lambda e: e.update(payloadType="application/json"), "altered"),
    (lambda e: e.update(signatures=[]), "no signature"),
    (lambda e: e.pop("payload"), "payload"),
])
def test_a_tampered_envelope_is_refused_with_a_reason(certified: dict[str, Any], change: Any, reason: str) -> None:
    tampered = envelope(certified)
    change(tampered)
    code, output = run(sys.executable, certified, write(certified, tampered, "tampered.json"))
    assert code == 1 and reason in output and "\n" not in output, output


def test_a_wrong_vkey_is_refused(certified: dict[str, Any], tmp_path: Path) -> None:
    other = Signer.load_or_create(tmp_path / "other-keys")
    (certified["dir"] / "other.vkey").write_text(other.vkey + "\n")
    result = subprocess.run([sys.executable, "standalone.py", str(certified["certificate"]), "--vkey", "other.vkey"],
                            cwd=certified["dir"], capture_output=True, text=True)
    assert result.returncode == 1 and "not signed by key" in result.stderr, result.stderr


def test_a_vkey_whose_key_id_does_not_match_is_refused(certified: dict[str, Any]) -> None:
    name, key_id, key = certified["vkey"].read_text().strip().split("+", 2)
    (certified["dir"] / "bad.vkey").write_text(f"{name}+{'0' * 8 if key_id != '0' * 8 else '1' * 8}+{key}\n")
    result = subprocess.run([sys.executable, "standalone.py", str(certified["certificate"]), "--vkey", "bad.vkey"],
                            cwd=certified["dir"], capture_output=True, text=True)
    assert result.returncode != 0 and "key ID" in result.stderr, result.stderr


def _note_tamper(index: int) -> Any:
    def change(note: str) -> str:
        data = bytearray(note.encode())
        data[index] ^= 0x01
        return data.decode("utf-8", errors="replace")
    return change


def test_a_tampered_checkpoint_note_is_refused(certified: dict[str, Any]) -> None:
    note = json.loads(base64.b64decode(envelope(certified)["payload"]))["predicate"]["inclusion_proof"]["checkpoint"]
    checkpoint = SignedCheckpoint.from_note(note)
    root_line = base64.b64encode(checkpoint.root).decode()
    altered = note.replace(root_line, base64.b64encode(bytes(32)).decode())
    code, output = run(sys.executable, certified, certified["certificate"], "--checkpoint",
                       str(write(certified, altered.encode(), "altered.note")))
    assert code == 1 and "altered" in output, output
    code, output = run(sys.executable, certified, resigned(
        certified, lambda p: p["inclusion_proof"].update(checkpoint=altered), "note-in-cert.json"))
    assert code == 1 and "altered" in output, output


@pytest.mark.parametrize(("change", "reason"), [
    (lambda p: p["inclusion_proof"]["events"][0]["audit_path"].__setitem__(
        0, base64.b64encode(bytes(32)).decode()), "root"),
    (lambda p: p["inclusion_proof"]["events"][0]["audit_path"].__setitem__(
        0, base64.b64encode(bytes(31)).decode()), "32 bytes"),
    (lambda p: p["inclusion_proof"]["events"][0]["audit_path"].pop(), "too short"),
    (lambda p: p["inclusion_proof"]["events"][0].update(index=p["inclusion_proof"]["events"][0]["index"] + 1), ""),
    (lambda p: p["inclusion_proof"]["events"][0]["event"]["payload"].update(extra=1), "does not match its content"),
    (lambda p: p["inclusion_proof"]["events"][0]["event"].update(actor="someone"), "does not match its content"),
    (lambda p: p["ledger_checkpoint"].update(tree_size=p["ledger_checkpoint"]["tree_size"] + 1), "another checkpoint"),
    (lambda p: p.update(request_id="req-other"), "another request"),
    (lambda p: p["inclusion_proof"].update(events=[e for e in p["inclusion_proof"]["events"]
                                                  if e["event"]["kind"] != "request.verified"]), "verification"),
    (lambda p: p.update(inclusion_proof=None), "no ledger inclusion proof"),
    (lambda p: p.update(key_fingerprint="0" * 64), "another signing key"),
    (lambda p: p.update(report_digest="0" * 64), "subject"),
])
def test_tampered_evidence_signed_again_is_refused(certified: dict[str, Any], change: Any, reason: str) -> None:
    code, output = run(sys.executable, certified, resigned(certified, change, "resigned.json"))
    assert code == 1 and reason in output and "\n" not in output, output


def test_a_missing_witness_cosignature_is_refused(certified: dict[str, Any], tmp_path: Path) -> None:
    witness = Signer.load_or_create(tmp_path / "witness-keys")
    (certified["dir"] / "witness.vkey").write_text(witness.vkey + "\n")
    code, output = run(sys.executable, certified, certified["certificate"], "--witness-vkey",
                       str(certified["dir"] / "witness.vkey"))
    assert code == 1 and "witness" in output, output


# --- point 4: an auditor's OLDER checkpoint, proven consistent with the certificate's (issue 18) ----------------


def _older_notes(certified: dict[str, Any]) -> tuple[Path, Path, int]:
    older: SignedCheckpoint = certified["older"]
    head = json.loads(base64.b64decode(envelope(certified)["payload"]))["predicate"]["ledger_checkpoint"]
    assert 0 < older.tree_size < head["tree_size"]
    good = write(certified, older.to_note().encode(), "older.note")
    forked = SignedCheckpoint.sign(certified["signer"], older.tree_size, bytes(range(32)))
    return good, write(certified, forked.to_note().encode(), "forked.note"), head["tree_size"]


def _proof_file(certified: dict[str, Any], size1: int, size2: int, name: str) -> Path:
    leaves = Ledger.open(certified["root"]).log.leaf_hashes(size2)
    lines = "".join(base64.b64encode(node).decode() + "\n" for node in consistency_proof(size1, leaves))
    return write(certified, lines.encode(), name)


def test_an_older_consistent_checkpoint_is_accepted_and_a_forked_one_refused_standalone(
        certified: dict[str, Any]) -> None:
    good, forked, size = _older_notes(certified)
    proof = _proof_file(certified, certified["older"].tree_size, size, "consistency.txt")
    code, output = run(sys.executable, certified, certified["certificate"], "--checkpoint", str(good),
                       "--consistency-proof", str(proof))
    assert code == 0 and "consistent with your checkpoint" in output, output
    code, output = run(sys.executable, certified, certified["certificate"], "--checkpoint", str(forked),
                       "--consistency-proof", str(proof))
    assert code == 1 and "fork" in output, output
    code, output = run(sys.executable, certified, certified["certificate"], "--checkpoint", str(good))
    assert code == 1 and "consistency proof" in output, output  # no proof: refused, never assumed


def test_lethe_certificate_verify_proves_an_older_checkpoint_from_the_workspace(certified: dict[str, Any]) -> None:
    good, forked, _ = _older_notes(certified)
    runner = CliRunner()
    base = ["certificate", "verify", str(certified["certificate"]), "--workspace", str(certified["root"])]
    result = runner.invoke(app, [*base, "--checkpoint", str(good)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, [*base, "--checkpoint", str(forked)])
    assert result.exit_code == 3 and "fork" in result.output, result.output
    with pytest.raises(Exception, match="fork"):
        verify_certificate_file(certified["certificate"], certified["vkey"], SignedCheckpoint.read(forked),
                                Ledger.open(certified["root"]).log.leaf_hashes)
