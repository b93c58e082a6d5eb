"""The Streamlit console, driven headless with AppTest through its one entrypoint, signed in as each role.

Pages are reached as a browser reaches them: ``AppTest.from_file(ui/app.py)``, one ``run()`` (the sign-in page,
the only one a visitor gets), the sign-in form, then ``switch_page("console_pages/<file>.py").run()`` (Streamlit
1.67 resolves it against the pages the signed-in navigation registered). Every page test checks that the
entrypoint ran (its sidebar caption). Role enforcement is tested where it lives, in the page code: an auditor
never gets the file or run buttons, and an officer demoted while a page is open cannot run anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

import ui._tables
from ledger import Ledger
from ledger._db import transaction
from tests.conftest import build_workspace
from ui._access import add_user
from ui.services import open_services
from ui.worker import Worker
from unlearn.requests import ErasureRequest

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"
PAGES = ("console_pages/dashboard.py", "console_pages/new_request.py", "console_pages/request_detail.py",
         "console_pages/models.py", "console_pages/audits.py", "console_pages/ledger_page.py")
Console = Callable[..., AppTest]
"""``console(workspace, page, role="officer", **state)`` from the fixture of that name."""
USERS = {"officer": ("olivia", "officer-password"), "auditor": ("aldo", "auditor-password")}


def with_users(root: Path) -> Path:
    """Give a workspace one officer and one auditor (the users file the console reads)."""
    ledger = Ledger.open(root)
    for role, (name, password) in USERS.items():
        add_user(ledger, name, role, password, actor="test")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace with data, a serving SISA deployment and both users, built once for the module."""
    root = tmp_path_factory.mktemp("console") / "ws"
    build_workspace(root, n_users=120, n_items=80)
    return with_users(root)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    """A workspace with users and nothing else."""
    return with_users(tmp_path / "empty")


def most_active_subjects(workspace: Path) -> list[str]:
    frame = Ledger.open(workspace).store.subjects_frame().sort_values("interactions", ascending=False)
    return [str(s) for s in frame["subject"]]


@pytest.fixture(scope="module")
def subjects(trained: Path) -> Iterator[str]:
    """Subjects of the shared workspace, most active first; each test takes its own so requests never collide.
    The most active one is kept for :func:`certified`, whose erasure runs first whatever the test order."""
    return iter(most_active_subjects(trained)[1:])


def sign_in(at: AppTest, role: str, password: str | None = None) -> AppTest:
    name, right = USERS[role]
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password or right)
    return at.form_submit_button[0].click().run()


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Console:
    """``console(workspace, page, role="officer", **state)``: the console on ``workspace``, signed in through the
    sign-in form as ``role``, ``state`` seeded as if the user arrived from another page, switched to ``page``."""

    def open_console(workspace: Path, page: str, role: str = "officer", **state: object) -> AppTest:
        monkeypatch.setenv("LETHE_HOME", str(workspace))
        at = sign_in(AppTest.from_file(str(APP), default_timeout=120).run(), role)
        assert not at.exception, at.exception
        assert at.title[0].value == "Dashboard", "signing in did not open the dashboard"
        request_id = state.pop("request_id", None)
        for key, value in state.items():
            at.session_state[key] = value
        if request_id is not None:  # the request page's own address: /request?id=…
            at.query_params["id"] = request_id
        return at.switch_page(page).run()

    return open_console


def submit(at: AppTest, subject: str) -> AppTest:
    at.text_input(key="subject").input(subject)
    return at.form_submit_button[0].click().run()


TABLE_COLUMNS = {
    "plan": "estimated cost", "checks": "verdict", "search_placements": "still trained on",
    "search_requests": "received_at", "search_history": "what happened", "checkpoints": "tree size", "parent_chain":
    "excludes requests", "audits": "erasures in window", "audit_checks": "findings",
}


def table(at: AppTest, name: str) -> pd.DataFrame:
    """A page's table by what it holds (AppTest does not expose a read-only dataframe's key)."""
    column = TABLE_COLUMNS[name]
    found = [d.value for d in at.dataframe if column in d.value.columns]
    if not found:
        raise KeyError(f"no {name} table (column {column!r}) on the page")
    return found[0]


