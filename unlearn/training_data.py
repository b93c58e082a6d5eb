"""The training view of the store: dense index arrays, sparse matrices, and training-set digests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ledger import Ledger, sha256_hex


def training_set_digest(interaction_ids: np.ndarray) -> str:
    """Digest of a checkpoint's training set: SHA-256 of its sorted interaction ids (int64, little endian)."""
    ids = np.sort(np.asarray(interaction_ids, dtype="<i8"))
    return "sha256:" + sha256_hex(ids.tobytes())


@dataclass(frozen=True)
class Interactions:
    """Interaction ids with their dense user/item indices, in one index space of size n_users × n_items."""

    interaction_id: np.ndarray
    user_idx: np.ndarray
    item_idx: np.ndarray
    n_users: int
    n_items: int

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, n_users: int, n_items: int) -> "Interactions":
        return cls(
            frame["interaction_id"].to_numpy(np.int64),
            frame["user_idx"].to_numpy(np.int64),
            frame["item_idx"].to_numpy(np.int64),
            n_users,
            n_items,
        )

    @classmethod
    def from_store(cls, ledger: Ledger, split: str, ids: np.ndarray | None = None) -> "Interactions":
        """The current rows of one split (erased subjects are already gone from the store), optionally only
        those with the given interaction ids."""
        dataset = ledger.require_dataset()
        return cls.from_frame(ledger.store.interactions(split=split, ids=ids), dataset["n_users"], dataset["n_items"])

    def __len__(self) -> int:
        return len(self.interaction_id)

    def subset(self, mask: np.ndarray) -> "Interactions":
        return Interactions(
            self.interaction_id[mask], self.user_idx[mask], self.item_idx[mask], self.n_users, self.n_items
        )

    def without(self, interaction_ids: set[int] | np.ndarray) -> "Interactions":
        """These interactions minus the given ids."""
        drop = np.fromiter(interaction_ids, dtype=np.int64) if isinstance(interaction_ids, set) else interaction_ids
        return self.subset(~np.isin(self.interaction_id, drop))

    def csr(self) -> sp.csr_matrix:
        """Binary user × item matrix (duplicates collapse to 1)."""
        matrix = sp.csr_matrix(
            (np.ones(len(self), dtype=np.float32), (self.user_idx, self.item_idx)), shape=(self.n_users, self.n_items)
        )
        matrix.data[:] = 1.0
        return matrix
