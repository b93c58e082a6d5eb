"""Ingestion: a loaded data set, split per user, into the store, with its digest and split in the ledger."""

from __future__ import annotations

from ledger import Event, Ledger
from unlearn.data import RawInteractions, per_user_split


def ingest(
    ledger: Ledger, raw: RawInteractions, test_fraction: float = 0.2, split_seed: int = 0, actor: str = "system"
) -> Event:
    """Split (unless the source fixes its split), load into the store and record ``dataset.ingested``."""
    frame = raw.frame.assign(split=per_user_split(raw.frame, test_fraction=test_fraction, seed=split_seed))
    facts = {
        "name": raw.name,
        "source": raw.source,
        "path": raw.path,
        "digest": raw.digest,
        "params": raw.params,
        "split": "fixed by source" if raw.fixed_split else {"test_fraction": test_fraction, "seed": split_seed},
    }
    return ledger.ingest(frame, facts, actor=actor)
