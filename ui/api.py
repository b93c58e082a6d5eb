"""The HTTP API a DSR tool calls (issue 22, point 3): OpenDSR 2.0 intake, status, cancellation and discovery for
erasure requests, served by ``lethe serve``; documented at ``/docs`` (OpenAPI).

Privacy teams already run a tool (Fides, OneTrust, Transcend) that receives the subject's request, verifies their
identity and tracks the deadline; none of them touches the model. Lethe is the processor they call:

- ``POST /opendsr/v1/requests`` files an erasure and queues it for a worker (``ui.worker``): nothing runs in the
  handler. The request's identities are mapped to a Lethe subject id through the operator's identity map (a CSV
  ``identity_type,identity_value,subject``); the ledger records the subject's keyed pseudonym only, never the
  identity, and the map is read from its file, not copied anywhere.
- ``GET /opendsr/v1/requests/{id}``: ``pending`` (filed or queued), ``in_progress`` (a step recorded, or failed and
  awaiting a retry: its deadline still runs), ``completed`` (certified; ``results_url`` is the signed certificate),
  ``cancelled`` (rejected, or cancelled by the controller); ``expected_completion_time`` is the GDPR deadline.
- ``DELETE /opendsr/v1/requests/{id}``: cancels a request no worker has started (409 otherwise).
- ``GET /opendsr/v1/discovery``: the request types and identity types this processor accepts.

Lethe's own endpoints (``/lethe/v1``) cover what OpenDSR has no word for: a scoped request (listed items, a time
window, a batch), its plan, signed report and certificate (JSON, PDF), the latest signed checkpoint, the verifier
key, and the signed audit reports.

Every call needs ``Authorization: Bearer <key>``, a key made by ``lethe apikey add NAME --role ROLE``
(``ui._apikeys``: integration, auditor, officer); a missing or wrong key is 401 with no detail, a role without the
right 403; every authenticated call is a ledger event with the key's name as actor; bodies are limited to 64 KiB
(413) and validated (422, naming the field). Where this deviates from OpenDSR 2.0 and why: responses are not
signed with an X.509 certificate; what Lethe proves is proven by the Ed25519-signed certificate of each erasure
(``results_url``), checkable offline with ``/opendsr/v1/public-key``.
"""

from __future__ import annotations

import base64
import csv
import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger import LetheError, RequestRecord
from ui._apikeys import ApiKey, authenticate
from ui._queries import request_summary
from ui.services import Services, open_services
from ui.worker import queue_request
from unlearn.requests import BatchErasureRequest, ErasureRequest
from unlearn.workflow import workflow_status
from verify import AUDIT_COMPLETED

API_VERSION = "2.0"
MAX_BODY_BYTES = 64 * 1024
SERVICES_TTL_SECONDS = 5.0
API_CALLED = "api.called"  # every authenticated call: method, path, answer; the key's name is the actor
OPENDSR_LINKED = "opendsr.linked"  # a controller's subject_request_id (and callback urls) -> a Lethe request


class Identity(BaseModel):
    """OpenDSR §5.3: how the controller knows the subject."""

    model_config = ConfigDict(extra="ignore")
    identity_type: str = Field(min_length=1, max_length=64)
    identity_value: str = Field(min_length=1, max_length=512)
    identity_format: str = Field(default="raw", max_length=32)


class OpenDsrRequest(BaseModel):
    """OpenDSR §7.1: the body of ``POST /requests`` (unknown fields, e.g. extensions, are ignored)."""

    model_config = ConfigDict(extra="ignore")
    subject_request_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    subject_request_type: str
    subject_identities: list[Identity] = Field(min_length=1)
    submitted_time: datetime
    api_version: str = API_VERSION
    status_callback_urls: list[str] = Field(default_factory=list, max_length=8)


class IdentityMap:
    """The operator's ``identity_type,identity_value,subject`` CSV, read at each lookup (so edits apply at once)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def rows(self) -> list[dict[str, str]]:
        if self.path is None:
            return []
        with self.path.open(newline="", encoding="utf-8") as handle:
            return [row for row in csv.DictReader(handle)]

    def types(self) -> list[str]:
        return sorted({row["identity_type"] for row in self.rows()} | {"lethe_subject_id"})

    def subject(self, identities: list[Identity]) -> str | None:
        """The subject the identities name: the map's entry, or a ``lethe_subject_id`` identity given directly."""
        mapped = {(row["identity_type"], row["identity_value"]): row["subject"] for row in self.rows()}
        for identity in identities:
            if identity.identity_type == "lethe_subject_id":
                return identity.identity_value
            if (identity.identity_type, identity.identity_value) in mapped:
                return mapped[(identity.identity_type, identity.identity_value)]
        return None


