"""The verification report, the in-toto-like statement that carries it, and the DSSE-style signed envelope.

A report is a pydantic model so that a malformed one cannot be built, and it fails closed: ``passed`` must
equal :func:`evidence_passes` of its checks (none failed, something decisive passed; all-inconclusive is no pass). It travels as the predicate of an in-toto-like
statement whose subjects are the SHA-256 digests of what it speaks about: the ledger head, the unlearned
deployment's checkpoints and the reference retrains.

Envelopes follow DSSE (securesystemslib ``dsse.py``): a ``payloadType``, the payload, and Ed25519 signatures
with key ids over ``PAE(payloadType, body)`` where the body is the payload's canonical JSON. One deviation:
the payload is kept as a JSON object rather than base64, so the file can be read and diffed; verification
re-canonicalises it, and canonical JSON is stable under parse → serialise (``ledger._canonical``), so the
bytes checked are the bytes signed. Anything that does not verify raises
:class:`~ledger.errors.SignatureError` with a one-line reason, whatever was wrong with the input.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ledger import Signer, canonical_json, load_public_key, public_key_fingerprint, sha256_hex
from ledger.errors import SignatureError

FROZEN = ConfigDict(extra="forbid", frozen=True)
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
REPORT_PREDICATE_TYPE = "https://lethe.dev/attestations/erasure-verification/v2"
REPORT_PAYLOAD_TYPE = "application/vnd.in-toto+json"
CERTIFICATE_PAYLOAD_TYPE = "application/vnd.lethe.certificate+json;version=1"

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware timestamp, normalised to UTC (serialised as ISO-8601 with ``Z``); naive ones are refused."""


CheckVerdict = Literal["pass", "fail", "inconclusive"]
CheckRole = Literal["proof", "forgetting", "collateral"]


