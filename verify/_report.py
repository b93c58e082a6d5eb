"""The verification report and the signed envelope every report and certificate travels in.

A report is a pydantic model so that a malformed one cannot be built, and it fails closed: ``passed`` must
equal "at least one check ran and all of them passed". Envelopes sign the canonical JSON of the payload
(``ledger._canonical``); the file on disk may be pretty-printed because verification re-canonicalises the
parsed payload. Anything that does not verify raises :class:`~ledger.errors.SignatureError` with a
one-line reason, whatever was wrong with the input.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, FiniteFloat, ValidationError, model_validator

from ledger._canonical import canonical_json, sha256_hex
from ledger._signing import Signer, load_public_key, public_key_fingerprint, verify_signature
from ledger.errors import SignatureError

FROZEN = ConfigDict(extra="forbid", frozen=True)


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware timestamp, normalised to UTC (serialised as ISO-8601 with ``Z``); naive ones are refused."""


class MetricCheck(BaseModel):
    """One pass/fail judgement: a measured value against a policy threshold (or a yes/no fact like lineage)."""

    model_config = FROZEN
    schema_version: Literal[1] = 1
    name: str
    value: FiniteFloat | None
    threshold: FiniteFloat | None
    comparison: str
    passed: bool
    detail: str


class CheckpointSwap(BaseModel):
    """A serving checkpoint replaced by erasure: ``old`` saw the erased data, ``new`` did not."""

    model_config = FROZEN
    old: str
    new: str


class VerificationReport(BaseModel):
    """Evidence that one request's erasure took effect: metrics of the models compared and the checks."""

    model_config = FROZEN
    schema_version: Literal[1] = 1
    report_id: str
    request_id: str
    deployment_id: str
    method: str
    exact: bool
    created_at: UtcDatetime
    subjects_count: int
    forgotten_interactions: int
    shards_retrained: list[int]
    checkpoints_replaced: list[CheckpointSwap]
    metrics: dict[str, dict[str, FiniteFloat]]
    checks: list[MetricCheck]
    passed: bool
    ledger_head: str
    policy_digest: str
    seed: int
    data_digest: str

    @model_validator(mode="after")
    def _fail_closed(self) -> "VerificationReport":
        expected = bool(self.checks) and all(check.passed for check in self.checks)
        if self.passed != expected:
            if not self.checks:
                raise ValueError("a report without checks cannot pass")
            failed = [check.name for check in self.checks if not check.passed]
            raise ValueError(f"passed={self.passed} contradicts the checks (failed: {failed or 'none'})")
        return self


def report_digest(report: VerificationReport) -> str:
    """SHA-256 of the report's canonical JSON: what a certificate cites to bind itself to one report."""
    return sha256_hex(canonical_json(report.model_dump(mode="json")))


class Signature(BaseModel):
    """A detached Ed25519 signature in the ledger's ``{"keyid", "sig"}`` form."""

    model_config = FROZEN
    keyid: str
    sig: str


class SignedEnvelope(BaseModel):
    """A JSON payload with the signatures over its canonical form."""

    model_config = FROZEN
    schema_version: Literal[1] = 1
    payload: dict[str, Any]
    signatures: list[Signature]


def sign_model(model: BaseModel, signer: Signer) -> SignedEnvelope:
    """Wrap ``model``'s JSON form in an envelope signed by ``signer``."""
    payload = model.model_dump(mode="json")
    return SignedEnvelope(payload=payload, signatures=[Signature(**signer.sign(payload))])


def save_envelope(envelope: SignedEnvelope, path: Path) -> Path:
    """Write the envelope as pretty JSON (indent 2, sorted keys), atomically so a crash leaves no half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(envelope.model_dump(mode="json"), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
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
    source: SignedEnvelope | dict[str, Any] | str | Path, public_key: Ed25519PublicKey | str | Path
) -> dict[str, Any]:
    """Return the payload if every signature by ``public_key`` verifies; raise SignatureError otherwise.

    Fails closed: an envelope with no signature, or none by this key, does not verify. Signatures by other
    keys (co-signers) are neither required nor trusted.
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
    for signature in mine:
        verify_signature(envelope.payload, signature.model_dump(), key)
    return envelope.payload
