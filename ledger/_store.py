"""The store of raw interactions: the only place a subject's items, ratings and times are readable.

Mutable by design: erasure deletes a subject's rows (all, or a request's scope) and salt, then the file is rewritten (DuckDB's
``COPY FROM DATABASE`` into a fresh file) so that no freed page still holds the deleted bytes.
Dense indices (``user_idx``, ``item_idx``) are assigned once at ingestion; models speak only in them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger._db import transaction
from ledger._events import BulkQuery

if TYPE_CHECKING:  # loaded where used: the CLI's light commands never need them (issue 21, point 4)
    import numpy as np
    import pandas as pd

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS interactions (
        interaction_id BIGINT, subject VARCHAR, item VARCHAR, rating DOUBLE, ts BIGINT, split VARCHAR,
        user_idx INTEGER, item_idx INTEGER)""",
    "CREATE TABLE IF NOT EXISTS subjects (subject VARCHAR, subject_ref VARCHAR, user_idx INTEGER, salt VARCHAR)",
    "CREATE TABLE IF NOT EXISTS items (item VARCHAR, item_idx INTEGER)",
    # Forgotten pairs kept only until the request is verified (re-predict needs them), then shredded.
    "CREATE TABLE IF NOT EXISTS escrow (request_id VARCHAR, user_idx INTEGER, item_idx INTEGER, split VARCHAR)",
]


def _sorted_keys(values: pd.Series) -> np.ndarray:
    """Unique ids in natural order (numeric ids numerically), so indices look like the source's ids."""
    import numpy as np
    import pandas as pd

    unique = pd.unique(values)
    numeric = pd.to_numeric(pd.Series(unique), errors="coerce")
    if not numeric.isna().any():
        return unique[np.argsort(numeric.to_numpy(), kind="stable")]
    return np.sort(unique.astype(str))


