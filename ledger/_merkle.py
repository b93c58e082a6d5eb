"""RFC 6962 / RFC 9162 Merkle tree hashing, inclusion proofs and consistency proofs over the ledger's events.

What an outsider recomputes, in any language:

- **Leaf bytes.** Leaf ``i`` (0-based) is the event with ``seq = i + 1``, written as the RFC 8785 (JCS) canonical
  JSON of the object ``{"seq", "ts", "kind", "actor", "payload", "prev_hash", "hash"}``: ``seq`` an integer,
  ``ts`` the ISO-8601 time string, ``kind`` and ``actor`` strings, ``payload`` the event's JSON object,
  ``prev_hash`` and ``hash`` the 64-hex chain hashes (see ``ledger._events``; JCS in ``ledger._canonical``).
  An inclusion proof carries the event itself, so a verifier serialises it with any JCS implementation.
- **Hashes** (RFC 9162 §2.1.1): ``leaf = SHA-256(0x00 || leaf bytes)``, ``node = SHA-256(0x01 || left || right)``,
  the empty tree's root is ``SHA-256("")``. Every leaf hash, proof node and root is exactly 32 bytes; anything
  else (a 0-byte root or leaf hash, a truncated node) is refused before any hashing.
- **Proofs.** Generation follows RFC 6962 §2.1 (PATH, SUBPROOF). A consistency proof from size 0 is not made:
  every tree extends the empty one, so such a "proof" shows nothing (transparency-dev/merkle refuses it too).

This module is the log's side: it makes roots and proofs. Checking them (RFC 9162 §2.1.3.2 and §2.1.4.2) is
``verify/standalone.py``'s, the one verifier Lethe's own commands and an auditor's copy both run. The functions are
pure, over lists of 32-byte leaf hashes; the suite checks what they make against that verifier, transparency-dev's
probes and a real Certificate Transparency log (``tests/test_evidence_vectors.py``).
"""

from __future__ import annotations

import hashlib

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof does not verify (or is malformed)."""


def _check_hash(value: object, what: str) -> bytes:
    """``value`` if it is a 32-byte hash; otherwise :class:`ProofError` naming ``what``."""
    if not isinstance(value, (bytes, bytearray)) or len(value) != HASH_SIZE:
        size = f"{len(value)} bytes" if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte SHA-256 hash, not {size}")
    return bytes(value)


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf's bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    # Unchecked: for children that are already known to be 32-byte hashes (checked inputs, or outputs of this).
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes, computed level by level (RFC 6962 §2.1 gives the same tree)."""
    if not leaves:
        return EMPTY_ROOT
    level = [_check_hash(leaf, f"leaf hash {i}") for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        level = _parents(level)
    return level[0]


def _parents(level: list[bytes]) -> list[bytes]:
    """The next level up: each pair hashed, an odd last node moved up as it is (RFC 9162's tree, level by level)."""
    paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def inclusion_proof(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` in the tree of ``leaves``."""
    return inclusion_proofs([index], leaves)[0]


def inclusion_proofs(indices: list[int], leaves: list[bytes]) -> list[list[bytes]]:
    """The audit paths of several leaves, from one pass up the tree: O(n) hashes for all of them, where proving
    each on its own costs O(n) apiece (a request proves several events; at 10M events that is seconds each).

    Level by level, a node's sibling joins its path; the last node of an odd level has none and moves up as it is:
    the tree of RFC 9162 §2.1.1 (split at the largest power of two), so the paths are its PATH(m, D[n]).
    """
    for index in indices:
        if not 0 <= index < len(leaves):
            raise ProofError(f"leaf {index} is outside a tree of size {len(leaves)}")
    paths: list[list[bytes]] = [[] for _ in indices]
    positions = list(indices)
    level = [_check_hash(leaf, f"leaf hash {i}") for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        for path, position in zip(paths, positions):
            if position ^ 1 < len(level):
                path.append(level[position ^ 1])
        positions = [position >> 1 for position in positions]
        level = _parents(level)
    return paths


def consistency_proof(old_size: int, leaves: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first ``old_size`` leaves is a prefix of this one."""
    if not 0 < old_size <= len(leaves):
        raise ProofError(f"cannot prove size {old_size} consistent with size {len(leaves)}")
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root_hash(leaves)]
    k = _split(n)
    if m <= k:
        return _subproof(m, leaves[:k], complete) + [root_hash(leaves[k:])]
    return _subproof(m - k, leaves[k:], False) + [root_hash(leaves[:k])]