def opendsr_error(status: int, code: int, message: str) -> HTTPException:
    """OpenDSR §7.5: ``{"error": {"code", "message", "errors": [...]}}``."""
    return HTTPException(status, {"error": {"code": code, "message": message,
                                            "errors": [{"domain": "Lethe", "reason": "invalid", "message": message}]}})


def request_status(services: Services, record: RequestRecord, probe_lock: bool = True) -> str:
    """The OpenDSR status of a request. A request not yet planned is ``pending`` unless (``probe_lock``) a worker
    holds it right now; callbacks leave the lock alone (probing it could make a worker skip the request)."""
    if record.state == "certified":
        return "completed"
    if record.state == "rejected":
        return "cancelled"
    running = probe_lock and services.ledger.workspace.held(record.request_id)
    return "pending" if record.state in ("received", "validated") and not running else "in_progress"


def create_app(workspace: Path, identities: Path | None = None, controller_id: str = "controller") -> FastAPI:
    """The API of one workspace; ``controller_id`` is the controller's identity in this processor (OpenDSR)."""
    workspace = Path(workspace)
    app = FastAPI(title="Lethe erasure API (OpenDSR 2.0)", version=API_VERSION,
                  description=__doc__.split("\n\n")[1] if __doc__ else None)
    identity_map = IdentityMap(identities)

    def caller(action: str) -> Any:
        """A dependency: the calling key, which must hold ``action``; 401 without a valid key, 403 without the role."""
        def check(request: Request, authorization: Annotated[str | None, Header()] = None) -> ApiKey:
            presented = (authorization or "").removeprefix("Bearer ").strip()
            key = authenticate(workspace, presented) if presented else None
            if key is None:
                raise opendsr_error(401, 401, "unauthorised")
            request.state.key = key
            if not key.may(action):
                raise opendsr_error(403, 403, f"a key with role {key.role} may not {action}")
            return key
        return Depends(check)

    opened: list[tuple[float, Services]] = []

    def services() -> Services:
        """The workspace's services, re-opened at most every few seconds (opening reads the policy in force and
        builds the engine: ~0.1-0.2 s, which every call paid); a policy activated meanwhile applies within that."""
        if not opened or time.monotonic() - opened[-1][0] > SERVICES_TTL_SECONDS:
            opened[:] = [(time.monotonic(), open_services(workspace))]
        return opened[-1][1]

    @app.middleware("http")
    async def limit_and_record(request: Request, call_next: Any) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return JSONResponse(opendsr_error(413, 413, f"the body exceeds {MAX_BODY_BYTES} bytes").detail,
                                status_code=413)
        response = await call_next(request)
        key = getattr(request.state, "key", None)
        if key is not None:  # unauthenticated calls are not recorded: they would let anyone grow the ledger
            services().ledger.append(API_CALLED, {"method": request.method, "path": request.url.path,
                                                  "status": response.status_code}, actor=f"api:{key.name}")
        return response

    @app.exception_handler(HTTPException)
    async def as_opendsr(_: Request, exc: HTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": {"code": exc.status_code,
                                                                          "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        message = f"{'.'.join(str(p) for p in first['loc'][1:])}: {first['msg']}"
        return JSONResponse(opendsr_error(422, 422, message).detail, status_code=422)

    # -- OpenDSR ----------------------------------------------------------------------------------------------
    @app.get("/opendsr/v1/discovery", dependencies=[caller("read")])
    def discovery() -> dict[str, Any]:
        return {"api_version": API_VERSION, "supported_subject_request_types": ["erasure"],
                "supported_identities": [{"identity_type": kind, "identity_format": "raw"}
                                         for kind in identity_map.types()],
                "processor_public_key_url": "/opendsr/v1/public-key"}

    @app.get("/opendsr/v1/public-key", dependencies=[caller("read")], response_class=PlainTextResponse)
    def public_key() -> str:
        return (workspace / "keys" / "signing.vkey").read_text(encoding="utf-8")

    @app.post("/opendsr/v1/requests", status_code=201)
    def file_opendsr(body: OpenDsrRequest, key: ApiKey = caller("file")) -> dict[str, Any]:
        if body.subject_request_type != "erasure":
            raise opendsr_error(400, 400, f"subject_request_type {body.subject_request_type!r} is not supported "
                                          "(this processor erases: 'erasure')")
        svc = services()
        if _linked(svc, body.subject_request_id) is not None:
            raise opendsr_error(409, 409, f"subject_request_id {body.subject_request_id} was already filed")
        subject = identity_map.subject(body.subject_identities)
        if subject is None:
            raise opendsr_error(404, 404, "none of the subject_identities is known to this processor")
        request_id = _file_and_queue(svc, ErasureRequest(subject=subject), f"api:{key.name}", {
            "subject_request_id": body.subject_request_id, "status_callback_urls": body.status_callback_urls})
        record = svc.engine.require(request_id)
        encoded = base64.b64encode(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).decode()
        return {"controller_id": controller_id, "subject_request_id": body.subject_request_id,
                "received_time": record.received_at, "expected_completion_time": deadline_text(svc, record),
                "encoded_request": encoded, "api_version": API_VERSION, "lethe_request_id": request_id}

    @app.get("/opendsr/v1/requests/{subject_request_id}", dependencies=[caller("read")])
    def status(subject_request_id: str) -> dict[str, Any]:
        svc = services()
        record = _require(svc, subject_request_id)
        body = {"controller_id": controller_id, "subject_request_id": subject_request_id,
                "request_status": request_status(svc, record),
                "expected_completion_time": deadline_text(svc, record), "api_version": API_VERSION,
                "lethe_request_id": record.request_id, "lethe_state": record.state}
        if record.state == "certified":
            body["results_url"] = f"/opendsr/v1/requests/{subject_request_id}/certificate"
        return body

    @app.get("/opendsr/v1/requests/{subject_request_id}/certificate", dependencies=[caller("read")])
    def opendsr_certificate(subject_request_id: str) -> JSONResponse:
        svc = services()
        return JSONResponse(json.loads(_certificate_file(svc, _require(svc, subject_request_id), "json_path")
                                       .read_text(encoding="utf-8")))

    @app.delete("/opendsr/v1/requests/{subject_request_id}", status_code=202)
    def cancel(subject_request_id: str, key: ApiKey = caller("cancel")) -> dict[str, Any]:
        svc = services()
        record = _require(svc, subject_request_id)
        try:
            with svc.ledger.workspace.exclusive(record.request_id):  # no worker can take it meanwhile
                record = svc.engine.require(record.request_id)
                if record.state not in ("received", "validated"):
                    raise opendsr_error(409, 409, f"the request is {request_status(svc, record)} "
                                                  f"({record.state}); only a pending request can be cancelled")
                svc.ledger.append("request.rejected", {"request_id": record.request_id,
                                                       "reason": "cancelled by the controller (OpenDSR)"},
                                  actor=f"api:{key.name}")
        except LetheError:
            raise opendsr_error(409, 409, "a worker is running the request; it can no longer be cancelled") from None
        received = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"controller_id": controller_id, "subject_request_id": subject_request_id, "received_time": received,
                "request_status": "cancelled", "api_version": API_VERSION}

    # -- Lethe's own ------------------------------------------------------------------------------------------
    @app.post("/lethe/v1/requests", status_code=201)
    def file_scoped(body: ErasureRequest | BatchErasureRequest, key: ApiKey = caller("file")) -> dict[str, Any]:
        """A whole subject, listed items (``scope.kind: interactions``), a time window or a batch; queued."""
        svc = services()
        request_id = _file_and_queue(svc, body, f"api:{key.name}")
        return request_summary(svc.ledger, svc.policy, request_id)

    @app.get("/lethe/v1/requests/{request_id}", dependencies=[caller("read")])
    def lethe_request(request_id: str) -> dict[str, Any]:
        svc = services()
        _known(svc, request_id)
        return request_summary(svc.ledger, svc.policy, request_id)

    @app.get("/lethe/v1/requests/{request_id}/plan", dependencies=[caller("read")])
    def plan(request_id: str) -> dict[str, Any]:
        svc = services()
        record = _known(svc, request_id)
        planned = record.payload("planned")
        if planned is not None:
            return {"recorded": True, "deployments": planned["deployments"]}
        return {"recorded": False, "deployments": [p.model_dump(mode="json") for p in svc.engine.preview_request(record)]}

    @app.get("/lethe/v1/requests/{request_id}/report", dependencies=[caller("read")])
    def report(request_id: str) -> JSONResponse:
        svc = services()
        verified = _known(svc, request_id).payload("verified")
        if verified is None:
            raise opendsr_error(404, 404, "the request has no verification report yet")
        return JSONResponse(json.loads((workspace / verified["report_path"]).read_text(encoding="utf-8")))

    @app.get("/lethe/v1/requests/{request_id}/certificate.json", dependencies=[caller("read")])
    def certificate_json(request_id: str) -> FileResponse:
        svc = services()
        return FileResponse(_certificate_file(svc, _known(svc, request_id), "json_path"), media_type="application/json")

    @app.get("/lethe/v1/requests/{request_id}/certificate.pdf", dependencies=[caller("read")])
    def certificate_pdf(request_id: str) -> FileResponse:
        svc = services()
        return FileResponse(_certificate_file(svc, _known(svc, request_id), "pdf_path"), media_type="application/pdf")

    @app.get("/lethe/v1/checkpoint", dependencies=[caller("read")], response_class=PlainTextResponse)
    def checkpoint() -> str:
        """The latest signed checkpoint note (C2SP tlog-checkpoint), with any witness cosignatures."""
        svc = services()
        head = svc.ledger.checkpoint()
        return (workspace / "checkpoints" / f"{head.tree_size}.note").read_text(encoding="utf-8")

    @app.get("/lethe/v1/vkey", dependencies=[caller("read")], response_class=PlainTextResponse)
    def verifier_key() -> str:
        return (workspace / "keys" / "signing.vkey").read_text(encoding="utf-8")

    @app.get("/lethe/v1/audits", dependencies=[caller("read")])
    def audits() -> list[dict[str, Any]]:
        """The signed audit reports, newest first (their ids and files under ``reports/``)."""
        svc = services()
        return [{"seq": e.seq, "ts": e.ts, **e.payload} for e in reversed(svc.ledger.log.events([AUDIT_COMPLETED]))]

    return app


