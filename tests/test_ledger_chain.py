"""The event log is append-only in effect: any edit made behind the API is found and named."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from ledger import EventLog


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    log = EventLog(tmp_path / "ledger.duckdb")
    log.append("dataset.ingested", {"name": "x"})
    log.append(
        "deployment.created",
        {"deployment_id": "d1"},
        bulk={"shard_assignments": pd.DataFrame({"deployment_id": "d1", "interaction_id": [3, 1, 2], "shard": [0, 1, 0]})},
    )
    log.append("request.received", {"request_id": "r1"}, actor="officer")
    return log


def _sql(log: EventLog, statement: str) -> None:
    con = duckdb.connect(str(log.path))
    con.execute(statement)
    con.close()


def test_untouched_chain_verifies(log: EventLog) -> None:
    result = log.verify()
    assert result.ok and result.events_checked == 3 and result.head_hash == log.head().hash


def test_edited_payload_is_named_by_seq(log: EventLog) -> None:
    _sql(log, """UPDATE events SET payload = '{"request_id":"r2"}' WHERE seq = 3""")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 3 and "altered" in result.reason


def test_edited_actor_is_detected(log: EventLog) -> None:
    _sql(log, "UPDATE events SET actor = 'mallory' WHERE seq = 1")
    assert log.verify().first_bad_seq == 1


def test_deleted_event_breaks_the_chain(log: EventLog) -> None:
    _sql(log, "DELETE FROM events WHERE seq = 2")
    result = log.verify()
    assert not result.ok and result.first_bad_seq == 3


def test_edited_bulk_row_is_blamed_on_its_event(log: EventLog) -> None:
    _sql(log, "UPDATE shard_assignments SET shard = 1 WHERE interaction_id = 3")
    result = log.verify()
    assert result.first_bad_seq == 2 and "shard_assignments" in result.reason


def test_injected_bulk_row_is_detected(log: EventLog) -> None:
    _sql(log, "INSERT INTO shard_assignments VALUES ('d1', 99, 0, 2)")
    assert log.verify().first_bad_seq == 2


def test_rewritten_chain_tail_still_fails_at_the_first_edit(log: EventLog) -> None:
    _sql(log, "UPDATE events SET kind = 'request.rejected' WHERE seq = 2")
    assert log.verify().first_bad_seq == 2


def test_kind_prefix_filter_returns_only_matching_events(log: EventLog) -> None:
    assert [e.kind for e in log.events(["request."])] == ["request.received"]


def test_appends_from_many_threads_of_one_process_all_land_in_one_chain(log: EventLog) -> None:
    """The API's handlers append from a thread pool: 40 threads at once lose no event and break no link (before the
    per-process append lock, most failed on a duplicate seq, which the bench under 50 clients answered with 500)."""
    import threading

    before = len(log.events())
    failures: list[BaseException] = []

    def append(i: int) -> None:
        try:
            log.append("test.concurrent", {"i": i})
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=append, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    events = log.events()
    assert len(events) == before + 40 and sorted(e.payload["i"] for e in events[before:]) == list(range(40))
    assert [e.ts for e in events] == sorted(e.ts for e in events)  # times follow the chain's order
    assert log.verify().ok
