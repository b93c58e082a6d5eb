"""The append-only, hash-chained event log: the system of record.

Each event is ``(seq, ts, kind, actor, payload, prev_hash, hash)`` with
``hash = sha256(prev_hash || canonical_json({seq, ts, kind, actor, payload}))``; the payload is stored as the
exact canonical bytes that were hashed. Facts too bulky for a payload (one row per interaction: lineage,
shard assignments) go to append-only bulk tables whose rows carry the ``seq`` of the event that added them;
that event's payload records the rows' count and digest, so the chain commits to them as well.

No method updates or deletes an event. DuckDB has no row triggers, so append-only is enforced by this API
plus :meth:`EventLog.verify`, which recomputes everything and names the first bad ``seq``.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ledger._canonical import canonical_json, sha256_hex
from ledger._db import transaction
from ledger._merkle import leaf_hash

if TYPE_CHECKING:  # only named in annotations: importing pandas costs a CLI command ~0.4 s (issue 21, point 4)
    import pandas as pd

GENESIS_HASH = "0" * 64

#: Bulk tables: name -> (columns with DuckDB types, sort key that makes the digest order-independent).
BULK_TABLES: dict[str, tuple[dict[str, str], list[str]]] = {
    "interaction_lineage": (
        {"interaction_id": "BIGINT", "subject_ref": "VARCHAR", "commitment": "VARCHAR", "split": "VARCHAR"},
        ["interaction_id"],
    ),
    "shard_assignments": (
        {"deployment_id": "VARCHAR", "interaction_id": "BIGINT", "shard": "INTEGER"},
        ["deployment_id", "interaction_id"],
    ),
}
DIGEST_BATCH_ROWS = 1_000_000


@dataclass(frozen=True)
class BulkQuery:
    """Bulk rows produced by SQL inside the ledger's transaction (no round trip through Python).

    ``attach`` maps aliases to other DuckDB files the query reads, attached read-only for its duration.
    """

    sql: str
    attach: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """One ledger fact, as stored."""

    seq: int
    ts: str
    kind: str
    actor: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class IntegrityResult:
    """Outcome of :meth:`EventLog.verify`: ``ok`` or the first bad ``seq`` with the reason."""

    ok: bool
    events_checked: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None


def event_hash(prev_hash: str, seq: int, ts: str, kind: str, actor: str, payload_bytes: bytes) -> str:
    """The chain hash of one event (payload given as its stored canonical bytes)."""
    header = canonical_json({"seq": seq, "ts": ts, "kind": kind, "actor": actor})
    return sha256_hex(prev_hash.encode() + b"\n" + header + b"\n" + payload_bytes)


def bulk_digest(con: duckdb.DuckDBPyConnection, table: str, seq: int) -> tuple[int, str]:
    """Row count and order-independent digest of one event's bulk rows, streamed in sorted batches.

    Each row is its columns joined by commas (NULL as empty), rows joined by newlines, sorted by the table's
    key; SHA-256 over that text. Computed in batches so 10M rows never sit in Python memory at once.
    """
    columns, key = BULK_TABLES[table]
    line = " || ',' || ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in columns)
    reader = con.sql(
        f"SELECT {line} AS line FROM {table} WHERE event_seq = $1 ORDER BY {', '.join(key)}", params=[seq]
    ).to_arrow_reader(DIGEST_BATCH_ROWS)
    digest, rows = hashlib.sha256(), 0
    for batch in reader:
        lines = batch.column(0).to_pylist()
        if rows:
            digest.update(b"\n")
        digest.update("\n".join(lines).encode())
        rows += len(lines)
    return rows, "sha256:" + digest.hexdigest()


def event_leaf(event: "Event") -> bytes:
    """The Merkle leaf data of an event: its canonical JSON, chain hashes included."""
    return canonical_json(
        {"seq": event.seq, "ts": event.ts, "kind": event.kind, "actor": event.actor, "payload": event.payload,
         "prev_hash": event.prev_hash, "hash": event.hash}
    )


def _schema_sql() -> list[str]:
    statements = [
        """CREATE TABLE IF NOT EXISTS events (
            seq BIGINT PRIMARY KEY, ts VARCHAR NOT NULL, kind VARCHAR NOT NULL, actor VARCHAR NOT NULL,
            payload VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)"""
    ]
    for table, (columns, _) in BULK_TABLES.items():
        cols = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols}, event_seq BIGINT NOT NULL)")
    statements.append(
        "CREATE TABLE IF NOT EXISTS tree_heads (tree_size BIGINT PRIMARY KEY, note VARCHAR NOT NULL)"
    )
    return statements


class EventLog:
    """Append and read events of one ledger file; verify the whole chain."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with transaction(self.path) as con:
            for statement in _schema_sql():
                con.execute(statement)

    def append(
        self,
        kind: str,
        payload: Mapping[str, Any],
        actor: str = "system",
        bulk: Mapping[str, pd.DataFrame | BulkQuery] | None = None,
    ) -> Event:
        """Append one event and its bulk rows atomically; the payload records each bulk table's digest.

        Appends from threads of one process (the API's handlers, the verifier's) take turns: each reads the head and
        writes the next seq in one transaction, and DuckDB's optimistic transactions within a process would let two
        read the same head (one then fails on the duplicate seq). Other processes wait on the file lock instead.
        """
        payload = dict(payload)
        with _append_lock(self.path), transaction(self.path) as con:
            ts = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            last = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
            declared = {}
            for name, rows in (bulk or {}).items():
                _insert_bulk(con, name, rows, seq)
                count, digest = bulk_digest(con, name, seq)
                declared[name] = {"rows": count, "digest": digest}
            if declared:
                payload["bulk"] = declared
            payload_bytes = canonical_json(payload)
            digest = event_hash(prev_hash, seq, ts, kind, actor, payload_bytes)
            con.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [seq, ts, kind, actor, payload_bytes.decode(), prev_hash, digest],
            )
        return Event(seq, ts, kind, actor, json.loads(payload_bytes), prev_hash, digest)

    def events(self, kinds: Iterable[str] | None = None, after_seq: int = 0) -> list[Event]:
        """Events in ``seq`` order, optionally only of the given kinds (prefix ``request.`` matches all)."""
        query = "SELECT seq, ts, kind, actor, payload, prev_hash, hash FROM events WHERE seq > ?"
        params: list[Any] = [after_seq]
        if kinds is not None:
            kinds = list(kinds)
            clauses = []
            for kind in kinds:
                if kind.endswith("."):
                    clauses.append("starts_with(kind, ?)")
                else:
                    clauses.append("kind = ?")
                params.append(kind)
            query += " AND (" + " OR ".join(clauses) + ")"
        with transaction(self.path) as con:
            rows = con.execute(query + " ORDER BY seq", params).fetchall()
        return [Event(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    def head(self) -> Event | None:
        """The latest event, or ``None`` for an empty ledger."""
        with transaction(self.path) as con:
            row = con.execute(
                "SELECT seq, ts, kind, actor, payload, prev_hash, hash FROM events ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return Event(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6]) if row else None

    def query(self, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Read-only SQL over the ledger tables (events and bulk tables) as a DataFrame."""
        with transaction(self.path) as con:
            return con.execute(sql, params or []).df()

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read-only SQL over the ledger tables as tuples (no pandas: for the command line's light paths)."""
        with transaction(self.path) as con:
            return con.execute(sql, params or []).fetchall()

    def verify(self) -> IntegrityResult:
        """Recompute every hash and bulk digest in order; report the first event that does not match."""
        with transaction(self.path) as con:
            rows = con.execute(
                "SELECT seq, ts, kind, actor, payload, prev_hash, hash FROM events ORDER BY seq"
            ).fetchall()
            prev_hash, expected_seq = GENESIS_HASH, 1
            for seq, ts, kind, actor, payload_text, stored_prev, stored_hash in rows:
                fault = None
                if seq != expected_seq:
                    fault = f"sequence gap: expected {expected_seq}"
                elif stored_prev != prev_hash:
                    fault = "prev_hash does not match the previous event's hash"
                elif event_hash(prev_hash, seq, ts, kind, actor, payload_text.encode()) != stored_hash:
                    fault = "hash does not match the event's content (payload, kind, actor or time was altered)"
                else:
                    fault = _check_bulk(con, seq, json.loads(payload_text))
                if fault:
                    return IntegrityResult(False, seq - 1, prev_hash, seq, f"event {seq} ({kind}): {fault}")
                prev_hash, expected_seq = stored_hash, seq + 1
            for name in BULK_TABLES:
                stray = con.execute(
                    f"SELECT min(event_seq) FROM {name} WHERE event_seq NOT IN (SELECT seq FROM events)"
                ).fetchone()[0]
                if stray is not None:
                    return IntegrityResult(False, len(rows), prev_hash, int(stray), f"{name} has rows of no event")
        return IntegrityResult(True, len(rows), prev_hash)

    # -- Merkle log -----------------------------------------------------------------------------
    def leaf_hashes(self, tree_size: int | None = None) -> list[bytes]:
        """Merkle leaf hashes of the first ``tree_size`` events (all by default)."""
        events = self.events()
        return [leaf_hash(event_leaf(e)) for e in events[: len(events) if tree_size is None else tree_size]]

    def save_tree_head(self, note: str, tree_size: int) -> None:
        with transaction(self.path) as con:
            con.execute("INSERT OR REPLACE INTO tree_heads VALUES (?, ?)", [tree_size, note])

    def tree_head(self, tree_size: int) -> str | None:
        """The stored checkpoint note of size ``tree_size``, if one was signed."""
        with transaction(self.path) as con:
            row = con.execute("SELECT note FROM tree_heads WHERE tree_size = ?", [tree_size]).fetchone()
        return row[0] if row else None

    def tree_heads(self) -> list[str]:
        """Every stored checkpoint note, smallest tree first."""
        with transaction(self.path) as con:
            return [r[0] for r in con.execute("SELECT note FROM tree_heads ORDER BY tree_size").fetchall()]


_APPEND_LOCKS: dict[Path, threading.Lock] = {}
_APPEND_LOCKS_GUARD = threading.Lock()


def _append_lock(path: Path) -> threading.Lock:
    """This process's lock on appending to the event log at ``path``."""
    with _APPEND_LOCKS_GUARD:
        return _APPEND_LOCKS.setdefault(Path(path).resolve(), threading.Lock())


def _insert_bulk(con: duckdb.DuckDBPyConnection, name: str, rows: pd.DataFrame | BulkQuery, seq: int) -> None:
    columns = ", ".join(BULK_TABLES[name][0])
    if isinstance(rows, BulkQuery):
        for alias, path in rows.attach.items():
            con.execute(f"ATTACH '{path}' AS {alias} (READ_ONLY)")
        con.execute(f"INSERT INTO {name} SELECT {columns}, {seq} FROM ({rows.sql})")
        for alias in rows.attach:
            con.execute(f"DETACH {alias}")
        return
    frame = rows  # noqa: F841 - read by DuckDB's replacement scan
    con.execute(f"INSERT INTO {name} SELECT {columns}, {seq} FROM frame")


def _check_bulk(con: duckdb.DuckDBPyConnection, seq: int, payload: dict[str, Any]) -> str | None:
    declared = payload.get("bulk", {})
    for name in BULK_TABLES:
        count, digest = bulk_digest(con, name, seq)
        if name not in declared:
            if count:
                return f"{name} has rows this event does not declare"
            continue
        if count != declared[name]["rows"] or digest != declared[name]["digest"]:
            return f"{name} rows do not match the digest recorded in the event"
    return None
