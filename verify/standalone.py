#!/usr/bin/env python3
"""Standalone verifier of a Lethe certificate of erasure: copy this one file and run it.

Needs Python 3.9+ and the ``cryptography`` package (for Ed25519), nothing else of Lethe::

    python standalone.py CERT.json --vkey KEY.vkey [--checkpoint NOTE [--consistency-proof FILE]]
        [--witness-vkey W.vkey ... [--witnessed-checkpoint NOTE --witnessed-proof FILE]]

Exit 0 with a one-line summary when every check holds; 1 with a one-line reason when one fails; 2 on bad usage
(a file that cannot be read). The checks, in order (VERIFYING.md describes the bytes):

1. the certificate file is a DSSE v1 envelope; its payload (standard or URL-safe base64) is the exact signed
   bytes, and an Ed25519 signature by the verifier key holds over ``PAE(payloadType, payload)``; only then is the
   payload parsed, as an in-toto Statement v1 with the certificate predicate type;
2. the statement's subject is the verification report named by the predicate's ``report_digest``, and the
   predicate names the signing key (``key_fingerprint`` = SHA-256 of the raw public key);
3. the predicate's inclusion proof: its checkpoint is a C2SP tlog-checkpoint signed note signed by the vkey (key
   ID = SHA-256(name || 0x0A || 0x01 || key)[:4]), of the log the vkey names, with the tree size and root the
   predicate's ``ledger_checkpoint`` states; every event's chain hash matches its content, and its leaf
   (SHA-256(0x00 || RFC 8785 JSON of the event)) leads up its RFC 9162 audit path to that root; the events are
   this request's and cover its receipt and verification;
4. ``--checkpoint``: an auditor's own signed checkpoint of the same log. At the certificate's size it must have
   the same root; at a smaller size, the RFC 9162 consistency proof given with ``--consistency-proof`` (computed
   from the ledger by ``lethe certificate verify --workspace``; see ``check_older_checkpoint`` for why it is not
   carried in the certificate) must prove the certificate's tree extends it; otherwise the log forked;
5. ``--witness-vkey`` (a witness's C2SP cosigner key, type 0x04; a note key, type 0x01, is accepted too): each
   witness must have cosigned (c2sp.org/tlog-cosignature v1: Ed25519 over ``cosignature/v1``, ``time <t>`` and
   the checkpoint text) the certificate's checkpoint or the ``--witnessed-checkpoint``, a later checkpoint of the
   same log whose tree extends the certificate's by the RFC 9162 proof in ``--witnessed-proof``; otherwise the
   log showed the witness another history than the certificate proves (a split view). See ``check_witnessed``.

``verify_certificate_bytes`` is the function Lethe's own ``lethe certificate verify`` calls: this file is the one
implementation of these checks.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
STATEMENT_PAYLOAD_TYPE = "application/vnd.in-toto+json"
CERTIFICATE_PREDICATE_TYPE = "https://lethe.dev/attestations/erasure-certificate/v1"
BUNDLE_TYPE = "lethe.inclusion-proof/v1"
GENESIS_HASH = "0" * 64
SIGNATURE_DASH = "\u2014 "  # EM DASH, space
ED25519_NOTE_TYPE = b"\x01"  # c2sp.org/signed-note: an Ed25519 signature over the note text
COSIGNATURE_TYPE = b"\x04"  # c2sp.org/tlog-cosignature: a timestamped Ed25519 cosignature/v1
KEY_TYPES = (ED25519_NOTE_TYPE, COSIGNATURE_TYPE)
MAX_NOTE_BYTES = 1 << 20


class VerificationError(Exception):
    """One check failed. ``kind`` is "signature" (a signature, key or envelope fault) or "integrity" (the ledger
    evidence: proofs, hashes, checkpoints)."""

    def __init__(self, message: str, kind: str = "integrity") -> None:
        super().__init__(message)
        self.kind = kind


def _sig_error(message: str) -> VerificationError:
    return VerificationError(message, "signature")


# --- base64 (RFC 4648 §4 and §5), strict -------------------------------------------------------------------------

def b64decode_strict(text: Any, what: str, urlsafe_too: bool = False) -> bytes:
    """Canonical padded base64 (with ``urlsafe_too`` also the URL-safe alphabet, one per string); ValueError else."""
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a base64 string")
    standard = re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) is not None
    urlsafe = urlsafe_too and not standard and re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text) is not None
    if not (standard or urlsafe):
        raise ValueError(f"{what} is not base64")
    try:
        raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(text.encode("ascii"))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not valid base64") from None
    again = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(raw).decode("ascii")
    if again != text:
        raise ValueError(f"{what} is not canonical base64")
    return raw


# --- RFC 8785 canonical JSON ---------------------------------------------------------------------------------------

def _es_number(value: float) -> str:
    """ECMAScript Number::toString of a finite double (RFC 8785 §3.2.2.3)."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError("NaN and infinities have no JSON form")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))
    mantissa, _, exponent = text.partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    point = len(whole) + (int(exponent) if exponent else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))
    return sign + out


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes of a JSON value."""
    return _jcs(value).encode("utf-8")


def _jcs(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _es_number(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_jcs(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _jcs(value[k]) for k in keys) + "}"
    raise ValueError(f"{type(value).__name__} is not a JSON value")


def strict_json(data: bytes, what: str) -> Any:
    """Parse UTF-8 JSON refusing duplicate keys and NaN/Infinity."""
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, val in items:
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            out[key] = val
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"{what} is not valid JSON: {exc}", "signature") from None


# --- Ed25519, keys, DSSE -------------------------------------------------------------------------------------------

def raw_key(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(raw_key(key)).hexdigest()


def ed25519_verifies(key: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message)
    except InvalidSignature:
        return False
    return True


def note_key_hash(name: str, key: Ed25519PublicKey, key_type: bytes = ED25519_NOTE_TYPE) -> bytes:
    """C2SP key ID: SHA-256(name || 0x0A || type || raw key)[:4] (type 0x01 a note key, 0x04 a cosigner's)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + key_type + raw_key(key)).digest()[:4]


def cosignature_message(text: str, timestamp: int) -> bytes:
    """What a cosignature/v1 signs (c2sp.org/tlog-cosignature): two header lines, then the checkpoint's text."""
    return f"cosignature/v1\ntime {timestamp}\n".encode() + text.encode("utf-8")


def valid_note_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


@dataclass(frozen=True)
class NoteKey:
    """A C2SP verifier key: name, 4-byte key ID, Ed25519 public key, and its type (0x01 signs notes, 0x04 is a
    witness's cosignature/v1 key)."""

    name: str
    key_hash: bytes
    key: Ed25519PublicKey
    key_type: bytes = ED25519_NOTE_TYPE

    def verifies(self, text: str, signature: bytes) -> int | None:
        """Whether ``signature`` (a signature line's bytes after the key ID) is this key's over the note ``text``:
        for a note key ``0`` if it is, for a cosigner the cosignature's timestamp; None if it does not verify."""
        if self.key_type == ED25519_NOTE_TYPE:
            return 0 if ed25519_verifies(self.key, signature, text.encode("utf-8")) else None
        if len(signature) != 72:
            return None
        timestamp = int.from_bytes(signature[:8], "big")
        if timestamp >= 1 << 63:
            return None
        return timestamp if ed25519_verifies(self.key, signature[8:], cosignature_message(text, timestamp)) else None


def parse_vkey(text: str) -> NoteKey:
    """``<name>+<hex key ID>+<base64(type || key)>``, type 0x01 (note key) or 0x04 (cosigner); the key ID must
    match the name, type and key."""
    name, _, rest = text.strip().partition("+")
    key_id_hex, _, key_b64 = rest.partition("+")
    try:
        if not valid_note_name(name) or not re.fullmatch(r"[0-9a-f]{8}", key_id_hex):
            raise ValueError("a bad name or key ID")
        material = b64decode_strict(key_b64, "the key")
    except ValueError as exc:
        raise _sig_error(f"not a signed-note verifier key (name+keyid+base64 key): {exc}") from None
    if len(material) != 33 or material[:1] not in KEY_TYPES:
        raise _sig_error("the verifier key is not an Ed25519 signed-note key (type 0x01) or cosigner key (0x04)")
    key = Ed25519PublicKey.from_public_bytes(material[1:])
    if note_key_hash(name, key, material[:1]) != bytes.fromhex(key_id_hex):
        raise _sig_error("the verifier key's key ID does not match its name and key")
    return NoteKey(name, bytes.fromhex(key_id_hex), key, material[:1])


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(body), body)