class Judgement(BaseModel):
    """One judgement of a report: a measured value against a threshold (or a yes/no fact like lineage).

    ``verdict`` is three-valued. A check whose controls do not separate is *inconclusive*, never pass: the no-op
    original passes a forgetting check too, or the threshold lies outside every value the metric can take, so the
    check could not have failed. ``role`` says what a pass shows: ``proof`` (lineage: the serving checkpoints never
    trained on the erased ids), ``forgetting`` (the model no longer remembers them; a model that forgot nothing
    must fail it) or ``collateral`` (no damage to everyone else; a model that forgot nothing passes it by
    construction). ``passed`` is ``verdict == "pass"``; judgements written before verdicts existed (no ``verdict``)
    read ``passed`` as pass/fail and have no role.
    """

    model_config = FROZEN
    name: str
    value: FiniteFloat | None
    threshold: FiniteFloat | None
    comparison: str
    verdict: CheckVerdict
    role: CheckRole | None = None
    passed: bool

    @model_validator(mode="before")
    @classmethod
    def _verdict_and_passed(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "verdict" not in data and "passed" in data:
                return {**data, "verdict": "pass" if data["passed"] else "fail"}
            if "passed" not in data and "verdict" in data:
                return {**data, "passed": data["verdict"] == "pass"}
        return data

    @model_validator(mode="after")
    def _passed_means_pass(self) -> "Judgement":
        if self.passed != (self.verdict == "pass"):
            raise ValueError(f"check {self.name!r}: passed={self.passed} contradicts verdict {self.verdict!r}")
        return self


class MetricCheck(Judgement):
    """A report's judgement, with the numbers it rests on in ``detail``."""

    schema_version: Literal[1, 2] = 2
    detail: str


def evidence_passes(checks: list[Judgement], exact: bool) -> bool:
    """Whether a report's checks certify: none failed, and something decisive passed.

    Decisive is the lineage proof of an exact method, or a forgetting check whose controls separated. Evidence
    that is all inconclusive is not a pass (fail closed). Judgements without roles (written before verdicts
    existed) certify when every one of them passed, as they did then.
    """
    if not checks or any(check.verdict == "fail" for check in checks):
        return False
    if all(check.role is None for check in checks):
        return all(check.passed for check in checks)
    return any(check.verdict == "pass" and (check.role == "forgetting" or (exact and check.role == "proof"))
               for check in checks)


class CheckpointSwap(BaseModel):
    """A serving checkpoint replaced by erasure: ``old`` saw the erased data, ``new`` did not."""

    model_config = FROZEN
    old: str
    new: str


class TimeWindowScope(BaseModel):
    """The time window a request covered (UTC, end excluded)."""

    model_config = FROZEN
    start: datetime
    end: datetime


class ErasureScope(BaseModel):
    """What one request erased, as counts only (reports and certificates never list the ids or items)."""

    model_config = FROZEN
    kind: Literal["subject", "interactions", "time_window", "batch"] = Field(
        "subject", description="the whole subject, listed interactions of theirs, theirs within a time window, or "
                               "several whole subjects")
    window: TimeWindowScope | None = None
    subjects: int = Field(ge=0)
    interactions: int = Field(ge=0, description="interaction ids erased from the store")
    training_pairs: int = Field(ge=0, description="of which in the training split: the forgotten pairs measured")
    held_out_pairs: int = Field(ge=0, description="of which in the test split: the score attack's non-members")
    deployments: int = Field(ge=0, description="deployments whose checkpoints were replaced")
    checkpoints_replaced: int = Field(ge=0)

    def describe(self) -> str:
        """One line for people: what was erased, without naming an item."""
        what = {"subject": "the whole subject",
                "interactions": "listed interactions of the subject",
                "time_window": "the subject's interactions in a time window",
                "batch": f"{self.subjects} whole subjects"}[self.kind]
        if self.window is not None:
            what += f" ({self.window.start.isoformat()} until {self.window.end.isoformat()}, end excluded)"
        return (f"{what}: {self.interactions} interactions ({self.training_pairs} training, {self.held_out_pairs} "
                f"held-out), {self.deployments} deployment(s), {self.checkpoints_replaced} checkpoint(s) replaced")


class Histogram(BaseModel):
    """Counts per bin, one list per model, over shared bin edges."""

    model_config = FROZEN
    edges: list[FiniteFloat]
    counts: dict[str, list[int]]


class RocCurves(BaseModel):
    """TPR per model at fixed false-positive rates (a grid, not the thresholds: no single score can be read off)."""

    model_config = FROZEN
    fpr: list[FiniteFloat]
    tpr: dict[str, list[FiniteFloat]]


class ReportFigures(BaseModel):
    """Aggregates the report's plots are drawn from."""

    model_config = FROZEN
    rbo_depth: int
    rbo: dict[str, Histogram] = Field(description="per-user RBO@rbo_depth with the reference, by user group")
    mia: dict[str, RocCurves] = Field(description="ROC of each membership attack, by model")


class ReferenceInfo(BaseModel):
    """Which retrains the statistical checks compared against, and whether they were shared by a batch."""

    model_config = FROZEN
    base_model: str
    data_digest: str = Field(description="training-set digest of the remaining data both retrains saw")
    seed: int
    retrain_star_seed: int
    reused: bool = Field(description="trained earlier for the same deployment and remaining data (audit window)")


class VerificationReport(BaseModel):
    """Evidence that one request's erasure took effect: metrics of the models compared and the checks."""

    model_config = FROZEN
    schema_version: Literal[2, 3] = 3  # 3: checks carry a verdict and a role
    report_id: str
    request_id: str
    deployment_id: str
    method: str
    exact: bool
    created_at: UtcDatetime
    scope: ErasureScope
    shards_retrained: list[int]
    checkpoints_replaced: list[CheckpointSwap]
    reference: ReferenceInfo | None
    metrics: dict[str, dict[str, FiniteFloat]]
    figures: ReportFigures | None
    checks: list[MetricCheck]
    passed: bool
    ledger_head: str
    policy_digest: str
    seed: int
    data_digest: str

    @model_validator(mode="after")
    def _fail_closed(self) -> "VerificationReport":
        if self.passed != evidence_passes(self.checks, self.exact):
            if not self.checks:
                raise ValueError("a report without checks cannot pass")
            failed = [check.name for check in self.checks if check.verdict == "fail"]
            raise ValueError(f"passed={self.passed} contradicts the checks (failed: {failed or 'none'})")
        return self


class ResourceDescriptor(BaseModel):
    """An in-toto subject: a named artefact and its SHA-256."""

    model_config = FROZEN
    name: str
    digest: dict[Literal["sha256"], Sha256Hex]


class ReportStatement(BaseModel):
    """An in-toto-like statement: the report is the predicate about the artefacts listed as subjects."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    type_: Literal[STATEMENT_TYPE] = Field(STATEMENT_TYPE, alias="_type")
    subject: list[ResourceDescriptor] = Field(min_length=1)
    predicate_type: Literal[REPORT_PREDICATE_TYPE] = Field(REPORT_PREDICATE_TYPE, alias="predicateType")
    predicate: VerificationReport

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def payload_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of a payload's canonical JSON: what a certificate cites to bind itself to one signed report."""
    return sha256_hex(canonical_json(payload))


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: ``DSSEv1 <len> <type> <len> <body>`` (lengths in bytes, decimal)."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


class Signature(BaseModel):
    """One DSSE signature: the signer's key id (SHA-256 of its raw public key) and the base64 Ed25519 signature."""

    model_config = FROZEN
    keyid: str
    sig: str


class SignedEnvelope(BaseModel):
    """A DSSE-style envelope: payload type, JSON payload and the signatures over their PAE."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    payload_type: str = Field(alias="payloadType", min_length=1)
    payload: dict[str, Any]
    signatures: list[Signature]

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, canonical_json(self.payload))


def sign_payload(payload: dict[str, Any], payload_type: str, signer: Signer) -> SignedEnvelope:
    """Sign ``PAE(payload_type, canonical JSON of payload)`` with the workspace key."""
    unsigned = SignedEnvelope(payload_type=payload_type, payload=payload, signatures=[])
    signature = base64.b64encode(signer.private_key.sign(unsigned.signed_bytes())).decode()
    return unsigned.model_copy(update={"signatures": [Signature(keyid=signer.keyid, sig=signature)]})


def save_envelope(envelope: SignedEnvelope, path: Path) -> Path:
    """Write the envelope as pretty JSON (indent 2, sorted keys), atomically so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(envelope.model_dump(mode="json", by_alias=True), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Two parsers could disagree on which duplicate wins; a signed document must mean one thing.
    keys = [key for key, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def first_error(exc: ValidationError) -> str:
    """The first validation error as ``field.path: message``, for one-line reasons."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "top level"
    return f"{loc}: {first['msg']}"


def load_envelope(source: SignedEnvelope | dict[str, Any] | str | Path) -> SignedEnvelope:
    """Parse an envelope from a file path, a dict or a model; anything malformed is a SignatureError."""
    if isinstance(source, SignedEnvelope):
        return source
    where = "envelope"
    if isinstance(source, (str, Path)):
        where = str(source)
        try:
            source = json.loads(
                Path(source).read_text(encoding="utf-8"),
                object_pairs_hook=_reject_duplicate_keys,
                parse_constant=_reject_constant,
            )
        except FileNotFoundError as exc:
            raise SignatureError(f"{where}: file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SignatureError(f"{where}: cannot read the file ({exc})") from exc
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise SignatureError(f"{where} is not valid JSON: {exc}") from exc
    try:
        return SignedEnvelope.model_validate(source)
    except ValidationError as exc:
        raise SignatureError(f"{where} is not a signed envelope: {first_error(exc)}") from exc


def verify_envelope(
    source: SignedEnvelope | dict[str, Any] | str | Path,
    public_key: Ed25519PublicKey | str | Path,
    payload_type: str | None = None,
) -> dict[str, Any]:
    """Return the payload if every signature by ``public_key`` verifies; raise SignatureError otherwise.

    Fails closed: an envelope with no signature, or none by this key, or (when ``payload_type`` is given)
    of another type, does not verify. Signatures by other keys (co-signers) are neither required nor trusted.
    """
    envelope = load_envelope(source)
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(Path(public_key))
    if not envelope.signatures:
        raise SignatureError("the envelope carries no signature")
    fingerprint = public_key_fingerprint(key)
    mine = [signature for signature in envelope.signatures if signature.keyid == fingerprint]
    if not mine:
        signers = ", ".join(signature.keyid[:16] for signature in envelope.signatures)
        raise SignatureError(f"not signed by key {fingerprint[:16]}… (signed by {signers})")
    signed = envelope.signed_bytes()
    for signature in mine:
        try:
            key.verify(base64.b64decode(signature.sig, validate=True), signed)
        except (InvalidSignature, ValueError) as exc:
            raise SignatureError("signature does not match the signed content: it was altered") from exc
    if payload_type is not None and envelope.payload_type != payload_type:
        raise SignatureError(f"the envelope holds {envelope.payload_type!r}, expected {payload_type!r}")
    return envelope.payload


def load_report(source: SignedEnvelope | str | Path, public_key: Ed25519PublicKey | str | Path) -> ReportStatement:
    """Verify a signed report and parse its statement; SignatureError if either fails."""
    payload = verify_envelope(source, public_key, REPORT_PAYLOAD_TYPE)
    try:
        return ReportStatement.model_validate(payload)
    except ValidationError as exc:
        raise SignatureError(f"the signed payload is not a verification report: {first_error(exc)}") from exc
