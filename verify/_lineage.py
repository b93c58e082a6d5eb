"""Lineage proof for exact methods: from the ledger alone, no serving checkpoint trained on erased data.

For every live checkpoint of a deployment, its training set is re-derived (shard assignments minus the
interactions of every request it excludes), its digest compared with the one recorded when it was trained,
and the set checked to hold none of the request's interaction ids. Immediate: no retraining needed.

A checkpoint of an approximate method (``exact = False``: warm start, AltEraser, CFF) honestly records that
its weights descend from a model trained on the erased data, so its training set still holds them. Its
digest is checked the same way, but no exactness is claimed: the proof says so, counts the erased ids in its
ancestry, and passes on the digest alone (``exact_claimed`` is False); the statistical checks carry the claim.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ledger import Ledger
from unlearn.methods import get_method
from unlearn.training_data import training_set_digest


@dataclass(frozen=True)
class LineageProof:
    """Outcome over one deployment: ``ok`` with what was checked, or the first offending checkpoint."""

    deployment_id: str
    ok: bool
    checkpoints_checked: int
    summary: str
    exact_claimed: bool = True


def prove_lineage(ledger: Ledger, deployment_id: str, erased_ids: set[int]) -> LineageProof:
    """Check every live checkpoint of ``deployment_id`` against ``erased_ids``."""
    live = ledger.live_checkpoints(deployment_id)
    erased = np.fromiter(erased_ids, dtype=np.int64)
    approximate: list[str] = []
    for shard, record in sorted(live.items()):
        method = get_method(record.method)
        ids = method.training_ids(ledger, record)
        if training_set_digest(ids) != record.training_set_digest:
            return LineageProof(deployment_id, False, len(live),
                                f"{record.checkpoint_id}: training set does not match its recorded digest",
                                method.exact)
        leaked = int(np.isin(ids, erased).sum())
        if leaked and not method.exact:
            approximate.append(f"{record.checkpoint_id} descends from a model trained on {leaked} of them")
        elif leaked:
            return LineageProof(deployment_id, False, len(live),
                                f"{record.checkpoint_id} trained on {leaked} erased interaction(s)")
    if approximate or not all(get_method(r.method).exact for r in live.values()):
        return LineageProof(
            deployment_id, True, len(live),
            f"{len(live)} serving checkpoint(s) of {deployment_id} (approximate method): training-set digests "
            f"re-derived from the ledger match; NOT claimed exact — "
            + ("; ".join(approximate) or "no erased id in their ancestry")
            + f" (of {len(erased_ids)} erased); the statistical checks carry the erasure claim",
            exact_claimed=False,
        )
    return LineageProof(
        deployment_id, True, len(live),
        f"{len(live)} serving checkpoint(s) of {deployment_id}: training-set digests re-derived from the ledger "
        f"match, and none contains any of the {len(erased_ids)} erased interaction id(s)",
    )