def verify_dsse(envelope: Any, key: Ed25519PublicKey, payload_type: str) -> bytes:
    """Return the payload bytes if a signature by ``key`` verifies over PAE; unknown fields are ignored."""
    if isinstance(envelope, dict) and isinstance(envelope.get("payload"), dict):
        raise _sig_error("the envelope is in Lethe's format 1 (a JSON payload), not DSSE v1: written by an older Lethe")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payloadType"), str) \
            or not isinstance(envelope.get("signatures"), list):
        raise _sig_error("not a DSSE envelope (payloadType, payload, signatures)")
    try:
        body = b64decode_strict(envelope.get("payload"), "the payload", urlsafe_too=True)
    except ValueError as exc:
        raise _sig_error(f"the envelope cannot be decoded: {exc}") from None
    if not envelope["signatures"]:
        raise _sig_error("the envelope carries no signature")
    signed = pae(envelope["payloadType"], body)
    fingerprint = key_fingerprint(key)
    tried = False
    for entry in envelope["signatures"]:
        if not isinstance(entry, dict):
            raise _sig_error("a signature entry is not an object")
        keyid = entry.get("keyid") or ""
        try:
            signature = b64decode_strict(entry.get("sig"), "a signature", urlsafe_too=True)
        except ValueError as exc:
            raise _sig_error(f"the envelope cannot be decoded: {exc}") from None
        if keyid and keyid != fingerprint:
            continue  # a hint naming another key
        tried = True
        if ed25519_verifies(key, signature, signed):
            break
    else:
        if not tried:
            raise _sig_error(f"not signed by key {fingerprint[:16]}…")
        raise _sig_error("signature does not match the signed content: it was altered")
    if envelope["payloadType"] != payload_type:
        raise _sig_error(f"the envelope holds {envelope['payloadType']!r}, expected {payload_type!r}")
    return body


