"""The verification report, the in-toto Statement that carries it, and the DSSE v1 envelope that signs it.

A report is a pydantic model so that a malformed one cannot be built, and it fails closed: ``passed`` must
equal :func:`evidence_passes` of its checks (none failed, something decisive passed; all-inconclusive is no pass).
It travels as the ``predicate`` of an in-toto Statement v1 (``_type`` https://in-toto.io/Statement/v1) whose
``subject`` lists the SHA-256 digests of what it speaks about: the unlearned deployment's checkpoints and the
reference retrains; ``predicateType`` is a stable URI of Lethe's (``REPORT_PREDICATE_TYPE``). Certificates and audit
reports are Statements the same way, with their own predicate types.

Envelopes are DSSE v1 exactly (secure-systems-lab/dsse ``protocol.md``, ``envelope.md``)::

    {"payload": base64(body), "payloadType": "application/vnd.in-toto+json",
     "signatures": [{"keyid": <hint>, "sig": base64(Ed25519(PAE(payloadType, body)))}]}
    PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body     (lengths in bytes, decimal)

The body Lethe signs is the RFC 8785 canonical JSON of the statement (``ledger.canonical_json``), so any reader
can recompute it; verification never recomputes it, though: it runs over the received bytes — decode the
payload, check a signature over ``PAE(payloadType, payload bytes)``, check the payload type, and only then parse
the bytes as JSON. Both base64 alphabets (standard and URL-safe) are read; the ``keyid`` is an unauthenticated hint
(a signature without one is tried against the key; one naming another key is skipped); unknown fields are ignored.
Anything that does not verify raises :class:`~ledger.errors.SignatureError` with a one-line reason, whatever was
wrong with the input; so does an envelope in Lethe's earlier format (a JSON-object payload), by name.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Collection, Mapping
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

from ledger import (
    Signer,
    canonical_json,
    load_public_key,
    public_key_fingerprint,
    raw_public_key,
    sha256_hex,
    strict_b64decode,
)
from ledger.errors import SignatureError

FROZEN = ConfigDict(extra="forbid", frozen=True)
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
STATEMENT_PAYLOAD_TYPE = "application/vnd.in-toto+json"
REPORT_PREDICATE_TYPE = "https://lethe.dev/attestations/erasure-verification/v2"
CERTIFICATE_PREDICATE_TYPE = "https://lethe.dev/attestations/erasure-certificate/v1"
REPORT_PAYLOAD_TYPE = STATEMENT_PAYLOAD_TYPE
CERTIFICATE_PAYLOAD_TYPE = STATEMENT_PAYLOAD_TYPE  # a certificate is an in-toto Statement too (its predicateType differs)
LEGACY_ENVELOPE = (
    "a Lethe envelope of format 1 (its payload is a JSON object, not DSSE v1's base64 of the signed bytes), written "
    "before Lethe adopted DSSE v1 and RFC 8785; this version verifies DSSE v1 envelopes only, so it cannot be "
    "checked here"
)

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


class Control(BaseModel):
    """A model whose verdict on a check is known in advance, judged by the check's own threshold.

    ``passed`` is whether ``model`` meets the threshold; a control that could not be measured (``value`` None) shows
    nothing and counts as not passed.
    """

    model_config = FROZEN
    model: str
    value: FiniteFloat | None
    passed: bool


class Controls(BaseModel):
    """What makes a check informative: the ``negative`` control must fail it (a no-op for forgetting checks, a
    damaged model for collateral ones) and the ``positive`` must pass it (an honest retrain)."""

    model_config = FROZEN
    negative: Control
    positive: Control

    @property
    def separate(self) -> bool:
        return self.negative.value is not None and not self.negative.passed and self.positive.passed


class MetricCheck(Judgement):
    """A report's judgement, with the numbers it rests on in ``detail`` and, from schema 3, its controls.

    A statistical check passes only when its controls separate: a pass whose negative control passes too, or whose
    positive control fails, could not have failed and is refused (``controls`` is None for the lineage proof and in
    reports written before controls existed).
    """

    schema_version: Literal[1, 2, 3] = 3  # 3: controls
    detail: str
    controls: Controls | None = None

    @model_validator(mode="after")
    def _a_pass_needs_separating_controls(self) -> "MetricCheck":
        if self.verdict == "pass" and self.controls is not None and not self.controls.separate:
            raise ValueError(f"check {self.name!r} passes although its controls do not separate")
        return self


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


class ReportReference(BaseModel):
    """Another signed report, by id and the SHA-256 of its payload (as the ledger recorded it)."""

    model_config = FROZEN
    report_id: str
    sha256: Sha256Hex


Basis = Literal["lineage", "statistics"]
"""What a report rests on: the lineage proof alone (its statistics follow in a second report), or statistics too."""


class VerificationReport(BaseModel):
    """Evidence that one request's erasure took effect: metrics of the models compared and the checks.

    ``basis`` lineage: an exact method's proof and its model-replaced check only (policy ``certify_exact_on:
    lineage``); the statistical report that follows it names it in ``follows``.
    """

    model_config = FROZEN
    schema_version: Literal[2, 3, 4, 5] = 5  # 3: checks carry a verdict and a role; 4: their controls; 5: basis
    basis: Basis | None = Field(None, description="set from schema 5; None (older reports): statistics. Optional so "
                                                 "that reports signed before it keep their recorded digest")
    follows: ReportReference | None = Field(None, description="the lineage report this statistical one follows")
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
        if self.basis == "lineage" and (not self.exact or self.follows is not None):
            raise ValueError("only an exact method's first report may rest on the lineage proof alone")
        return self


class ResourceDescriptor(BaseModel):
    """An in-toto subject: a named artefact and its SHA-256."""

    model_config = FROZEN
    name: str
    digest: dict[Literal["sha256"], Sha256Hex]


class ReportStatement(BaseModel):
    """An in-toto Statement v1: the report is the predicate about the artefacts listed as subjects."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    type_: Literal[STATEMENT_TYPE] = Field(STATEMENT_TYPE, alias="_type")
    subject: list[ResourceDescriptor] = Field(min_length=1)
    predicate_type: Literal[REPORT_PREDICATE_TYPE] = Field(REPORT_PREDICATE_TYPE, alias="predicateType")
    predicate: VerificationReport

    def payload(self) -> dict[str, Any]:
        # fields added in schema 5 are left out when None, so reports signed before keep their recorded digest
        unset = {name for name in REPORT_FIELDS_ADDED_LATER if getattr(self.predicate, name) is None}
        return self.model_dump(mode="json", by_alias=True, exclude={"predicate": unset})


