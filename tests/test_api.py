"""The erasure API a DSR tool calls (issue 22, points 2-3): OpenDSR intake, status, cancellation and discovery, with
the bearer token required; and `lethe serve` as a real process that files, runs and certifies a request, then
stops with every child process gone.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger import Ledger
from tests._processes import children_of, free_port, running
from ui._apikeys import add_key, revoke_key
from ui.api import create_app
from ui.services import Services
from ui.worker import Worker

STANDALONE = Path(__file__).resolve().parents[1] / "verify" / "standalone.py"


def recorded(services: Services) -> int:
    """Events other than the record of API calls themselves (each authenticated call adds one)."""
    return sum(e.kind != "api.called" for e in services.ledger.log.events())


def body(identity_value: str, identity_type: str = "email", kind: str = "erasure") -> dict[str, Any]:
    return {"subject_request_id": str(uuid.uuid4()), "subject_request_type": kind,
            "subject_identities": [{"identity_type": identity_type, "identity_value": identity_value,
                                    "identity_format": "raw"}],
            "submitted_time": "2026-12-01T10:00:00Z", "api_version": "2.0",
            "status_callback_urls": ["https://controller.example/opendsr/callbacks"]}


@pytest.fixture
def api(workspace: Services, tmp_path: Path) -> dict[str, Any]:
    subjects = workspace.ledger.store.subjects_frame()["subject"].astype(str).tolist()
    identities = tmp_path / "identities.csv"
    identities.write_text("identity_type,identity_value,subject\n"
                          + "".join(f"email,user{i}@example.com,{s}\n" for i, s in enumerate(subjects[:3])))
    app = create_app(workspace.ledger.workspace.root, identities)
    keys = {role: add_key(workspace.ledger, f"{role}-key", role, actor="test") for role in ("integration", "auditor")}
    client = TestClient(app)
    client.headers["Authorization"] = f"Bearer {keys['integration']}"
    auditor = TestClient(app)
    auditor.headers["Authorization"] = f"Bearer {keys['auditor']}"
    return {"client": client, "auditor": auditor, "services": workspace, "identities": identities,
            "subjects": subjects}


def test_every_call_needs_a_valid_key_and_says_nothing_more_without_one(api: dict[str, Any]) -> None:
    anonymous = TestClient(api["client"].app)
    before = len(api["services"].ledger.log.events())
    for response in (anonymous.get("/opendsr/v1/discovery"), anonymous.post("/opendsr/v1/requests", json={}),
                     anonymous.get("/opendsr/v1/discovery", headers={"Authorization": "Bearer lethe_wrong"}),
                     anonymous.get("/lethe/v1/checkpoint", headers={"Authorization": "lethe_no_bearer"})):
        assert response.status_code == 401 and response.json()["error"]["message"] == "unauthorised"
    assert len(api["services"].ledger.log.events()) == before  # nobody can grow the ledger without a key


def test_a_revoked_key_is_refused_at_its_next_call(api: dict[str, Any]) -> None:
    assert api["auditor"].get("/opendsr/v1/discovery").status_code == 200
    revoke_key(api["services"].ledger, "auditor-key", actor="test")
    assert api["auditor"].get("/opendsr/v1/discovery").status_code == 401


def test_an_auditor_key_reads_but_cannot_file_or_cancel(api: dict[str, Any]) -> None:
    sent = body("user0@example.com")
    assert api["auditor"].post("/opendsr/v1/requests", json=sent).status_code == 403
    assert api["client"].post("/opendsr/v1/requests", json=sent).status_code == 201
    assert api["auditor"].get(f"/opendsr/v1/requests/{sent['subject_request_id']}").status_code == 200
    assert api["auditor"].delete(f"/opendsr/v1/requests/{sent['subject_request_id']}").status_code == 403


def test_every_authenticated_call_is_a_ledger_event_with_the_keys_name(api: dict[str, Any]) -> None:
    api["client"].get("/opendsr/v1/discovery")
    api["auditor"].get("/lethe/v1/vkey")
    calls = [(e.actor, e.payload["method"], e.payload["path"], e.payload["status"])
             for e in api["services"].ledger.log.events(["api.called"])]
    assert calls[-2:] == [("api:integration-key", "GET", "/opendsr/v1/discovery", 200),
                          ("api:auditor-key", "GET", "/lethe/v1/vkey", 200)]


def test_an_oversized_body_is_refused_before_it_is_read(api: dict[str, Any]) -> None:
    huge = {**body("user0@example.com"), "padding": "x" * 70_000}
    response = api["client"].post("/opendsr/v1/requests", json=huge)
    assert response.status_code == 413


def test_discovery_names_erasure_and_the_mapped_identity_types(api: dict[str, Any]) -> None:
    found = api["client"].get("/opendsr/v1/discovery").json()
    assert found["supported_subject_request_types"] == ["erasure"]
    assert {i["identity_type"] for i in found["supported_identities"]} == {"email", "lethe_subject_id"}


def test_a_filed_request_is_queued_not_run_and_keeps_no_identity_in_the_ledger(api: dict[str, Any]) -> None:
    client, services = api["client"], api["services"]
    sent = body("user0@example.com")
    response = client.post("/opendsr/v1/requests", json=sent)
    assert response.status_code == 201, response.text
    filed = response.json()
    assert filed["subject_request_id"] == sent["subject_request_id"] and filed["expected_completion_time"]
    record = services.ledger.request(filed["lethe_request_id"])
    assert record.state == "received" and "request.queued" in [e.kind for e in record.history]
    status = client.get(f"/opendsr/v1/requests/{sent['subject_request_id']}").json()
    assert status["request_status"] == "pending"
    ledger_bytes = (services.ledger.workspace.root / "ledger.duckdb").read_bytes()
    assert b"user0@example.com" not in ledger_bytes  # the identity stays in the operator's map
    again = client.post("/opendsr/v1/requests", json=sent)
    assert again.status_code == 409


@pytest.mark.parametrize(("change", "status"), [
    ({"subject_request_type": "access"}, 400), ({"subject_identities": []}, 422),
    ({"subject_request_id": "../etc"}, 422), ({"submitted_time": "yesterday"}, 422),
])
def test_malformed_or_unsupported_requests_are_refused_with_an_opendsr_error(
        api: dict[str, Any], change: dict[str, Any], status: int) -> None:
    before = recorded(api["services"])
    response = api["client"].post("/opendsr/v1/requests", json={**body("user1@example.com"), **change})
    assert response.status_code == status and response.json()["error"]["message"]
    assert recorded(api["services"]) == before


def test_an_unknown_identity_is_refused_and_records_nothing(api: dict[str, Any]) -> None:
    before = recorded(api["services"])
    response = api["client"].post("/opendsr/v1/requests", json=body("nobody@example.com"))
    assert response.status_code == 404
    assert recorded(api["services"]) == before


def test_a_pending_request_can_be_cancelled_and_a_worker_never_runs_it(api: dict[str, Any]) -> None:
    client, services = api["client"], api["services"]
    sent = body("user1@example.com")
    filed = client.post("/opendsr/v1/requests", json=sent).json()
    cancelled = client.delete(f"/opendsr/v1/requests/{sent['subject_request_id']}")  # the integration key may
    assert cancelled.status_code == 202 and cancelled.json()["request_status"] == "cancelled"
    assert Worker(services, "test").once() == 0
    assert services.ledger.request(filed["lethe_request_id"]).state == "rejected"
    assert client.delete(f"/opendsr/v1/requests/{sent['subject_request_id']}").status_code == 409
    assert client.get("/opendsr/v1/requests/no-such-id").status_code == 404


def test_a_worker_completes_it_and_the_results_url_is_the_signed_certificate(
        api: dict[str, Any], tmp_path: Path) -> None:
    client, services = api["client"], api["services"]
    sent = body("user2@example.com")
    client.post("/opendsr/v1/requests", json=sent)
    assert Worker(services, "test").once() == 1
    status = client.get(f"/opendsr/v1/requests/{sent['subject_request_id']}").json()
    assert status["request_status"] == "completed", status
    certificate = tmp_path / "certificate.json"
    certificate.write_text(json.dumps(client.get(status["results_url"]).json()))
    vkey = tmp_path / "log.vkey"
    vkey.write_text(client.get("/opendsr/v1/public-key").text)
    checked = subprocess.run([sys.executable, str(STANDALONE), str(certificate), "--vkey", str(vkey)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    assert client.delete(f"/opendsr/v1/requests/{sent['subject_request_id']}").status_code == 409


def _call(method: str, url: str, token: str, payload: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_lethe_serve_files_runs_and_certifies_then_stops_every_child(api: dict[str, Any]) -> None:
    root = api["services"].ledger.workspace.root
    lethe_bin = str(Path(sys.executable).parent / "lethe")
    made = subprocess.run([lethe_bin, "apikey", "add", "fides", "-w", str(root)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert "fides" in subprocess.run([lethe_bin, "apikey", "list", "-w", str(root)], capture_output=True,
                                     text=True).stdout
    assert token.encode() not in (root / "api-keys.toml").read_bytes()  # only its hash is kept
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "lethe"), "serve", "-w", str(root), "--port",
                               str(port), "--identities", str(api["identities"])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/opendsr/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call("GET", f"{base}/discovery", token)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, server.stderr.read() if server.poll() else ""
            time.sleep(0.3)
        assert oct((root / "api-keys.toml").stat().st_mode & 0o777) == "0o600"
        sent = body("user0@example.com")
        assert _call("POST", f"{base}/requests", token, sent)[0] == 201
        deadline = time.monotonic() + 300
        while _call("GET", f"{base}/requests/{sent['subject_request_id']}", token)[1]["request_status"] != "completed":
            assert time.monotonic() < deadline
            time.sleep(1)
        children = children_of(server.pid)
        assert len(children) == 2  # one worker and the scheduler
    finally:
        server.send_signal(signal.SIGINT)
        _, log = server.communicate(timeout=90)
    assert server.returncode == 0, log
    assert "stopped: the API, the workers and the scheduler" in log
    assert not [pid for pid in children if running(pid)]
    assert Ledger.open(root).verify().ok


class _Receiver:
    """A controller's callback endpoint: a real HTTP server on localhost that keeps what it was sent."""

    def __init__(self, answer: int = 200) -> None:
        import http.server
        import threading

        received = self.received = []
        self.answer = answer
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.headers, data))  # case-insensitive, as HTTP headers are
                self.send_response(outer.answer)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/opendsr/callbacks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_every_status_change_is_called_back_signed_and_recorded(api: dict[str, Any]) -> None:
    from ui.callbacks import CallbackDispatcher

    client, services = api["client"], api["services"]
    receiver = _Receiver()
    try:
        sent = {**body("user0@example.com"), "status_callback_urls": [receiver.url]}
        client.post("/opendsr/v1/requests", json=sent)
        lines: list[str] = []
        dispatcher = CallbackDispatcher(lambda: services, "lethe.example", "acme", lines.append)
        assert dispatcher.once() == 1 and dispatcher.once() == 0  # "pending" once, not again
        Worker(services, "test").once()
        assert dispatcher.once() == 1
    finally:
        receiver.close()
    statuses = [json.loads(data)["request_status"] for _, data in receiver.received]
    assert statuses == ["pending", "completed"]
    public_key = services.ledger.workspace.signer.public_key
    for headers, data in receiver.received:
        public_key.verify(base64.b64decode(headers["X-OpenDSR-Signature"]), data)  # raises if not ours
        assert headers["X-OpenDSR-Processor-Domain"] == "lethe.example"
        callback = json.loads(data)
        assert callback["controller_id"] == "acme" and callback["status_callback_url"] == receiver.url
        assert callback["subject_request_id"] == sent["subject_request_id"]
    assert json.loads(receiver.received[-1][1])["results_url"].endswith("/certificate")
    recorded = [e.payload for e in services.ledger.log.events(["opendsr.callback"])]
    assert [(r["request_status"], r["delivered"], r["answer"]) for r in recorded] == [("pending", True, 200),
                                                                                    ("completed", True, 200)]