# --- C2SP signed notes and tlog checkpoints -------------------------------------------------------------------------

Signature = tuple[str, bytes, bytes]  # one signature line: key name, 4-byte key ID, signature bytes
MAX_SIGNATURES = 100  # the spec asks readers to accept at least 16; Go's reference stops at 100
LEGACY_NOTE = ("a checkpoint note in Lethe's checkpoint format 1 (origin 'lethe-ledger', no key ID in its signature "
               "line), written before Lethe adopted C2SP signed notes; this version reads C2SP tlog-checkpoint notes "
               "only, so the note cannot be checked here")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root: bytes
    text: str  # the signed text, ending in a newline
    signatures: tuple[Signature, ...]

    def signed_by(self, key: NoteKey) -> bool:
        """True if ``key`` signed (or, a cosigner, cosigned) this note; VerificationError if its signature line is
        present but fails."""
        found = False
        for name, key_hash, signature in self.signatures:
            if (name, key_hash) != (key.name, key.key_hash):
                continue  # unknown signers are ignored
            if key.verifies(self.text, signature) is None:
                raise _sig_error(f"checkpoint of size {self.tree_size}: the signature by {name} does not match "
                                 "the note: it was altered")
            found = True
        return found


def parse_note(note: str | bytes, where: str = "note") -> tuple[str, tuple[Signature, ...]]:
    """Split a C2SP signed note (c2sp.org/signed-note, "Format") into its text, ending in a newline, and its
    signature lines; verify nothing. VerificationError naming ``where`` on any deviation: bad UTF-8, a control
    character, a signature line that does not parse, non-canonical base64, more than 100 signatures."""
    def bad(reason: str) -> VerificationError:
        return VerificationError(f"{where} is not a signed note: {reason}")

    if isinstance(note, bytes):
        if len(note) > MAX_NOTE_BYTES:
            raise bad("larger than 1 MiB")
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError:
            raise bad("not valid UTF-8") from None
    if not isinstance(note, str) or len(note) > MAX_NOTE_BYTES:
        raise bad("not text of at most 1 MiB")
    if note.startswith("lethe-ledger ") and "\n\u2014 lethe " in note:
        raise VerificationError(f"{where} is {LEGACY_NOTE}")
    if any(ch < " " and ch != "\n" for ch in note):
        raise bad("it holds a control character other than newline")
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("not valid UTF-8 (a lone surrogate)") from None
    split = note.rfind("\n\n")
    if split < 0:
        raise bad("no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2:]
    if not block or not block.endswith("\n"):
        raise bad("the signature lines must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise bad(f"more than {MAX_SIGNATURES} signatures")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_DASH):
            raise bad(f"{line[:40]!r} is not a signature line ('\u2014 <name> <base64>')")
        name, space, encoded = line[len(SIGNATURE_DASH):].partition(" ")
        if not space or not valid_note_name(name):
            raise bad(f"{line[:40]!r} does not name a valid key")
        try:
            raw = b64decode_strict(encoded, f"the signature by {name}")
        except ValueError as exc:
            raise bad(str(exc)) from None
        if len(raw) < 5:
            raise bad(f"the signature by {name} is shorter than a key ID and a signature")
        signatures.append((name, raw[:4], raw[4:]))
    return text, tuple(signatures)


def parse_checkpoint(note: str | bytes, where: str = "checkpoint") -> Checkpoint:
    """Parse a C2SP tlog-checkpoint signed note: origin, decimal size, base64 32-byte root, non-empty extension
    lines (signatures are not checked here)."""
    text, signatures = parse_note(note, where)

    def bad(reason: str) -> VerificationError:
        return VerificationError(f"{where} is not a tlog checkpoint: {reason}")

    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise bad("it needs an origin, a tree size and a root hash line")
    origin, size, root_b64, *extensions = lines
    if not origin:
        raise bad("the origin line is empty")
    if not (size.isascii() and size.isdigit()) or (size != "0" and size.startswith("0")):
        raise bad(f"tree size {size[:30]!r} is not a decimal number without leading zeros")
    try:
        root = b64decode_strict(root_b64, "the root hash")
    except ValueError as exc:
        raise bad(str(exc)) from None
    if len(root) != 32:
        raise bad(f"the root hash is {len(root)} bytes, not 32")
    if any(not line for line in extensions):
        raise bad("an extension line is empty")
    return Checkpoint(origin, int(size), root, text, signatures)


def open_checkpoint(note: str | bytes, key: NoteKey, where: str = "checkpoint") -> Checkpoint:
    """Parse a checkpoint and require the log key's valid signature and its origin."""
    checkpoint = parse_checkpoint(note, where)
    if not checkpoint.signed_by(key):
        names = ", ".join(f"{n} ({h.hex()})" for n, h, _ in checkpoint.signatures)
        raise _sig_error(f"{where} was signed by another key ({names}), not by {key.name} ({key.key_hash.hex()})")
    if checkpoint.origin != key.name:
        raise _sig_error(f"{where} is of log {checkpoint.origin!r}, not {key.name!r}")
    return checkpoint


# --- RFC 9162 Merkle proofs ----------------------------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _hashes(values: list[bytes], what: str) -> None:
    if any(not isinstance(v, bytes) or len(v) != 32 for v in values):
        raise VerificationError(f"{what}: a hash is not 32 bytes")


def _is_size(value: Any) -> bool:
    """A tree size or leaf index: a non-negative int (JSON's true and 2.0 are not)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2; VerificationError if ``leaf`` at ``index`` is not in the tree of ``size`` with ``root``."""
    _hashes([leaf, root, *proof], "inclusion proof")
    if not (_is_size(index) and _is_size(size)) or not index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("the inclusion proof is too short")
    if r != root:
        raise VerificationError("the inclusion proof does not lead to the checkpoint's root")


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> None:
    """RFC 9162 §2.1.4.2; VerificationError unless the tree (size2, root2) extends (size1, root1)."""
    _hashes([root1, root2, *proof], "consistency proof")
    if not (_is_size(size1) and _is_size(size2)) or not 0 < size1 <= size2:
        raise VerificationError(f"no consistency proof from size {size1} to {size2}")
    if size1 == size2:
        if proof:
            raise VerificationError("a consistency proof between equal sizes must be empty")
        if root1 != root2:
            raise VerificationError("the log forked: two different roots at one size")
        return
    if not proof:
        raise VerificationError("the consistency proof is empty")
    if (size1 & (size1 - 1)) == 0:  # size1 a power of two: its root starts the proof
        proof = [root1, *proof]
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise VerificationError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("the consistency proof is too short")
    if fr != root1 or sr != root2:
        raise VerificationError("the log forked: the certificate's tree does not extend your checkpoint")


# --- the ledger events and the certificate --------------------------------------------------------------------------

def event_hash(event: dict[str, Any], payload_bytes: bytes | None = None) -> str:
    """The chain hash of one ledger event: SHA-256(prev_hash || LF || JCS(seq, ts, kind, actor) || LF || JCS(payload))."""
    header = canonical_json({"seq": event["seq"], "ts": event["ts"], "kind": event["kind"], "actor": event["actor"]})
    payload = canonical_json(event["payload"]) if payload_bytes is None else payload_bytes
    return hashlib.sha256(event["prev_hash"].encode() + b"\n" + header + b"\n" + payload).hexdigest()


def _format_1_json(value: Any) -> bytes:
    """How Lethe serialised payloads before RFC 8785 (sorted keys, compact, Python's float repr): only to name an
    old event's format in an error, never to accept it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def verify_bundle(bundle: Any, key: NoteKey) -> Checkpoint:
    """Check an inclusion-proof bundle: its signed checkpoint and each event up its audit path; return the checkpoint."""
    if not isinstance(bundle, dict) or bundle.get("type") != BUNDLE_TYPE:
        raise VerificationError("not a Lethe inclusion-proof bundle")
    checkpoint = open_checkpoint(bundle.get("checkpoint", ""), key, "the certificate's checkpoint")
    if not bundle.get("events"):
        raise VerificationError("the bundle proves no event")
    for entry in bundle["events"]:
        try:
            event = entry["event"]
            if event_hash(event) != event["hash"]:
                if event_hash(event, _format_1_json(event["payload"])) == event["hash"]:
                    raise VerificationError(
                        f"event {event['seq']} was written in Lethe's ledger format 1 (Python's JSON, before RFC 8785 "
                        "canonical JSON); this version proves only events whose bytes any JCS implementation "
                        "recomputes, so it cannot be checked here")
                raise VerificationError(f"event {event['seq']}: its hash does not match its content")
            if event["seq"] == 1 and event["prev_hash"] != GENESIS_HASH:
                raise VerificationError("event 1 does not start from the genesis hash")
            path = [b64decode_strict(node, "an audit path node") for node in entry["audit_path"]]
            verify_inclusion(entry["index"], checkpoint.tree_size, leaf_hash(canonical_json(event)), path,
                             checkpoint.root)
        except VerificationError as exc:
            if "event" in str(exc)[:6]:
                raise
            raise VerificationError(f"event {_seq(entry)}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VerificationError(f"malformed inclusion proof entry: {exc}") from None
    return checkpoint


def _seq(entry: Any) -> Any:
    return entry.get("event", {}).get("seq") if isinstance(entry, dict) and isinstance(entry.get("event"), dict) else "?"


def verify_statement(data: bytes, key: Ed25519PublicKey) -> dict[str, Any]:
    """Steps 1-2: the envelope's signature, then the in-toto Statement and the predicate's key and subject."""
    envelope = strict_json(data, "the certificate")
    body = verify_dsse(envelope, key, STATEMENT_PAYLOAD_TYPE)
    statement = strict_json(body, "the signed payload")
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _sig_error("the signed payload is not an in-toto Statement v1")
    if statement.get("predicateType") != CERTIFICATE_PREDICATE_TYPE:
        raise _sig_error(f"the statement's predicateType is {statement.get('predicateType')!r}, "
                         f"expected {CERTIFICATE_PREDICATE_TYPE!r}")
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        raise _sig_error("the statement carries no certificate predicate")
    if statement.get("subject") != [{"name": "verification-report",
                                     "digest": {"sha256": predicate.get("report_digest")}}]:
        raise _sig_error("the statement's subject is not the report the certificate names")
    if predicate.get("key_fingerprint") != key_fingerprint(key):
        raise _sig_error("the certificate names another signing key than the one that signed it")
    return statement


@dataclass(frozen=True)
class LaterCheckpoint:
    """A checkpoint of the same log signed after the certificate's (e.g. one a witness cosigned), with the RFC 9162
    consistency proof from the certificate's tree size to its size."""

    note: bytes | str
    proof: list[bytes]


def verify_certificate_bytes(
    data: bytes,
    vkey: NoteKey,
    checkpoint_note: bytes | str | None = None,
    witness_vkeys: tuple[NoteKey, ...] = (),
    proof: list[bytes] | None = None,
    witnessed: LaterCheckpoint | None = None,
) -> dict[str, Any]:
    """Every check of this file's docstring on a certificate's bytes; return the certificate (the predicate)."""
    return verify_certificate_statement(data, vkey, checkpoint_note, witness_vkeys, proof, witnessed)["predicate"]


def verify_certificate_statement(
    data: bytes,
    vkey: NoteKey,
    checkpoint_note: bytes | str | None = None,
    witness_vkeys: tuple[NoteKey, ...] = (),
    proof: list[bytes] | None = None,
    witnessed: LaterCheckpoint | None = None,
) -> dict[str, Any]:
    """As :func:`verify_certificate_bytes`, returning the whole verified in-toto Statement."""
    if vkey.key_type != ED25519_NOTE_TYPE:
        raise _sig_error(f"{vkey.name} is a witness's cosigner key (type 0x04), not the ledger's note key: pass it "
                         "as a witness key")
    statement = verify_statement(data, vkey.key)
    certificate = statement["predicate"]
    bundle, stated = certificate.get("inclusion_proof"), certificate.get("ledger_checkpoint")
    if bundle is None or not isinstance(stated, dict):
        raise VerificationError("the certificate carries no ledger inclusion proof")
    head = verify_bundle(bundle, vkey)
    if (head.tree_size, head.root.hex()) != (stated.get("tree_size"), stated.get("root")):
        raise VerificationError("the inclusion proof leads to another checkpoint than the certificate names")
    events = [entry["event"] for entry in bundle["events"]]
    if any(not isinstance(e.get("payload"), dict) or e["payload"].get("request_id") != certificate.get("request_id")
           for e in events):
        raise VerificationError("the inclusion proof proves events of another request")
    if not {"request.received", "request.verified"} <= {e.get("kind") for e in events}:
        raise VerificationError("the inclusion proof does not cover the request's receipt and verification")
    if witness_vkeys:
        check_witnessed(head, vkey, witness_vkeys, witnessed)
    if checkpoint_note is not None:
        check_older_checkpoint(checkpoint_note, head, vkey, proof)
    return statement


def check_older_checkpoint(note: bytes | str, head: Checkpoint, vkey: NoteKey,
                           proof: list[bytes] | None = None) -> Checkpoint:
    """An auditor's own checkpoint of the log: at the certificate's size it must have the same root; at a smaller
    size, ``proof`` (RFC 9162 consistency from its size to the certificate's) must show the certificate's tree
    extends it. Otherwise the log forked.

    Why the proof comes from the ledger at verification time and is not carried in the certificate: the ledger
    signs a checkpoint after every request, so an auditor may hold any of thousands of earlier ones; carrying a
    proof from each (about log2(n) hashes apiece) would grow every certificate with the ledger's history, and a
    checkpoint signed after the certificate could not be covered anyway. ``lethe certificate verify --checkpoint
    OLD.note --workspace WS`` computes the one proof needed from the ledger (``lethe ledger consistency`` prints it) and
    ``--consistency-proof FILE`` hands it to this file; the proof is checked against both signed roots, so a ledger
    that lies cannot make a forked checkpoint pass.
    """
    mine = open_checkpoint(note, vkey, "your checkpoint")
    if mine.tree_size > head.tree_size:
        raise VerificationError(f"your checkpoint (size {mine.tree_size}) is newer than the certificate's "
                                f"(size {head.tree_size}); check the ledger with `lethe ledger verify --checkpoint`")
    if mine.tree_size == head.tree_size:
        if mine.root != head.root:
            raise VerificationError("your checkpoint has the same size but another root: the log forked")
        return mine
    if proof is None:
        raise VerificationError(f"your checkpoint has size {mine.tree_size}, the certificate's {head.tree_size}: a "
                                "consistency proof between them is needed (lethe certificate verify --workspace, "
                                "or --consistency-proof)")
    verify_consistency(mine.tree_size, head.tree_size, mine.root, head.root, proof)
    return mine


def check_witnessed(head: Checkpoint, vkey: NoteKey, witnesses: tuple[NoteKey, ...],
                    later: LaterCheckpoint | None) -> None:
    """Each witness must have cosigned the certificate's checkpoint, or a later checkpoint of the same log whose
    tree extends the certificate's (RFC 9162 consistency from the certificate's size).

    Why a later one counts: a witness cosigns a tree head only after checking it extends every head it cosigned
    before (c2sp.org/tlog-cosignature), and certificates are written before any witness has run. If the
    certificate's tree is a prefix of a witnessed tree, the log showed the witness the same history the certificate
    proves; a certificate from a forked or rewritten log (a split view) fails here.
    """
    missing = [witness for witness in witnesses if not head.signed_by(witness)]
    if not missing:
        return
    if later is None:
        raise _sig_error(f"the certificate's checkpoint carries no cosignature by witness {missing[0].name}, and no "
                         "later witnessed checkpoint was given (standalone.py: --witnessed-checkpoint with --witnessed-proof; "
                         "lethe certificate verify: --workspace, whose checkpoints/ it searches)")
    witnessed = open_checkpoint(later.note, vkey, "the witnessed checkpoint")
    for witness in missing:
        if not witnessed.signed_by(witness):
            raise _sig_error(f"neither the certificate's checkpoint nor the witnessed one (size "
                             f"{witnessed.tree_size}) carries a cosignature by witness {witness.name}")
    if witnessed.tree_size < head.tree_size:
        raise VerificationError(f"the witnessed checkpoint (size {witnessed.tree_size}) is older than the "
                                f"certificate's (size {head.tree_size}): it cannot vouch for it")
    if witnessed.tree_size == head.tree_size:
        if witnessed.root != head.root:
            raise VerificationError(f"split view: the witness cosigned another root at the certificate's size "
                                    f"{head.tree_size}")
        return
    if not later.proof:
        raise VerificationError(f"a consistency proof from the certificate's size {head.tree_size} to the witnessed "
                                f"{witnessed.tree_size} is needed (--witnessed-proof; `lethe ledger consistency --from "
                                f"{head.tree_size} --to {witnessed.tree_size}` prints it)")
    try:
        verify_consistency(head.tree_size, witnessed.tree_size, head.root, witnessed.root, later.proof)
    except VerificationError as exc:
        raise VerificationError(f"split view: the witnessed log (size {witnessed.tree_size}) does not extend the "
                                f"certificate's tree (size {head.tree_size}): {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Lethe certificate of erasure offline.")
    parser.add_argument("certificate", help="the certificate JSON (a DSSE envelope)")
    parser.add_argument("--vkey", required=True, help="the ledger's C2SP verifier key (keys/signing.vkey)")
    parser.add_argument("--checkpoint", help="a signed checkpoint note you hold from the same ledger")
    parser.add_argument("--consistency-proof", help="RFC 9162 consistency proof from your checkpoint's size to the "
                        "certificate's: one base64 hash a line (lethe certificate verify --workspace computes it)")
    parser.add_argument("--witness-vkey", action="append", default=[],
                        help="a witness (cosigner vkey) whose cosignature is required, on the certificate's checkpoint "
                        "or on the --witnessed-checkpoint")
    parser.add_argument("--witnessed-checkpoint", help="a later checkpoint note of the same ledger, cosigned by the "
                        "witnesses (WORKSPACE/checkpoints/<size>.note after `lethe ledger witness`)")
    parser.add_argument("--witnessed-proof", help="RFC 9162 consistency proof from the certificate's size to the "
                        "witnessed checkpoint's: one base64 hash a line (lethe certificate verify --workspace "
                        "computes it)")
    args = parser.parse_args(argv)
    try:
        data = open(args.certificate, "rb").read()
        vkey = parse_vkey(open(args.vkey, encoding="utf-8").read())
        witnesses = tuple(parse_vkey(open(p, encoding="utf-8").read()) for p in args.witness_vkey)
        note = open(args.checkpoint, "rb").read() if args.checkpoint else None
        proof = _read_proof(args.consistency_proof) if args.consistency_proof else None
        witnessed = None
        if args.witnessed_checkpoint:
            witnessed = LaterCheckpoint(open(args.witnessed_checkpoint, "rb").read(),
                                        _read_proof(args.witnessed_proof) if args.witnessed_proof else [])
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {getattr(exc, 'filename', None) or 'an input'}: {exc}", file=sys.stderr)
        return 2
    except (VerificationError, ValueError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 2
    try:
        cert = verify_certificate_bytes(data, vkey, note, witnesses, proof, witnessed)
    except VerificationError as exc:
        print(f"FAIL ({exc.kind}): {exc}", file=sys.stderr)
        return 1
    stated = cert["ledger_checkpoint"]
    print(f"OK: certificate {cert.get('certificate_id')} for request {cert.get('request_id')} "
          f"({'PASS' if cert.get('passed') else 'FAIL'}, {cert.get('method')}) signed by {vkey.name}; "
          f"{len(cert['inclusion_proof']['events'])} events proven in ledger tree size {stated['tree_size']}"
          + (" consistent with your checkpoint" if note is not None else "")
          + (f"; cosigned by {len(witnesses)} witness(es)" if witnesses else ""))
    return 0


def _read_proof(path: str) -> list[bytes]:
    """A consistency proof file: one base64 hash a line."""
    return [b64decode_strict(line, "a consistency proof hash") for line in open(path, encoding="utf-8").read().split()]


if __name__ == "__main__":
    sys.exit(main())
