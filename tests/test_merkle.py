"""The Merkle log follows RFC 6962/9162: the proofs it makes pass the one verifier (verify/standalone.py), and any
flipped node or leaf is caught."""

from __future__ import annotations

import pytest

from ledger._merkle import consistency_proof, inclusion_proof, leaf_hash, root_hash
from verify.standalone import VerificationError, verify_consistency, verify_inclusion

LEAVES = [leaf_hash(f"event {i}".encode()) for i in range(13)]


def _flip(node: bytes) -> bytes:
    return bytes([node[0] ^ 1]) + node[1:]


def test_root_of_rfc6962_known_answer() -> None:
    # RFC 6962 reference: the root of the empty tree is SHA-256 of the empty string; one leaf is its leaf hash.
    assert root_hash([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root_hash(LEAVES[:1]) == LEAVES[0]


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 13])
def test_every_leaf_has_a_verifying_inclusion_proof(size: int) -> None:
    root = root_hash(LEAVES[:size])
    for index in range(size):
        verify_inclusion(index, size, LEAVES[index], inclusion_proof(index, LEAVES[:size]), root)


def test_flipped_proof_node_fails() -> None:
    proof = inclusion_proof(5, LEAVES)
    for position in range(len(proof)):
        forged = [*proof[:position], _flip(proof[position]), *proof[position + 1 :]]
        with pytest.raises(VerificationError):
            verify_inclusion(5, len(LEAVES), LEAVES[5], forged, root_hash(LEAVES))


def test_wrong_leaf_or_index_fails() -> None:
    proof = inclusion_proof(5, LEAVES)
    with pytest.raises(VerificationError):
        verify_inclusion(5, len(LEAVES), LEAVES[6], proof, root_hash(LEAVES))
    with pytest.raises(VerificationError):
        verify_inclusion(4, len(LEAVES), LEAVES[5], proof, root_hash(LEAVES))


@pytest.mark.parametrize(("old", "new"), [(1, 2), (2, 3), (3, 7), (4, 8), (5, 13), (8, 13), (13, 13)])
def test_consistency_between_prefix_trees(old: int, new: int) -> None:
    proof = consistency_proof(old, LEAVES[:new])
    verify_consistency(old, new, root_hash(LEAVES[:old]), root_hash(LEAVES[:new]), proof)


def test_rewritten_history_is_inconsistent() -> None:
    rewritten = [*LEAVES[:2], leaf_hash(b"forged"), *LEAVES[3:]]
    proof = consistency_proof(5, rewritten[:13])
    with pytest.raises(VerificationError):
        verify_consistency(5, 13, root_hash(LEAVES[:5]), root_hash(rewritten), proof)
