"""A recommender you might already run: matrix factorisation in plain PyTorch, trained with BPR and Adam.

Nothing here imports Lethe. To let Lethe retrain, shard, warm-start and verify it, the module meets the small
protocol of ``unlearn.adapters.EmbeddingModule``:

- ``EmbeddingMF(n_users, n_items, **params)`` builds it for an index space (params are JSON values);
- ``user_embedding`` / ``item_embedding`` (``torch.nn.Embedding``) and ``item_bias`` (``Embedding(n_items, 1)``)
  are its parameters, and ``forward(users, items)`` scores ⟨user, item⟩ + bias;
- ``fit(user_idx, item_idx, seed)`` trains in place from the current parameters (a trained module continues).

Train it outside Lethe and register it (see ``examples/README.md``)::

    python examples/torch_embedding_model.py ../shared/data/ml-100k/u.data --out mf.pt --train-out train.csv \\
        --test-out test.csv
    lethe register --framework torch --model mf.pt --data train.csv --test-data test.csv \\
        -p module=examples/torch_embedding_model.py:EmbeddingMF -p embedding_size=32 -p epochs=5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


class EmbeddingMF(torch.nn.Module):
    """score(u, i) = ⟨p_u, q_i⟩ + b_i, fitted on implicit feedback with BPR's pairwise loss."""

    def __init__(self, n_users: int, n_items: int, embedding_size: int = 32, epochs: int = 5,
                 learning_rate: float = 0.01, batch_size: int = 4096, reg: float = 1e-4) -> None:
        super().__init__()
        self.user_embedding = torch.nn.Embedding(n_users, embedding_size)
        self.item_embedding = torch.nn.Embedding(n_items, embedding_size)
        self.item_bias = torch.nn.Embedding(n_items, 1)
        torch.nn.init.normal_(self.user_embedding.weight, std=0.1)
        torch.nn.init.normal_(self.item_embedding.weight, std=0.1)
        torch.nn.init.zeros_(self.item_bias.weight)
        self.epochs, self.learning_rate, self.batch_size, self.reg = epochs, learning_rate, batch_size, reg

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (self.user_embedding(users) * self.item_embedding(items)).sum(-1)
        return dot + self.item_bias(items).squeeze(-1)

    def fit(self, user_idx: np.ndarray, item_idx: np.ndarray, seed: int) -> None:
        """BPR: each epoch, every positive (u, i) against one uniformly drawn item j; Adam on the mean loss."""
        rng = np.random.default_rng(seed)
        users, items = torch.as_tensor(user_idx, dtype=torch.long), torch.as_tensor(item_idx, dtype=torch.long)
        optimizer = torch.optim.Adam(self.parameters(), lr=self.learning_rate)
        n_items = self.item_embedding.num_embeddings
        for _ in range(self.epochs):
            order = torch.as_tensor(rng.permutation(len(users)))
            negatives = torch.as_tensor(rng.integers(0, n_items, len(users)))
            for start in range(0, len(users), self.batch_size):
                batch = order[start:start + self.batch_size]
                u, i, j = users[batch], items[batch], negatives[batch]
                margin = self(u, i) - self(u, j)
                penalty = self.user_embedding(u).pow(2).sum() + self.item_embedding(i).pow(2).sum() \
                    + self.item_embedding(j).pow(2).sum()
                loss = torch.nn.functional.softplus(-margin).mean() + self.reg * penalty / len(batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()


def main() -> None:
    """Your own pipeline: read MovieLens-100K, hold out 20% of each user's ratings, train, save."""
    import pandas as pd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ratings", type=Path, help="MovieLens-100K u.data")
    parser.add_argument("--out", type=Path, default=Path("mf.pt"))
    parser.add_argument("--train-out", type=Path, default=Path("train.csv"))
    parser.add_argument("--test-out", type=Path, default=Path("test.csv"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ratings = pd.read_csv(args.ratings, sep="\t", names=["user_id", "item_id", "rating", "timestamp"])
    held_out = ratings.sample(frac=1.0, random_state=args.seed).groupby("user_id").cumcount() < \
        (0.2 * ratings.groupby("user_id")["item_id"].transform("size")).round()
    train, test = ratings[~held_out], ratings[held_out]
    users = pd.Categorical(train["user_id"])  # model row r = r-th training user id in sorted order
    items = pd.Categorical(train["item_id"])
    torch.manual_seed(args.seed)
    model = EmbeddingMF(len(users.categories), len(items.categories))
    model.fit(users.codes.astype(np.int64), items.codes.astype(np.int64), args.seed)
    torch.save(model.state_dict(), args.out)
    train.to_csv(args.train_out, index=False)
    test.to_csv(args.test_out, index=False)
    print(f"trained on {len(train):,} ratings; saved {args.out}, {args.train_out}, {args.test_out}")


if __name__ == "__main__":
    main()
