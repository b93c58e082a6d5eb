"""Lethe's system of record: the raw-interaction store and the append-only, hash-chained lineage ledger.

Nothing here imports torch: the ledger must stay readable by an auditor's tools alone. Its queries answer with
typed records (:class:`CheckpointRecord`, :class:`DeploymentRecord`, :class:`RequestRecord`), views over the
recorded event payloads; :class:`RequestKind` is the one vocabulary of request kinds.
"""

from ledger._canonical import canonical_json, sha256_hex
from ledger._checkpoints import SignedCheckpoint
from ledger._checkpoints import Note, NoteSignature, NoteVerifier, open_note, parse_skey, skey
from ledger._events import Event, EventLog, IntegrityResult
from ledger._files import write_atomically
from ledger._ledger import Ledger
from ledger._records import (
    CHECKPOINT_CREATED,
    DATASET_INGESTED,
    DEPLOYMENT_CREATED,
    DEPLOYMENT_RETIRED,
    DEPLOYMENT_SERVING,
    REQUEST_ANNOTATIONS,
    REQUEST_AWAITING_WINDOW,
    REQUEST_APPROVED,
    REQUEST_ASSIGNED,
    REQUEST_DUPLICATE_RECEIVED,
    REQUEST_IDENTITY_VERIFIED,
    REQUEST_LETTER_ISSUED,
    REQUEST_EXTENDED,
    REQUEST_QUEUED,
    REQUEST_STATISTICALLY_VERIFIED,
    REQUEST_RETRIED,
    CheckpointRecord,
    DeploymentRecord,
    RequestKind,
    RequestRecord,
)
from ledger._merkle import consistency_proof
from ledger._proofs import bundle_json
from ledger._signing import Signer, load_public_key, public_key_fingerprint
from ledger._signing import raw_public_key, vkey
from verify.standalone import b64decode_strict as strict_b64decode  # the one strict base64 reader
from ledger._store import InteractionStore
from ledger._workspace import DEPLOYMENTS_LOCK, Workspace, default_workspace_path
from ledger.errors import LedgerIntegrityError, LetheError, RequestError, SignatureError, WorkspaceError

__all__ = [
    "CHECKPOINT_CREATED",
    "CheckpointRecord",
    "DATASET_INGESTED",
    "DEPLOYMENT_CREATED",
    "DEPLOYMENT_RETIRED",
    "DEPLOYMENT_SERVING",
    "DEPLOYMENTS_LOCK",
    "DeploymentRecord",
    "Event",
    "EventLog",
    "IntegrityResult",
    "REQUEST_ANNOTATIONS",
    "REQUEST_AWAITING_WINDOW",
    "REQUEST_APPROVED",
    "REQUEST_ASSIGNED",
    "REQUEST_DUPLICATE_RECEIVED",
    "REQUEST_IDENTITY_VERIFIED",
    "REQUEST_LETTER_ISSUED",
    "REQUEST_EXTENDED",
    "REQUEST_QUEUED",
    "REQUEST_STATISTICALLY_VERIFIED",
    "REQUEST_RETRIED",
    "InteractionStore",
    "Ledger",
    "LedgerIntegrityError",
    "LetheError",
    "RequestError",
    "RequestKind",
    "RequestRecord",
    "SignatureError",
    "SignedCheckpoint",
    "Signer",
    "Workspace",
    "WorkspaceError",
    "canonical_json",
    "default_workspace_path",
    "load_public_key",
    "public_key_fingerprint",
    "sha256_hex",
    "bundle_json",
    "consistency_proof",
    "Note",
    "NoteSignature",
    "NoteVerifier",
    "open_note",
    "parse_skey",
    "raw_public_key",
    "skey",
    "strict_b64decode",
    "vkey",
    "write_atomically",
]
