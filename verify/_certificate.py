"""Certificates of erasure: a signed JSON for machines and a PDF rendering of it for people.

The JSON envelope is the certificate; the PDF only shows it and tells the reader how to verify the JSON
offline. A certificate holds request facts but no personal data: the subject appears only as the
workspace's keyed pseudonym (``Workspace.subject_ref``), never as an id or an item.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import (
    BaseModel,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from ledger import NoteVerifier, SignedCheckpoint, consistency_proof, load_public_key
from ledger.errors import LedgerIntegrityError, SignatureError
from policies import gdpr_deadline  # noqa: F401 - re-exported: certificates state dates against it
from verify._report import (
    CERTIFICATE_PREDICATE_TYPE,
    Basis,
    FROZEN,
    CheckpointSwap,
    ErasureScope,
    Judgement,
    MetricCheck,
    ResourceDescriptor,
    Sha256Hex,
    UtcDatetime,
    evidence_passes,
    first_error,
    statement_payload,
)
from verify.standalone import (
    LaterCheckpoint,
    NoteKey,
    VerificationError,
    check_older_checkpoint,
    check_witnessed,
    parse_checkpoint,
    verify_certificate_statement,
)

APPROXIMATE_NOTICE = (
    "This erasure used an approximate unlearning method. That the erased data no longer influences the model "
    "cannot be proven from its weights; the claim rests on the statistical evidence listed below, measured "
    "against a model retrained without that data."
)

LINEAGE_NOTICE = (
    "Certified on the lineage proof: the signed ledger shows that no model serving after the erasure was trained on "
    "the erased data, and the serving model's scores on that data changed. The statistical verification (a "
    "comparison with models retrained without the data) follows at the scheduled audit due by {due} and is recorded "
    "with this request as a second signed report naming this certificate's report. Until it passes, the erased "
    "(user, item) index pairs and the replaced model files are kept for that check only, then destroyed."
)

# The keyed pseudonym of Workspace.subject_ref (hex); a raw subject id can never pass as one.
SubjectRef = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32,64}$")]
FileSafeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)]


class Verdict(Judgement):
    """One check as a certificate states it: what was measured, against what, and pass, fail or inconclusive."""

    @classmethod
    def from_check(cls, check: MetricCheck) -> Verdict:
        return cls(**check.model_dump(include=set(Judgement.model_fields)))


class DeadlineExtension(BaseModel):
    """A deadline extension granted under GDPR Art. 12(3), as the ledger's ``request.extended`` event records it."""

    model_config = FROZEN
    months: int = Field(ge=1)
    reason: str = Field(min_length=1)


class Certificate(BaseModel):
    """What a controller hands a data subject or regulator to show an erasure request was fulfilled.

    ``ledger_checkpoint`` (a signed tree head: size, root) and ``inclusion_proof`` (the request's events proven
    against it) are filled from the ledger's Merkle log; a certificate without them still verifies by signature.
    """

    model_config = FROZEN
    schema_version: Literal[2, 3, 4] = 4  # 3: verdicts are pass, fail or inconclusive, with a role; 4: basis
    certificate_id: FileSafeId
    request_id: str
    regulation: str = "GDPR Art. 17"
    legal_basis: str
    subject_refs: list[SubjectRef] = Field(min_length=1, description="one per subject (several for a batch)")
    received_at: UtcDatetime
    completed_at: UtcDatetime
    deadline: date = Field(description="due date: GDPR Art. 12(3), the policy's response period from receipt, "
                                       "plus the extensions granted")
    extensions: list[DeadlineExtension] = Field(default_factory=list, description="Art. 12(3) extensions, in order")
    within_deadline: bool
    scope: ErasureScope
    method: str
    exact: bool
    approximate_notice: str | None = None
    basis: Basis | None = Field(None, description="lineage: certified on the lineage proof, statistics to follow; "
                                                 "None in certificates issued before schema 4 (statistics)")
    statistics_due: date | None = Field(None, description="basis lineage: the audit that verifies it is due by then")
    basis_notice: str | None = None
    deployment_id: str
    shards_retrained: list[int]
    checkpoints_replaced: list[CheckpointSwap]
    lineage_proof: str
    verdicts: list[Verdict]
    passed: bool
    report_digest: Sha256Hex
    ledger_head: str
    ledger_checkpoint: dict[str, Any] | None = Field(None, description="filled from the ledger's Merkle log")
    inclusion_proof: dict[str, Any] | None = Field(None, description="filled from the ledger's Merkle log")
    key_fingerprint: Sha256Hex
    issued_at: UtcDatetime
    controller: str | None = Field(None, max_length=200, description="the organisation answering the request "
                                   "(organisation.toml); absent in certificates issued before it was named")
    officer: str | None = Field(None, max_length=64, description="the officer responsible for the request (its "
                                "assignee, else who filed it); absent when code filed it")

    @model_validator(mode="before")
    @classmethod
    def _default_notice(cls, data: Any) -> Any:
        # An approximate method always carries the notice, whether or not the caller remembered it.
        if isinstance(data, dict) and data.get("exact") is False and data.get("approximate_notice") is None:
            data = {**data, "approximate_notice": APPROXIMATE_NOTICE}
        if (isinstance(data, dict) and data.get("basis") == "lineage" and data.get("basis_notice") is None
                and data.get("statistics_due") is not None):
            data = {**data, "basis_notice": LINEAGE_NOTICE.format(due=data["statistics_due"])}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Certificate:
        if self.exact and self.approximate_notice is not None:
            raise ValueError("an exact method's certificate carries no approximate notice")
        if self.basis == "lineage" and not (self.exact and self.statistics_due and self.basis_notice):
            raise ValueError("a certificate on the lineage proof is an exact method's, with the statistics' due date")
        if self.basis != "lineage" and (self.statistics_due or self.basis_notice):
            raise ValueError("a certificate on statistics has no statistics to follow")
        if self.completed_at < self.received_at:
            raise ValueError("completed_at is before received_at")
        if self.deadline < self.received_at.date():
            raise ValueError("deadline is before the request was received")
        if self.within_deadline != (self.completed_at.date() <= self.deadline):
            raise ValueError(f"within_deadline={self.within_deadline} contradicts completed_at and deadline")
        if self.passed != evidence_passes(self.verdicts, self.exact):
            raise ValueError(f"passed={self.passed} contradicts the verdicts (an empty or all-inconclusive list "
                             "never passes)")
        return self