class InteractionStore:
    """Raw interactions, subjects (with their salts) and the dense id maps of one workspace."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with transaction(self.path) as con:
            for statement in _SCHEMA:
                con.execute(statement)

    def count(self) -> int:
        with transaction(self.path) as con:
            return con.execute("SELECT count(*) FROM interactions").fetchone()[0]

    def clear(self) -> None:
        """Empty every table (used only to discard a half-finished ingestion the ledger never recorded)."""
        with transaction(self.path) as con:
            for table in ("interactions", "subjects", "items", "escrow"):
                con.execute(f"DELETE FROM {table}")
        self.compact()

    def load(self, frame: pd.DataFrame, subject_ref_of: Any) -> BulkQuery:
        """Insert a data set (columns subject, item, rating, timestamp, split); return its lineage rows' query.

        Interaction ids are 1..n in the frame's order; dense user/item indices in natural id order; one fresh
        random salt per subject. The heavy lifting (joins, 10M rows) runs inside DuckDB; Python touches only
        the distinct subjects and items. The returned query (interaction_id, subject_ref, salted commitment,
        split) runs in the ledger's transaction with this store attached read-only: it holds no item, rating
        or time, and the commitments become unopenable once a subject's salt is destroyed.
        """
        import numpy as np
        import pandas as pd

        subjects = pd.DataFrame({"subject": _sorted_keys(frame["subject"])})
        subjects["user_idx"] = np.arange(len(subjects), dtype=np.int32)
        subjects["subject_ref"] = [subject_ref_of(s) for s in subjects["subject"]]
        subjects["salt"] = [secrets.token_hex(16) for _ in range(len(subjects))]
        items = pd.DataFrame({"item": _sorted_keys(frame["item"])})
        items["item_idx"] = np.arange(len(items), dtype=np.int32)
        source = frame[["subject", "item", "rating", "timestamp", "split"]].assign(  # noqa: F841 - scanned by DuckDB
            row_number=np.arange(1, len(frame) + 1, dtype=np.int64)
        )
        new_subjects, new_items = subjects, items  # noqa: F841 - DuckDB scans these frames by name
        with transaction(self.path) as con:
            con.execute(
                "INSERT INTO interactions SELECT f.row_number, f.subject, f.item, f.rating, f.timestamp, f.split, "
                "s.user_idx, i.item_idx FROM source f JOIN new_subjects s USING (subject) "
                "JOIN new_items i USING (item) ORDER BY f.row_number"
            )
            con.execute("INSERT INTO subjects SELECT subject, subject_ref, user_idx, salt FROM new_subjects")
            con.execute("INSERT INTO items SELECT item, item_idx FROM new_items")
        return BulkQuery(
            "SELECT i.interaction_id, s.subject_ref, 'sha256:' || sha256(concat_ws(chr(31), s.salt, i.subject, "
            "i.item, coalesce(CAST(i.rating AS VARCHAR), ''), coalesce(CAST(i.ts AS VARCHAR), ''))) AS commitment, "
            "i.split FROM store.interactions i JOIN store.subjects s USING (user_idx) "
            "ORDER BY s.subject_ref, i.interaction_id",  # clustered by subject: lookups skip row groups
            attach={"store": self.path},
        )

    def subject(self, subject: str) -> tuple[str, int] | None:
        """``(subject_ref, user_idx)`` of a subject present in the store, or ``None``."""
        with transaction(self.path) as con:
            row = con.execute("SELECT subject_ref, user_idx FROM subjects WHERE subject = ?", [str(subject)]).fetchone()
        return (row[0], int(row[1])) if row else None

    def subject_by_ref(self, subject_ref: str) -> tuple[str, int] | None:
        """``(subject, user_idx)`` for a pseudonymous ref, while the subject's data still exists."""
        with transaction(self.path) as con:
            row = con.execute("SELECT subject, user_idx FROM subjects WHERE subject_ref = ?", [subject_ref]).fetchone()
        return (row[0], int(row[1])) if row else None

    def subjects_frame(self) -> pd.DataFrame:
        """Subject ids with their interaction counts (for pickers in the console and the demo)."""
        with transaction(self.path) as con:
            return con.execute(
                "SELECT s.subject, s.user_idx, count(i.interaction_id) AS interactions FROM subjects s "
                "LEFT JOIN interactions i USING (user_idx) GROUP BY ALL ORDER BY s.user_idx"
            ).df()

    def items_frame(self) -> pd.DataFrame:
        """Item ids with their dense indices (to map a model trained outside Lethe onto the store's indices)."""
        with transaction(self.path) as con:
            return con.execute("SELECT item, item_idx FROM items ORDER BY item_idx").df()

    def interactions(self, split: str | None = None, user_idx: int | None = None,
                     with_ratings: bool = False, ids: np.ndarray | None = None) -> pd.DataFrame:
        """``interaction_id, user_idx, item_idx, split`` rows (+ ``rating``, NaN if none, when asked: LASER's
        hypergraph weights), optionally of one split, one user, or the given interaction ids (a shard's)."""
        columns = "interaction_id, user_idx, item_idx, split" + (", rating" if with_ratings else "")
        query, params = f"SELECT {columns} FROM interactions WHERE true", []
        if split is not None:
            query, params = query + " AND split = ?", params + [split]
        if user_idx is not None:
            query, params = query + " AND user_idx = ?", params + [user_idx]
        if ids is not None:  # a semi-join with the frame DuckDB scans by name: no Python list of 10⁵ parameters
            import numpy as np
            import pandas as pd

            wanted = pd.DataFrame({"interaction_id": np.asarray(ids, dtype=np.int64)})  # noqa: F841
            query += " AND interaction_id IN (SELECT interaction_id FROM wanted)"
        with transaction(self.path) as con:
            return con.execute(query + " ORDER BY interaction_id", params).df()

    def scope_interaction_ids(self, user_idx: int, items: list[str] | None = None,
                              window: tuple[int, int] | None = None) -> tuple[list[int], list[str]]:
        """The subject's interaction ids within a scope: with the listed ``items`` and/or with a timestamp in
        ``window`` = ``[start, end)`` unix seconds; also the listed items the subject has no interaction with."""
        query, params = "SELECT i.interaction_id, i.item FROM interactions i WHERE i.user_idx = ?", [user_idx]
        if items is not None:
            query, params = query + " AND i.item IN (SELECT unnest(?::VARCHAR[]))", params + [list(items)]
        if window is not None:
            query, params = query + " AND i.ts >= ? AND i.ts < ?", params + list(window)
        with transaction(self.path) as con:
            rows = con.execute(query + " ORDER BY i.interaction_id", params).fetchall()
        found = {item for _, item in rows}
        return [int(i) for i, _ in rows], [item for item in items or [] if item not in found]

    def escrow(self, request_id: str, interaction_ids: list[int]) -> int:
        """Keep the (user, item) pairs of these interactions for verification until :meth:`shred_escrow`;
        idempotent."""
        with transaction(self.path) as con:
            con.execute("DELETE FROM escrow WHERE request_id = ?", [request_id])
            con.execute(
                "INSERT INTO escrow SELECT ?, user_idx, item_idx, split FROM interactions "
                "WHERE interaction_id IN (SELECT unnest(?::BIGINT[]))",
                [request_id, [int(i) for i in interaction_ids]],
            )
            return con.execute("SELECT count(*) FROM escrow WHERE request_id = ?", [request_id]).fetchone()[0]

    def escrowed(self, request_id: str) -> pd.DataFrame:
        with transaction(self.path) as con:
            return con.execute(
                "SELECT user_idx, item_idx, split FROM escrow WHERE request_id = ?", [request_id]
            ).df()

    def erase_subject(self, subject_ref: str) -> int:
        """Delete the subject's rows and salt, then rewrite the file; returns the rows deleted (0 if already gone)."""
        return self.erase_interactions(subject_ref, None)

    def erase_interactions(self, subject_ref: str, interaction_ids: list[int] | None) -> int:
        """Delete the subject's rows (all, or those of ``interaction_ids``), then rewrite the file; returns the rows
        deleted (0 if already gone: safe to repeat after a crash).

        When no row of the subject is left, their salt and index go too. When some remain, the salt is replaced by
        a fresh one: the ledger's commitments to the erased rows were salted with the old one, and with it gone
        nobody can confirm a guessed item, rating or time against them (the remaining rows' commitments become
        unopenable too; nothing in Lethe opens them, and the subject's privacy outweighs that).
        """
        deleted = 0
        only = "" if interaction_ids is None else " AND interaction_id IN (SELECT unnest(?::BIGINT[]))"
        ids = [] if interaction_ids is None else [[int(i) for i in interaction_ids]]
        with transaction(self.path) as con:
            row = con.execute("SELECT user_idx FROM subjects WHERE subject_ref = ?", [subject_ref]).fetchone()
            if row is not None:
                user_idx = row[0]
                deleted = con.execute("SELECT count(*) FROM interactions WHERE user_idx = ?" + only,
                                      [user_idx] + ids).fetchone()[0]
                con.execute("DELETE FROM interactions WHERE user_idx = ?" + only, [user_idx] + ids)
                left = con.execute("SELECT count(*) FROM interactions WHERE user_idx = ?", [user_idx]).fetchone()[0]
                if left == 0:
                    con.execute("DELETE FROM subjects WHERE subject_ref = ?", [subject_ref])
                elif deleted:
                    con.execute("UPDATE subjects SET salt = ? WHERE subject_ref = ?", [secrets.token_hex(16), subject_ref])
                # An item known only through this subject's rows would still say what they interacted with.
                con.execute("DELETE FROM items WHERE item_idx NOT IN (SELECT DISTINCT item_idx FROM interactions)")
        self.compact()  # also when nothing was left: a crash may have come between the delete and the rewrite
        return int(deleted)

    def shred_escrow(self, request_id: str) -> None:
        with transaction(self.path) as con:
            con.execute("DELETE FROM escrow WHERE request_id = ?", [request_id])
        self.compact()

    def compact(self) -> None:
        """Rewrite the file so deleted rows leave no bytes behind; atomic rename, old file removed."""
        fresh = self.path.with_suffix(".compact.duckdb")
        fresh.unlink(missing_ok=True)
        with transaction(self.path) as con:
            con.commit()
            con.execute(f"ATTACH '{fresh}' AS fresh")
            con.execute("COPY FROM DATABASE store TO fresh")
            con.execute("DETACH fresh")
            con.begin()
        os.replace(fresh, self.path)
        Path(str(self.path) + ".wal").unlink(missing_ok=True)