REPORT_FIELDS_ADDED_LATER = ("basis", "follows")


def statement_payload(subject: list[ResourceDescriptor], predicate_type: str, predicate: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1 as a JSON object (what :func:`sign_payload` signs)."""
    if not subject:
        raise ValueError("an in-toto statement needs at least one subject")
    return {"_type": STATEMENT_TYPE, "subject": [d.model_dump(mode="json") for d in subject],
            "predicateType": predicate_type, "predicate": predicate}


def payload_digest(payload: dict[str, Any]) -> str:
    """SHA-256 of a payload's canonical JSON — the exact body bytes of its DSSE envelope: what a certificate cites to
    bind itself to one signed report."""
    return sha256_hex(canonical_json(payload))


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding: ``DSSEv1 <len> <type> <len> <body>`` (lengths in bytes, decimal)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


class Signature(BaseModel):
    """One DSSE signature: an optional key id (a hint; Lethe writes the SHA-256 of its raw public key) and the
    base64 Ed25519 signature. Unknown fields are ignored, as DSSE requires."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    keyid: str | None = None
    sig: str


class SignedEnvelope(BaseModel):
    """A DSSE v1 JSON envelope: payload type, base64 payload (the exact bytes signed) and signatures over their PAE.

    Unknown fields are ignored, as DSSE requires; nothing in it is trusted until :func:`verify_dsse` says so.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    payload_type: str = Field(alias="payloadType")
    payload: str
    signatures: list[Signature]

    def body(self) -> bytes:
        """The payload bytes (standard or URL-safe base64); SignatureError if they do not decode."""
        try:
            return strict_b64decode(self.payload, "the payload", urlsafe_too=True)
        except ValueError as exc:
            raise SignatureError(f"the envelope cannot be decoded: {exc}") from None

    def signed_bytes(self) -> bytes:
        return pae(self.payload_type, self.body())

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def sign_bytes(body: bytes, payload_type: str, signer: Signer) -> SignedEnvelope:
    """Sign ``PAE(payload_type, body)`` with the workspace key; the envelope carries ``body`` in base64."""
    signature = base64.b64encode(signer.private_key.sign(pae(payload_type, body))).decode()
    return SignedEnvelope(payload_type=payload_type, payload=base64.b64encode(body).decode(),
                          signatures=[Signature(keyid=signer.keyid, sig=signature)])


def sign_payload(payload: dict[str, Any], payload_type: str, signer: Signer) -> SignedEnvelope:
    """Sign the RFC 8785 canonical JSON of ``payload`` (see :func:`sign_bytes`)."""
    return sign_bytes(canonical_json(payload), payload_type, signer)


def save_envelope(envelope: SignedEnvelope, path: Path) -> Path:
    """Write the envelope as pretty JSON (indent 2, sorted keys), atomically so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(envelope.to_json(), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
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


def strict_json(text: str | bytes) -> Any:
    """Parse JSON refusing duplicate object names and NaN/Infinity (ValueError otherwise)."""
    return json.loads(text, object_pairs_hook=_reject_duplicate_keys, parse_constant=_reject_constant)


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
            source = strict_json(Path(source).read_bytes().decode("utf-8"))
        except FileNotFoundError as exc:
            raise SignatureError(f"{where}: file not found") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise SignatureError(f"{where}: cannot read the file ({exc})") from exc
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise SignatureError(f"{where} is not valid JSON: {exc}") from exc
    if isinstance(source, dict) and isinstance(source.get("payload"), dict):
        raise SignatureError(f"{where} is {LEGACY_ENVELOPE}")
    try:
        return SignedEnvelope.model_validate(source)
    except ValidationError as exc:
        raise SignatureError(f"{where} is not a DSSE envelope: {first_error(exc)}") from exc


def verify_dsse(
    source: SignedEnvelope | dict[str, Any] | str | Path,
    keys: Mapping[str, Ed25519PublicKey],
    threshold: int = 1,
    payload_types: Collection[str] | None = None,
) -> bytes:
    """DSSE v1 verification (protocol.md, "Multi-signature Verification"); returns the verified payload bytes.

    1. decode the payload and every signature (standard or URL-safe base64); refuse if any does not decode;
    2. for each signature, the candidate keys are the one its ``keyid`` names, or all of ``keys`` when it has
       none (a keyid naming no key in ``keys`` is skipped); a key that verifies it over
       ``PAE(payloadType, payload bytes)`` is accepted (each distinct key counts once);
    3. refuse unless at least ``threshold`` distinct keys were accepted;
    4. refuse a ``payloadType`` outside ``payload_types`` (when given).

    The caller parses the returned bytes — these, never a re-read of the envelope.
    """
    if threshold < 1:
        raise ValueError("a DSSE threshold is at least 1")
    envelope = load_envelope(source)
    body = envelope.body()
    signed = pae(envelope.payload_type, body)
    if not envelope.signatures:
        raise SignatureError("the envelope carries no signature")
    try:
        decoded = [(s.keyid or "", strict_b64decode(s.sig, "a signature", urlsafe_too=True)) for s in envelope.signatures]
    except ValueError as exc:
        raise SignatureError(f"the envelope cannot be decoded: {exc}") from None
    accepted: set[bytes] = set()
    tried = False
    for keyid, signature in decoded:
        candidates = [keys[keyid]] if keyid in keys else ([] if keyid else list(keys.values()))
        for key in candidates:
            tried = True
            if raw_public_key(key) in accepted:
                continue
            try:
                key.verify(signature, signed)
            except InvalidSignature:
                continue
            accepted.add(raw_public_key(key))
            break
        if len(accepted) >= threshold:
            break
    if len(accepted) < threshold:
        if not tried:
            wanted = ", ".join(k[:16] + "…" for k in keys) or "no key"
            signers = ", ".join((keyid[:16] or "(no keyid)") for keyid, _ in decoded)
            raise SignatureError(f"not signed by key {wanted} (signed by {signers})")
        if threshold > 1 and accepted:
            raise SignatureError(f"only {len(accepted)} of the {threshold} required keys signed the envelope")
        raise SignatureError("signature does not match the signed content: it was altered")
    if payload_types is not None and envelope.payload_type not in payload_types:
        expected = " or ".join(repr(t) for t in payload_types)
        raise SignatureError(f"the envelope holds {envelope.payload_type!r}, expected {expected}")
    return body


def verify_envelope(
    source: SignedEnvelope | dict[str, Any] | str | Path,
    public_key: Ed25519PublicKey | str | Path,
    payload_type: str | None = None,
) -> dict[str, Any]:
    """Return the payload if a signature by ``public_key`` verifies; raise SignatureError otherwise.

    Fails closed: an envelope with no signature, or none by this key, or (when ``payload_type`` is given)
    of another type, does not verify; nor does a payload that is not a JSON object. Signatures by other keys
    (co-signers) are neither required nor trusted.
    """
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(Path(public_key))
    body = verify_dsse(source, {public_key_fingerprint(key): key}, 1, None if payload_type is None else [payload_type])
    try:
        payload = strict_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SignatureError(f"the signed payload is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise SignatureError("the signed payload is not a JSON object")
    return payload


def verify_statement(
    source: SignedEnvelope | dict[str, Any] | str | Path,
    public_key: Ed25519PublicKey | str | Path,
    predicate_type: str,
) -> dict[str, Any]:
    """Verify a DSSE envelope holding an in-toto Statement v1 with ``predicate_type``; return the statement."""
    statement = verify_envelope(source, public_key, STATEMENT_PAYLOAD_TYPE)
    if statement.get("_type") != STATEMENT_TYPE:
        raise SignatureError(f"the signed payload is not an in-toto Statement v1 (_type {statement.get('_type')!r})")
    if statement.get("predicateType") != predicate_type:
        raise SignatureError(f"the statement's predicateType is {statement.get('predicateType')!r}, "
                             f"expected {predicate_type!r}")
    return statement


def load_report(source: SignedEnvelope | str | Path, public_key: Ed25519PublicKey | str | Path) -> ReportStatement:
    """Verify a signed report and parse its statement; SignatureError if either fails."""
    payload = verify_envelope(source, public_key, REPORT_PAYLOAD_TYPE)
    try:
        return ReportStatement.model_validate(payload)
    except ValidationError as exc:
        raise SignatureError(f"the signed payload is not a verification report: {first_error(exc)}") from exc