def _file_and_queue(services: Services, request: ErasureRequest | BatchErasureRequest, actor: str,
                    link: dict[str, Any] | None = None) -> str:
    try:
        request_id = services.engine.file(request, actor=actor, intake="api")
    except LetheError as exc:
        raise opendsr_error(422, 422, str(exc)) from None
    if link is not None:
        services.ledger.append(OPENDSR_LINKED, {"request_id": request_id, **link}, actor=actor)
    # a policy that gates the api intake (workflow.identity_verification) leaves it for an officer to verify and run
    if not workflow_status(services.engine.require(request_id), services.policy).blockers:
        queue_request(services, request_id, actor)
    return request_id


def _known(services: Services, request_id: str) -> RequestRecord:
    record = services.ledger.request(request_id)
    if record is None:
        raise opendsr_error(404, 404, f"no request {request_id}")
    return record


def _certificate_file(services: Services, record: RequestRecord, which: str) -> Path:
    certified = record.payload("certified")
    if certified is None:
        raise opendsr_error(404, 404, "the request is not certified yet")
    return services.ledger.workspace.root / certified[which]


def _linked(services: Services, subject_request_id: str) -> str | None:
    """The Lethe request id filed for a controller's ``subject_request_id``, if any."""
    for event in services.ledger.log.events([OPENDSR_LINKED]):
        if event.payload["subject_request_id"] == subject_request_id:
            return str(event.payload["request_id"])
    return None


def _require(services: Services, subject_request_id: str) -> RequestRecord:
    request_id = _linked(services, subject_request_id)
    if request_id is None:
        raise opendsr_error(404, 404, f"no request with subject_request_id {subject_request_id}")
    return services.engine.require(request_id)


def deadline_text(services: Services, record: RequestRecord) -> str:
    due = services.policy.deadlines.due_date(record)
    return datetime(due.year, due.month, due.day, 23, 59, 59, tzinfo=timezone.utc).isoformat().replace("+00:00", "Z")