def has_table(at: AppTest, name: str) -> bool:
    try:
        return table(at, name) is not None
    except KeyError:
        return False


def event_count(workspace: Path) -> int:
    head = Ledger.open(workspace).log.head()
    return head.seq if head else 0


def events_of(workspace: Path, kind: str) -> list:
    return Ledger.open(workspace).log.events([kind])


# -- signing in -----------------------------------------------------------------------------------------------
def test_a_visitor_who_has_not_signed_in_gets_only_the_sign_in_page(trained: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETHE_HOME", str(trained))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Sign in to the Lethe console"
    assert not at.dataframe and [b.label for b in at.button] == ["Sign in"]
    for page in PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


@pytest.mark.parametrize(("name", "password"), [("olivia", "not-her-password"), ("mallory", "officer-password")])
def test_a_wrong_name_or_password_is_refused_alike_and_recorded_without_the_password(
    name: str, password: str, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LETHE_HOME", str(trained))
    before = event_count(trained)
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    at = at.form_submit_button[0].click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["wrong user name or password"]
    assert at.title[0].value == "Sign in to the Lethe console"
    assert event_count(trained) == before + 1
    failed = events_of(trained, "console.sign_in_failed")[-1]
    assert failed.payload["user"] == ("olivia" if name == "olivia" else None) and password not in str(failed.payload)


def test_signing_in_and_out_are_ledger_events_with_the_user_as_actor(trained: Path, console: Console) -> None:
    at = console(trained, "console_pages/dashboard.py", role="auditor")
    signed_in = events_of(trained, "console.signed_in")[-1]
    assert (signed_in.actor, signed_in.payload["role"]) == ("aldo", "auditor")
    assert "Signed in as **aldo** (auditor)" in at.sidebar.markdown[0].value
    at = at.sidebar.button(key="sign_out").click().run()
    assert events_of(trained, "console.signed_out")[-1].actor == "aldo"
    assert at.title[0].value == "Sign in to the Lethe console"


def test_a_workspace_without_users_says_how_to_add_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LETHE_HOME", str(tmp_path / "bare"))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert "lethe user add" in at.info[0].value


# -- every page, both roles -----------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["officer", "auditor"])
@pytest.mark.parametrize("kind", ["trained", "empty"])
def test_every_page_renders_for_both_roles(kind: str, role: str, trained: Path, empty: Path,
                                           console: Console) -> None:
    at = console(trained if kind == "trained" else empty, PAGES[0], role=role)
    for page in PAGES:
        at = at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert not at.error, (page, [e.value for e in at.error])
        assert at.title, page
        assert at.sidebar.caption, f"{page} ran without the entrypoint (see the url_path note in ui/app.py)"


def test_each_workspace_gets_its_own_services(trained: Path, empty: Path, console: Console) -> None:
    """Services are cached per process; pointing LETHE_HOME elsewhere must not reuse the first workspace's."""
    for workspace in (trained, empty, trained):
        at = console(workspace, "console_pages/models.py")
        assert str(workspace) in at.sidebar.caption[0].value
        assert bool(at.dataframe) == (workspace == trained)


# -- filing ---------------------------------------------------------------------------------------------------
def test_filing_a_request_records_it_with_the_officer_as_actor(trained: Path, subjects: Iterator[str],
                                                              console: Console) -> None:
    subject = next(subjects)
    at = console(trained, "console_pages/new_request.py")
    at.text_input(key="regulation").input("UK GDPR Art. 17")
    at = submit(at, subject)
    assert not at.exception and not at.error, [e.value for e in at.error]
    ledger = Ledger.open(trained)
    (filed,) = [r for r in ledger.requests() if r.received["subject_ref"] == ledger.workspace.subject_ref(subject)]
    assert filed.state == "received" and filed.received["basis"] == "Art. 17(1)(b): consent withdrawn"
    assert filed.received["regulation"] == "UK GDPR Art. 17"
    assert filed.history[0].actor == "olivia"
    assert filed.request_id in at.success[-1].value and filed.received["intake"] == "console"
    assert at.success[0].value.startswith(f"Subject {subject}: ")  # the officer saw whom she was filing for
    # the dashboard lists it as open; its page opens at its own address
    at.switch_page("console_pages/dashboard.py").run()
    assert filed.request_id in at.dataframe[0].value["request_id"].tolist()
    at.query_params["id"] = filed.request_id
    at.switch_page("console_pages/request_detail.py").run()
    assert at.title[0].value == f"Request {filed.request_id}"


@pytest.mark.parametrize(
    ("subject", "reason"),
    [("no-such-subject", "unknown subject"), ("   ", "Enter the subject's id"), ("bad\x01id", "control characters")],
)
def test_a_request_that_cannot_be_served_shows_an_error_and_appends_nothing(
    subject: str, reason: str, trained: Path, console: Console
) -> None:
    at = console(trained, "console_pages/new_request.py")
    before = event_count(trained)
    at = submit(at, subject)
    assert not at.exception and not at.success
    assert reason in at.error[0].value
    assert event_count(trained) == before


def test_filing_twice_for_one_subject_shows_an_error(trained: Path, subjects: Iterator[str],
                                                     console: Console) -> None:
    subject = next(subjects)
    at = submit(console(trained, "console_pages/new_request.py"), subject)
    assert at.success and not at.error
    at = submit(console(trained, "console_pages/new_request.py"), subject)  # a fresh page: the card flags it
    assert "Possible duplicate" in at.error[0].value
    before = event_count(trained)
    at = submit(at, subject)
    assert not at.exception
    assert any("already open" in e.value for e in at.error)
    # refused, and flagged on the open request: one event, no second request
    assert event_count(trained) == before + 1
    flagged = events_of(trained, "request.duplicate_received")[-1]
    assert flagged.actor == "olivia" and flagged.payload["request_id"] == _filed(trained, subject).request_id


def _filed(workspace: Path, subject: str):
    ledger = Ledger.open(workspace)
    (filed,) = [r for r in ledger.requests() if r.received["subject_ref"] == ledger.workspace.subject_ref(subject)]
    return filed


def test_an_officer_files_chosen_interactions_picked_from_the_subjects_items(
    trained: Path, subjects: Iterator[str], console: Console
) -> None:
    subject = next(subjects)
    at = console(trained, "console_pages/new_request.py")
    at.text_input(key="subject").input(subject)
    at = at.radio(key="scope").set_value("interactions").run()
    labels = at.multiselect(key="items").options
    assert len(labels) > 2 and all(label.startswith("item ") for label in labels), labels
    options = [label.removeprefix("item ") for label in labels]
    assert options == sorted(options, key=int), "items in natural order, not sorted as text"
    at.multiselect(key="items").select(options[0]).select(options[1])
    at = at.form_submit_button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    filed = _filed(trained, subject)
    assert filed.received["kind"] == "interactions" and len(filed.received["interaction_ids"]) >= 2


def test_an_officer_files_a_time_window_and_an_empty_window_is_refused(
    trained: Path, subjects: Iterator[str], console: Console
) -> None:
    subject = next(subjects)
    ledger = Ledger.open(trained)
    with transaction(ledger.store.path) as con:
        first, last = con.execute("SELECT min(ts), max(ts) FROM interactions JOIN subjects USING (user_idx) "
                                  "WHERE subjects.subject = ?", [subject]).fetchone()
    day = lambda seconds: datetime.fromtimestamp(seconds, tz=timezone.utc).date()  # noqa: E731
    at = console(trained, "console_pages/new_request.py")
    at.text_input(key="subject").input(subject)
    at = at.radio(key="scope").set_value("time_window").run()
    before = event_count(trained)
    at.date_input(key="window_from").set_value(day(first) - timedelta(days=400))
    at.date_input(key="window_to").set_value(day(first) - timedelta(days=200))
    at = at.form_submit_button[0].click().run()
    assert "no interaction in the store" in at.error[0].value and event_count(trained) == before
    at.date_input(key="window_from").set_value(day(first))
    at.date_input(key="window_to").set_value(day(last))
    at = at.form_submit_button[0].click().run()
    assert not at.exception and at.success, [e.value for e in at.error]
    filed = _filed(trained, subject)
    assert filed.received["kind"] == "time_window"
    assert filed.received["window"]["start"].startswith(day(first).isoformat())
    at.query_params["id"] = filed.request_id
    at.switch_page("console_pages/request_detail.py").run()
    assert any(c.value.startswith("Scope — time window") for c in at.caption), [c.value for c in at.caption]


def test_an_officer_finds_the_subject_by_e_mail_through_the_workspaces_identity_map(
    trained: Path, subjects: Iterator[str], console: Console
) -> None:
    subject = next(subjects)
    (trained / "identities.csv").write_text(f"identity_type,identity_value,subject\nemail,Jane@Example.com,{subject}\n",
                                            encoding="utf-8")
    try:
        at = console(trained, "console_pages/new_request.py")
        at = at.radio(key="identify_by").set_value("email").run()
        at.text_input(key="identity_value").input("jane@example.com")
        at = at.form_submit_button[0].click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert at.success[0].value.startswith(f"Subject {subject}: ")
        filed = _filed(trained, subject)
        assert "jane" not in str([e.payload for e in filed.history]).lower()  # the e-mail is never recorded
    finally:
        (trained / "identities.csv").unlink()


def test_an_auditor_cannot_file_a_request(trained: Path, console: Console) -> None:
    at = console(trained, "console_pages/new_request.py", role="auditor")
    assert not at.exception
    assert not at.form_submit_button and not at.text_input
    assert "cannot file" in at.info[0].value


def test_filing_in_a_workspace_without_data_says_what_to_do(empty: Path, console: Console) -> None:
    at = submit(console(empty, "console_pages/new_request.py"), "u1")
    assert not at.exception
    assert "lethe ingest" in at.error[0].value


# -- deadlines on the dashboard --------------------------------------------------------------------------------
def test_the_dashboard_puts_late_requests_first_and_flags_them(trained: Path, subjects: Iterator[str],
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               console: Console) -> None:
    services = open_services(trained)
    request_id = services.engine.file(ErasureRequest(subject=next(subjects)), actor="test")
    due = services.policy.deadlines.due_date(services.ledger.request(request_id))
    at = console(trained, "console_pages/dashboard.py")
    rows = at.dataframe[0].value.set_index("request_id")
    assert rows.loc[request_id, "days left"] == (due - ui._tables.today()).days > 0
    assert not at.error

    monkeypatch.setattr(ui._tables, "today", lambda: due + timedelta(days=3))  # three days past the deadline
    at.run()
    rows = at.dataframe[0].value
    mine = rows.set_index("request_id").loc[request_id]
    assert (mine["days left"], mine["status"]) == (-3, "late")
    assert (rows["days left"].diff().dropna() >= 0).all(), "most urgent first"
    assert request_id in at.error[0].value and "past the GDPR deadline" in at.error[0].value
    assert int(at.metric[2].value) >= 1  # "Past deadline"


# -- running, roles and the report -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certified(trained: Path) -> dict[str, str]:
    """One request run to certification from the console by the officer (the expensive part, done once)."""
    subject = most_active_subjects(trained)[0]
    request_id = open_services(trained).engine.file(ErasureRequest(subject=subject), actor="test")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LETHE_HOME", str(trained))
        at = sign_in(AppTest.from_file(str(APP), default_timeout=300).run(), "officer")
        at.query_params["id"] = request_id
        at = at.switch_page("console_pages/request_detail.py").run()
        assert at.metric[0].value == "received"
        plan = table(at, "plan")
        assert "% of a full retrain" in plan["estimated cost"][0] and "(exact)" in plan["method"][0]
        assert plan["shards hit"][0].startswith("1 (index ")  # a count, and which shard: not "shards 1"
        assert not at.download_button
        at = at.button(key="run").click().run()  # queues it: the page now follows the run from the ledger
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert "Queued by olivia" in at.info[0].value and "run" not in [b.key for b in at.button]
        Worker(open_services(trained), "console-test-worker").once()  # what `lethe console`'s worker does
        at = at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return {"request_id": request_id, "subject": subject, "at": at}


def test_running_a_request_from_the_detail_page_certifies_it(trained: Path, certified: dict) -> None:
    at, request_id = certified["at"], certified["request_id"]
    assert at.metric[0].value == "certified"
    record = Ledger.open(trained).request(request_id)
    assert record.state == "certified"
    queued = [e for e in record.history if e.kind == "request.queued"]
    assert [e.actor for e in queued] == ["olivia"], "the officer's click is recorded with her name"
    assert {e.actor for e in record.history if e.seq > queued[0].seq} == {"console-test-worker"}
    checks = table(at, "checks")
    verdicts = dict(zip(checks["check"], checks["verdict"]))
    # the default policy certifies an exact method on its lineage proof; the statistics follow at the next audit
    assert verdicts == {"lineage": "PASS", "model replaced": "PASS"}
    assert any(box.value.startswith("Certified on the lineage proof; the statistical checks are due by")
               for box in at.info), [box.value for box in at.info]
    assert {b.key for b in at.download_button} == {"download_pdf", "download_json"}
    assert "run" not in [b.key for b in at.button]  # nothing left to run
    assert table(at, "plan")["deployment"].tolist()  # the recorded plan is still shown
    timeline = [m.value.split(" — ", 1)[-1] for m in at.markdown if m.value.startswith("`20")]
    assert timeline[0].startswith("test filed an erasure request for the whole subject")
    assert any(line.startswith("console-test-worker retrained shard ") for line in timeline), timeline


def test_an_auditor_reads_the_report_and_gets_the_certificate_but_no_run_button(
    trained: Path, certified: dict, subjects: Iterator[str], console: Console
) -> None:
    open_request = open_services(trained).engine.file(ErasureRequest(subject=next(subjects)), actor="test")
    at = console(trained, "console_pages/request_detail.py", role="auditor", request_id=certified["request_id"])
    assert at.metric[0].value == "certified" and table(at, "checks")["verdict"].tolist()
    assert {b.key for b in at.download_button} == {"download_pdf", "download_json"}

    at = console(trained, "console_pages/request_detail.py", role="auditor", request_id=open_request)
    assert at.metric[0].value == "received"
    assert table(at, "plan")["training interactions hit"][0] > 0  # the plan is readable
    assert "run" not in [b.key for b in at.button]
    assert "cannot run requests" in at.info[0].value


def test_the_statistical_follow_up_of_a_lineage_certificate_is_shown_with_its_verdict(
    trained: Path, certified: dict, console: Console
) -> None:
    """The audit's follow-up (here run directly, as the audit runs it) appears on the request as a second signed
    report, with its verdict next to the lineage certificate's."""
    services = open_services(trained)
    record = services.engine.verify_statistically(certified["request_id"], actor="test-audit")
    follow_up = record.payload("statistically_verified")
    at = console(trained, "console_pages/request_detail.py", role="auditor", request_id=certified["request_id"])
    assert not at.exception and not at.error, [e.value for e in at.error]
    box = [b.value for b in [*at.success, *at.error] if "statistical follow-up" in b.value]
    assert box and box[0].startswith("Certified on the lineage proof; the statistical follow-up (due by ")
    assert ("passed" if follow_up["passed"] else "FAILED") in box[0] and follow_up["report_id"] in box[0]
    assert any(h.value.startswith(f"Statistical follow-up {follow_up['report_id']}") for h in at.subheader)
    verdicts = [set(d.value["verdict"]) for d in at.dataframe if "verdict" in d.value.columns]
    assert len(verdicts) == 2 and verdicts[1] <= {"PASS", "FAIL", "INCONCLUSIVE"} and "re-predict" in str(
        [d.value["check"].tolist() for d in at.dataframe if "verdict" in d.value.columns][1])
    assert len(at.get("plotly_chart")) == 4  # the follow-up's plots, each titled and explained
    assert sum("should" in c.value for c in at.caption) >= 3


def test_signing_out_clears_the_session_and_the_request_address(
    trained: Path, certified: dict, console: Console
) -> None:
    at = console(trained, "console_pages/request_detail.py", request_id=certified["request_id"])
    assert at.title[0].value == f"Request {certified['request_id']}"
    at = at.sidebar.button(key="sign_out").click().run()
    assert at.title[0].value == "Sign in to the Lethe console"
    assert "id" not in at.query_params
    for key in ("signed_in_as", "signed_in_seen", "raw_event"):  # the user, their session, the page's widgets
        assert key not in at.session_state, key
    # the browser test checks the next user lands on the dashboard (AppTest does not follow st.switch_page's address)


def test_an_officer_demoted_while_the_page_is_open_can_no_longer_run(trained: Path, subjects: Iterator[str],
                                                                    console: Console) -> None:
    """The role is read from the users file at every run, so the click after a demotion is refused server-side."""
    request_id = open_services(trained).engine.file(ErasureRequest(subject=next(subjects)), actor="test")
    at = console(trained, "console_pages/request_detail.py", request_id=request_id)
    run = at.button(key="run")
    name, password = USERS["officer"]
    ledger = Ledger.open(trained)
    add_user(ledger, name, "auditor", password, replace=True, actor="test")
    try:
        before = event_count(trained)
        at = run.click().run()
        assert not at.exception
        assert Ledger.open(trained).request(request_id).state == "received"
        assert event_count(trained) == before
        assert "run" not in [b.key for b in at.button]
        assert "Signed in as **olivia** (auditor)" in at.sidebar.markdown[0].value
    finally:
        add_user(ledger, name, "officer", password, replace=True, actor="test")


def test_a_user_removed_from_the_users_file_is_signed_out(tmp_path: Path, console: Console) -> None:
    root = with_users(tmp_path / "ws")
    at = console(root, "console_pages/models.py", role="auditor")
    (root / "users.toml").write_text("", encoding="utf-8")
    at = at.run()
    assert at.title[0].value == "Sign in to the Lethe console"


# -- ledger and lineage ----------------------------------------------------------------------------------------
def test_the_ledger_check_is_recorded_and_shown_on_the_dashboard(trained: Path, console: Console) -> None:
    at = console(trained, "console_pages/ledger_page.py", role="auditor")
    fingerprint = Ledger.open(trained).workspace.signer.keyid
    assert any(fingerprint in m.value for m in at.markdown)
    at.button(key="verify_ledger").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Ledger ok")
    check = events_of(trained, "console.ledger_verified")[-1]
    assert check.actor == "aldo" and check.payload["ok"]
    at.switch_page("console_pages/dashboard.py").run()
    assert any(s.value.startswith("Intact") and "by aldo" in s.value for s in at.success)


def test_a_tampered_ledger_shows_the_fault(tmp_path: Path, console: Console) -> None:
    import duckdb

    root = with_users(tmp_path / "ws")
    Ledger.open(root).append("note", {"text": "original"})
    at = console(root, "console_pages/ledger_page.py")
    con = duckdb.connect(str(Ledger.open(root).workspace.ledger_path))
    con.execute("""UPDATE events SET payload = '{"text":"forged"}' WHERE kind = 'note'""")
    con.close()
    at = at.button(key="verify_ledger").click().run()
    assert "Ledger verification failed" in at.error[0].value
    at.switch_page("console_pages/dashboard.py").run()
    assert at.error[0].value.startswith("FAULT at seq")


def test_subject_search_shows_placements_only_while_the_data_exists(trained: Path, certified: dict,
                                                                     subjects: Iterator[str],
                                                                     console: Console) -> None:
    at = console(trained, "console_pages/ledger_page.py", role="auditor")

    def search(kind: str, query: str) -> AppTest:
        at.radio(key="search_kind").set_value(kind)
        at.text_input(key="search_query").input(query)
        return at.form_submit_button[0].click().run()

    present = next(subjects)
    at = search("subject id", present)
    assert table(at, "search_placements")["interactions"].sum() > 0
    at = search("subject id", certified["subject"])
    assert not has_table(at, "search_placements")
    assert any("erased" in m.value for m in at.markdown)
    assert table(at, "search_requests")["request_id"].tolist() == [certified["request_id"]]
    lookups = events_of(trained, "console.subject_looked_up")[-2:]
    assert [(e.actor, e.payload["data_in_store"]) for e in lookups] == [("aldo", True), ("aldo", False)]
    assert certified["subject"] not in str([e.payload for e in lookups]), "the ledger gets the pseudonym only"

    at = search("request id", certified["request_id"])
    assert any("issued certificate cert-" in line for line in table(at, "search_history")["what happened"])
    at = search("request id", "req-nope")
    assert "unknown request id" in at.error[0].value
    assert table(at, "checkpoints")["tree size"].max() > 0  # signed after the certified request


def test_models_page_shows_each_live_checkpoints_parent_chain(trained: Path, certified: dict,
                                                              console: Console) -> None:
    at = console(trained, "console_pages/models.py", role="auditor")
    unlearned = Ledger.open(trained).request(certified["request_id"]).payload("unlearned")
    replaced = unlearned["deployments"][0]["replaced"][0]
    at.selectbox(key="lineage_checkpoint").set_value(replaced["new"]).run()
    chain = table(at, "parent_chain")
    assert chain["checkpoint"].tolist()[:2] == [replaced["new"], replaced["old"]]
    assert certified["request_id"] in chain["excludes requests"][0]


def test_an_auditor_runs_an_audit_and_reads_its_signed_report(trained: Path, certified: dict,
                                                              console: Console) -> None:
    at = console(trained, "console_pages/audits.py", role="auditor")
    assert "Next runs: 20" in at.caption[0].value
    at = at.button(key="run_audit").click().run()
    assert not at.exception, at.exception
    (completed,) = events_of(trained, "audit.completed")[-1:]
    assert completed.actor == "aldo" and completed.payload["approved_by_role"] == "auditor"
    audit_id = completed.payload["audit_id"]
    assert audit_id in (at.success or at.error)[0].value
    history = table(at, "audits")
    assert history["audit"][0] == audit_id and history["actor"][0] == "aldo"
    checks = table(at, "audit_checks")
    assert checks.set_index("check").loc["ledger integrity", "verdict"] == "PASS"
    assert checks.set_index("check").loc["window verification", "verdict"] == "PASS"  # the certified erasure
    assert at.download_button[0].key == "download_audit"
    at.switch_page("console_pages/dashboard.py").run()
    assert any(audit_id in box.value for box in [*at.success, *at.error])


def test_an_officer_extends_a_deadline_within_the_policy(trained: Path, subjects: Iterator[str],
                                                         console: Console) -> None:
    services = open_services(trained)
    request_id = services.engine.file(ErasureRequest(subject=next(subjects)), actor="test")
    due = services.policy.deadlines.due_date(services.ledger.request(request_id))
    at = console(trained, "console_pages/request_detail.py", request_id=request_id)
    at.number_input(key="extend_months").set_value(2)
    at.text_input(key="extend_reason").input("complex request: several deployments")
    at = at.button(key="FormSubmitter:extend-Extend deadline").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    record = Ledger.open(trained).request(request_id)
    assert record.state == "received" and record.extension_months == 2
    assert record.history[-1].actor == "olivia"
    assert at.metric[2].value == services.policy.deadlines.due_date(record).isoformat() != due.isoformat()
    assert not at.number_input, "the policy allows two months in total: no room left, no form"

    auditor = console(trained, "console_pages/request_detail.py", role="auditor", request_id=request_id)
    assert not auditor.number_input


def test_worker_processes_reimporting_the_console_open_no_workspace(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned shard workers re-run the parent's main file as ``__mp_main__``; the console must stay inert there.

    Regression: a request run from the console (or after AppTest) made every worker open ``./lethe-workspace``.
    """
    import runpy

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LETHE_HOME", raising=False)
    runpy.run_path(str(APP), run_name="__mp_main__")
    assert not any(tmp_path.iterdir())
