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

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ledger._canonical import canonical_json, sha256_hex
from ledger._db import transaction

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


def bulk_digest(table: str, rows: pd.DataFrame) -> str:
    """Order-independent digest of bulk rows: sort by the table's key, hash the CSV bytes."""
    columns, key = BULK_TABLES[table]
    ordered = rows[list(columns)].sort_values(key, kind="stable").reset_index(drop=True)
    return "sha256:" + sha256_hex(ordered.to_csv(index=False, header=False).encode())


def _schema_sql() -> list[str]:
    statements = [
        """CREATE TABLE IF NOT EXISTS events (
            seq BIGINT PRIMARY KEY, ts VARCHAR NOT NULL, kind VARCHAR NOT NULL, actor VARCHAR NOT NULL,
            payload VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)"""
    ]
    for table, (columns, _) in BULK_TABLES.items():
        cols = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        statements.append(f"CREATE TABLE IF NOT EXISTS {table} ({cols}, event_seq BIGINT NOT NULL)")
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
        bulk: Mapping[str, pd.DataFrame] | None = None,
    ) -> Event:
        """Append one event (and its bulk rows) atomically; returns the stored event."""
        payload = dict(payload)
        bulk = dict(bulk or {})
        if bulk:
            payload["bulk"] = {name: {"rows": len(rows), "digest": bulk_digest(name, rows)} for name, rows in bulk.items()}
        payload_bytes = canonical_json(payload)
        ts = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        with transaction(self.path) as con:
            last = con.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS_HASH)
            digest = event_hash(prev_hash, seq, ts, kind, actor, payload_bytes)
            con.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                [seq, ts, kind, actor, payload_bytes.decode(), prev_hash, digest],
            )
            for name, rows in bulk.items():
                columns = list(BULK_TABLES[name][0])
                frame = rows[columns].assign(event_seq=seq)  # noqa: F841 - read by DuckDB's replacement scan
                con.execute(f"INSERT INTO {name} SELECT {', '.join(columns)}, event_seq FROM frame")
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

    def verify(self) -> IntegrityResult:
        """Recompute every hash and bulk digest in order; report the first event that does not match."""
        with transaction(self.path) as con:
            rows = con.execute(
                "SELECT seq, ts, kind, actor, payload, prev_hash, hash FROM events ORDER BY seq"
            ).fetchall()
            bulk_frames = {
                name: con.execute(f"SELECT * FROM {name}").df() for name in BULK_TABLES
            }
        grouped = {name: dict(tuple(frame.groupby("event_seq"))) for name, frame in bulk_frames.items()}
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
                fault = _check_bulk(seq, json.loads(payload_text), grouped)
            if fault:
                return IntegrityResult(False, seq - 1, prev_hash, seq, f"event {seq} ({kind}): {fault}")
            prev_hash, expected_seq = stored_hash, seq + 1
        stray = {
            name: sorted(set(groups) - {r[0] for r in rows}) for name, groups in grouped.items()
        }
        for name, seqs in stray.items():
            if seqs:
                return IntegrityResult(False, len(rows), prev_hash, int(seqs[0]), f"{name} has rows of no event")
        return IntegrityResult(True, len(rows), prev_hash)


def _check_bulk(seq: int, payload: dict[str, Any], grouped: dict[str, dict[int, pd.DataFrame]]) -> str | None:
    declared = payload.get("bulk", {})
    for name in BULK_TABLES:
        rows = grouped[name].get(seq)
        if name not in declared:
            if rows is not None:
                return f"{name} has rows this event does not declare"
            continue
        rows = rows if rows is not None else pd.DataFrame(columns=list(BULK_TABLES[name][0]))
        if len(rows) != declared[name]["rows"] or bulk_digest(name, rows) != declared[name]["digest"]:
            return f"{name} rows do not match the digest recorded in the event"
    return None
