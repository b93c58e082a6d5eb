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
- **Proofs.** Generation follows RFC 6962 §2.1 (PATH, SUBPROOF); verification RFC 9162 §2.1.3.2 (inclusion) and
  §2.1.4.2 (consistency). A consistency proof from size 0 is refused: every tree extends the empty one, so such
  a "proof" shows nothing (transparency-dev/merkle refuses it too).

The functions are pure, over lists of 32-byte leaf hashes; the suite checks them against transparency-dev's
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


def _check_size(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProofError(f"{what} must be a non-negative integer, not {value!r}")
    return value


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf's bytes."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``; both children must be 32-byte hashes."""
    return _node(_check_hash(left, "a left child"), _check_hash(right, "a right child"))


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


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2; raises :class:`ProofError` unless ``leaf`` is at ``index`` of the tree with ``root``."""
    leaf, root = _check_hash(leaf, "the leaf hash"), _check_hash(root, "the root hash")
    proof = [_check_hash(node, f"proof node {i}") for i, node in enumerate(proof)]
    index, tree_size = _check_size(index, "the leaf index"), _check_size(tree_size, "the tree size")
    if not 0 <= index < tree_size:
        raise ProofError(f"leaf index {index} is outside a tree of size {tree_size}")
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise ProofError("inclusion proof does not lead to the checkpoint's root hash")


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


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> None:
    """RFC 9162 §2.1.4.2; raises :class:`ProofError` unless the old tree is a prefix of the new one.

    Refused before any hashing: a hash that is not 32 bytes, ``old_size > new_size``, and ``old_size == 0``
    (nothing to prove). Equal sizes need an empty proof and equal roots.
    """
    old_root, new_root = _check_hash(old_root, "the old root hash"), _check_hash(new_root, "the new root hash")
    proof = [_check_hash(node, f"proof node {i}") for i, node in enumerate(proof)]
    old_size, new_size = _check_size(old_size, "the old tree size"), _check_size(new_size, "the new tree size")
    if old_size > new_size:
        raise ProofError(f"the old tree (size {old_size}) is larger than the new one (size {new_size})")
    if old_size == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing (every log extends it)")
    if old_size == new_size:
        if proof:
            raise ProofError(f"both trees have size {old_size}: the consistency proof must be empty")
        if old_root != new_root:
            raise ProofError("same tree size but different roots: the log was rewritten")
        return
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is the first node
        proof = [old_root, *proof]
    if not proof:
        raise ProofError("empty consistency proof")
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise ProofError("consistency proof fails: the new log does not extend the old checkpoint")