def certificate_statement(certificate: Certificate) -> dict[str, Any]:
    """The in-toto Statement v1 a certificate is signed as: its subject is the signed verification report (the
    SHA-256 of that envelope's payload bytes), its predicate the certificate."""
    subject = [ResourceDescriptor(name="verification-report", digest={"sha256": certificate.report_digest})]
    # optional fields added later are left out when unset, so certificates signed before them keep verifying
    unset = {name for name in OPTIONAL_LATER if getattr(certificate, name) is None}
    return statement_payload(subject, CERTIFICATE_PREDICATE_TYPE, certificate.model_dump(mode="json", exclude=unset))


OPTIONAL_LATER = ("basis", "statistics_due", "basis_notice", "controller", "officer")
"""Certificate fields added after schema 4 without a new schema version: omitted from the signed JSON when unset."""


def verify_certificate_file(
    path: Path, public_key: Ed25519PublicKey | str | Path, checkpoint: SignedCheckpoint | None = None,
    leaf_hashes: Callable[[int], list[bytes]] | None = None, witnesses: tuple[NoteKey, ...] = (),
    witnessed: Callable[[int], LaterCheckpoint | None] | None = None,
) -> Certificate:
    """Check a certificate JSON offline with the public key alone; return it, or raise a LetheError.

    The cryptographic and evidence checks are ``verify/standalone.py``'s (the one file an auditor copies; its
    docstring lists them in order): the DSSE envelope and its in-toto Statement, the inclusion proof of the
    request's events under the signed checkpoint, an auditor's own ``checkpoint`` (same root at the same size; at a
    smaller one, an RFC 9162 consistency proof computed here from ``leaf_hashes``, the ledger's
    ``log.leaf_hashes``; why the certificate does not carry it: ``standalone.check_older_checkpoint``), and each of
    ``witnesses``' cosignature, on the certificate's checkpoint or on the later one ``witnessed(size)`` finds
    (``standalone.check_witnessed``). On top, only what needs Lethe's models: the predicate must validate as a
    :class:`Certificate` and the statement must be exactly its statement.
    """
    key = public_key if isinstance(public_key, Ed25519PublicKey) else load_public_key(Path(public_key))
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise SignatureError(f"{path}: file not found") from exc
    except OSError as exc:
        raise SignatureError(f"{path}: cannot read the file ({exc})") from exc
    log_key = NoteVerifier.for_key(key)
    try:
        statement = verify_certificate_statement(data, log_key)
        head = parse_checkpoint(statement["predicate"]["inclusion_proof"]["checkpoint"])  # verified just now
        if checkpoint is not None:
            proof = None
            if 0 < checkpoint.tree_size < head.tree_size and leaf_hashes is not None:
                proof = consistency_proof(checkpoint.tree_size, leaf_hashes(head.tree_size))
            check_older_checkpoint(checkpoint.to_note(), head, log_key, proof)
        if witnesses:
            check_witnessed(head, log_key, witnesses, witnessed(head.tree_size) if witnessed else None)
    except VerificationError as exc:
        error = SignatureError if exc.kind == "signature" else LedgerIntegrityError
        raise error(f"{path}: {exc}") from None
    try:
        certificate = Certificate.model_validate(statement.get("predicate"))
    except ValidationError as exc:
        raise SignatureError(f"{path}: the signed payload is not a valid certificate: {first_error(exc)}") from exc
    if statement != certificate_statement(certificate):
        raise SignatureError(f"{path}: the statement's subject or fields are not the certificate's")
    return certificate
