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

Every call needs ``Authorization: Bearer <token>`` (the token file ``lethe serve`` names). Where this deviates from
OpenDSR 2.0 and why: responses are not signed with an X.509 certificate; what Lethe proves is proven by the
Ed25519-signed certificate of each erasure (``results_url``), checkable offline with ``/opendsr/v1/public-key``.
"""

from __future__ import annotations

import base64
import csv
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger import LetheError, RequestRecord
from ui.services import Services, open_services
from ui.worker import queue_request
from unlearn.requests import ErasureRequest

API_VERSION = "2.0"
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
        for identity in identities:
            if identity.identity_type == "lethe_subject_id":
                return identity.identity_value
            for row in self.rows():
                if (row["identity_type"], row["identity_value"]) == (identity.identity_type, identity.identity_value):
                    return row["subject"]
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
    if record.state in ("received", "validated") and not (probe_lock and _being_run(services, record.request_id)):
        return "pending"
    return "in_progress"


def _being_run(services: Services, request_id: str) -> bool:
    try:
        with services.ledger.workspace.exclusive(request_id):
            return False
    except LetheError:
        return True


def create_app(workspace: Path, token: str, identities: Path | None = None,
               controller_id: str = "controller") -> FastAPI:
    """The API of one workspace; ``token`` is the bearer token every call must present, ``controller_id`` the
    controller's identity in this processor (OpenDSR's ``controller_id``)."""
    app = FastAPI(title="Lethe erasure API (OpenDSR 2.0)", version=API_VERSION,
                  description=__doc__.split("\n\n")[1] if __doc__ else None)
    identity_map = IdentityMap(identities)

    def authorised(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = f"Bearer {token}"
        if authorization is None or not hmac.compare_digest(authorization.encode(), expected.encode()):
            raise opendsr_error(401, 401, "a valid 'Authorization: Bearer <token>' header is required")

    def services() -> Services:
        return open_services(workspace)

    @app.exception_handler(HTTPException)
    async def as_opendsr(_: Request, exc: HTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": {"code": exc.status_code,
                                                                          "message": str(exc.detail)}}
        return JSONResponse(body, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        message = f"{'.'.join(str(p) for p in first['loc'][1:])}: {first['msg']}"
        return JSONResponse(opendsr_error(400, 400, message).detail, status_code=400)

    guarded = [Depends(authorised)]

    @app.get("/opendsr/v1/discovery", dependencies=guarded)
    def discovery() -> dict[str, Any]:
        return {"api_version": API_VERSION, "supported_subject_request_types": ["erasure"],
                "supported_identities": [{"identity_type": kind, "identity_format": "raw"}
                                         for kind in identity_map.types()],
                "processor_public_key_url": "/opendsr/v1/public-key"}

    @app.get("/opendsr/v1/public-key", dependencies=guarded, response_class=PlainTextResponse)
    def public_key() -> str:
        return (Path(workspace) / "keys" / "signing.vkey").read_text(encoding="utf-8")

    @app.post("/opendsr/v1/requests", dependencies=guarded, status_code=201)
    def file_request(body: OpenDsrRequest) -> dict[str, Any]:
        if body.subject_request_type != "erasure":
            raise opendsr_error(400, 400, f"subject_request_type {body.subject_request_type!r} is not supported "
                                          "(this processor erases: 'erasure')")
        svc = services()
        if _linked(svc, body.subject_request_id) is not None:
            raise opendsr_error(409, 409, f"subject_request_id {body.subject_request_id} was already filed")
        subject = identity_map.subject(body.subject_identities)
        if subject is None:
            raise opendsr_error(404, 404, "none of the subject_identities is known to this processor")
        try:
            request_id = svc.engine.file(ErasureRequest(subject=subject), actor="opendsr")
        except LetheError as exc:
            raise opendsr_error(422, 422, str(exc)) from None
        svc.ledger.append(OPENDSR_LINKED, {"request_id": request_id, "subject_request_id": body.subject_request_id,
                                           "status_callback_urls": body.status_callback_urls}, actor="opendsr")
        record = queue_request(svc, request_id, "opendsr")
        encoded = base64.b64encode(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).decode()
        return {"controller_id": controller_id, "subject_request_id": body.subject_request_id,
                "received_time": record.received_at,
                "expected_completion_time": deadline_text(svc, record), "encoded_request": encoded,
                "api_version": API_VERSION, "lethe_request_id": request_id}

    @app.get("/opendsr/v1/requests/{subject_request_id}", dependencies=guarded)
    def status(subject_request_id: str) -> dict[str, Any]:
        svc = services()
        record = _require(svc, subject_request_id)
        body = {"controller_id": controller_id, "subject_request_id": subject_request_id,
                "request_status": request_status(svc, record),
                "expected_completion_time": deadline_text(svc, record), "api_version": API_VERSION,
                "lethe_state": record.state}
        if record.state == "certified":
            body["results_url"] = f"/opendsr/v1/requests/{subject_request_id}/certificate"
        return body

    @app.get("/opendsr/v1/requests/{subject_request_id}/certificate", dependencies=guarded)
    def certificate(subject_request_id: str) -> JSONResponse:
        svc = services()
        record = _require(svc, subject_request_id)
        if record.state != "certified":
            raise opendsr_error(404, 404, "the request is not certified yet")
        path = Path(workspace) / record.require_payload("certified")["json_path"]
        return JSONResponse(json.loads(path.read_text(encoding="utf-8")))

    @app.delete("/opendsr/v1/requests/{subject_request_id}", dependencies=guarded, status_code=202)
    def cancel(subject_request_id: str) -> dict[str, Any]:
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
                                  actor="opendsr")
        except LetheError:
            raise opendsr_error(409, 409, "a worker is running the request; it can no longer be cancelled") from None
        received = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
        return {"controller_id": controller_id, "subject_request_id": subject_request_id, "received_time": received,
                "request_status": "cancelled", "api_version": API_VERSION}

    return app


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