def test_a_failed_callback_is_recorded_and_retried_until_delivered(api: dict[str, Any]) -> None:
    from ui.callbacks import CallbackDispatcher

    client, services = api["client"], api["services"]
    receiver = _Receiver(answer=503)
    try:
        client.post("/opendsr/v1/requests", json={**body("user1@example.com"), "status_callback_urls": [receiver.url]})
        lines: list[str] = []
        dispatcher = CallbackDispatcher(lambda: services, "lethe.example", "acme", lines.append,
                                        first_retry_seconds=0.0)
        assert dispatcher.once() == 0 and "failed: 503" in lines[-1]
        receiver.answer = 200
        assert dispatcher.once() == 1
    finally:
        receiver.close()
    recorded = [(e.payload["answer"], e.payload["delivered"]) for e in services.ledger.log.events(["opendsr.callback"])]
    assert recorded == [(503, False), (200, True)]
    waiting = CallbackDispatcher(lambda: services, "d", "c", lines.append)  # default back-off: not retried at once
    assert waiting.due() == []


def test_lethes_own_endpoints_file_a_scoped_request_and_serve_its_evidence(api: dict[str, Any],
                                                                            tmp_path: Path) -> None:
    """A time-window request filed over /lethe/v1, run by a worker: its plan, signed report, certificate (JSON and
    PDF), the signed checkpoint and the verifier key are all served, and the certificate verifies offline."""
    client, services = api["client"], api["services"]
    subject = api["subjects"][0]
    filed = client.post("/lethe/v1/requests", json={
        "subject": subject, "scope": {"kind": "time_window", "start": "2000-01-01T00:00:00Z",
                                      "end": "2100-01-01T00:00:00Z"}})
    assert filed.status_code == 201, filed.text
    request_id = filed.json()["request_id"]
    assert client.get(f"/lethe/v1/requests/{request_id}/plan").json()["recorded"] is False
    assert client.get(f"/lethe/v1/requests/{request_id}/report").status_code == 404
    assert Worker(services, "test").once() == 1
    summary = api["auditor"].get(f"/lethe/v1/requests/{request_id}").json()
    assert summary["state"] == "certified" and "time window" in summary["scope"]
    assert client.get(f"/lethe/v1/requests/{request_id}/plan").json()["recorded"] is True
    assert client.get(f"/lethe/v1/requests/{request_id}/report").json()["payloadType"]
    assert client.get(f"/lethe/v1/requests/{request_id}/certificate.pdf").content.startswith(b"%PDF")
    certificate, note, vkey = (tmp_path / "cert.json", tmp_path / "head.note", tmp_path / "log.vkey")
    certificate.write_bytes(client.get(f"/lethe/v1/requests/{request_id}/certificate.json").content)
    note.write_text(client.get("/lethe/v1/checkpoint").text)
    vkey.write_text(client.get("/lethe/v1/vkey").text)
    from verify.standalone import open_checkpoint, parse_vkey

    from ledger._merkle import root_hash

    head = open_checkpoint(note.read_text(), parse_vkey(vkey.read_text()))  # signed by the log's key
    assert head.root == root_hash(services.ledger.log.leaf_hashes(head.tree_size))  # and the log's own tree
    checked = subprocess.run([sys.executable, str(STANDALONE), str(certificate), "--vkey", str(vkey)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_a_scoped_request_naming_no_known_subject_is_refused_with_the_reason(api: dict[str, Any]) -> None:
    response = api["client"].post("/lethe/v1/requests", json={"subject": "no-such-subject"})
    assert response.status_code == 422 and "subject" in response.json()["error"]["message"]
    assert api["client"].get("/lethe/v1/requests/req-000000000000").status_code == 404
