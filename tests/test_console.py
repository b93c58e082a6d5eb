"""The Streamlit console, driven headless with AppTest through its one entrypoint.

Pages are reached as a browser reaches them: ``AppTest.from_file(ui/app.py)``, one ``run()`` so that
``st.navigation`` registers the pages, then ``switch_page("console_pages/<file>.py").run()`` (Streamlit 1.67
resolves it against the registered pages). Running a page file on its own would skip the entrypoint,
which sets the page up and turns Lethe's errors into error boxes; every page test checks that the
entrypoint ran (its sidebar caption).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ledger import Ledger
from tests.conftest import build_workspace
from unlearn.requests import ErasureRequest
from ui._services import open_services

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"
PAGES = ("console_pages/requests.py", "console_pages/request_detail.py", "console_pages/models.py", "console_pages/ledger_page.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace with data and a serving SISA deployment, built once for the module."""
    root = tmp_path_factory.mktemp("console") / "ws"
    build_workspace(root, n_users=120, n_items=80)
    return root


@pytest.fixture(scope="module")
def subjects(trained: Path) -> Iterator[str]:
    """Subjects of the shared workspace, most active first; each test takes its own so requests never collide."""
    frame = Ledger.open(trained).store.subjects_frame().sort_values("interactions", ascending=False)
    return iter([str(s) for s in frame["subject"]])


def console(workspace: Path, monkeypatch: pytest.MonkeyPatch, page: str, **state: object) -> AppTest:
    """The console on ``workspace``, switched to ``page`` and run; ``state`` seeds session state as if the
    user arrived from another page."""
    monkeypatch.setenv("LETHE_HOME", str(workspace))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    for key, value in state.items():
        at.session_state[key] = value
    return at.switch_page(page).run()


def submit(at: AppTest, subject: str) -> AppTest:
    at.text_input(key="subject").input(subject)
    return at.form_submit_button[0].click().run()


def event_count(workspace: Path) -> int:
    head = Ledger.open(workspace).log.head()
    return head.seq if head else 0


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("kind", ["trained", "empty"])
def test_every_page_renders(kind: str, page: str, trained: Path, tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    at = console(trained if kind == "trained" else tmp_path / "empty", monkeypatch, page)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.title
    assert at.sidebar.caption, "the page ran without the entrypoint (see the url_path note in ui/app.py)"


def test_each_workspace_gets_its_own_services(trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Services are cached per process; pointing LETHE_HOME elsewhere must not reuse the first workspace's."""
    for workspace in (trained, tmp_path / "other", trained):
        at = console(workspace, monkeypatch, "console_pages/models.py")
        assert str(workspace) in at.sidebar.caption[0].value
        assert bool(at.dataframe) == (workspace == trained)


def test_filing_a_request_records_and_lists_it(trained: Path, subjects: Iterator[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    subject = next(subjects)
    at = submit(console(trained, monkeypatch, "console_pages/requests.py"), subject)
    assert not at.exception and not at.error, [e.value for e in at.error]
    ledger = Ledger.open(trained)
    (filed,) = [r for r in ledger.requests() if r.received["subject_ref"] == ledger.workspace.subject_ref(subject)]
    assert filed.state == "received" and filed.received["basis"] == "Art. 17(1)(b): consent withdrawn"
    assert filed.request_id in at.success[0].value
    assert filed.request_id in at.dataframe[0].value["request_id"].tolist()
    # the detail page opens on the request just filed
    at.switch_page("console_pages/request_detail.py").run()
    assert at.selectbox(key="request_id").value == filed.request_id


@pytest.mark.parametrize(
    ("subject", "reason"),
    [("no-such-subject", "unknown subject"), ("   ", "at least 1 character"), ("bad\x01id", "control characters")],
)
def test_a_request_that_cannot_be_served_shows_an_error_and_appends_nothing(
    subject: str, reason: str, trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = event_count(trained)
    at = submit(console(trained, monkeypatch, "console_pages/requests.py"), subject)
    assert not at.exception and not at.success
    assert reason in at.error[0].value
    assert event_count(trained) == before


def test_filing_twice_for_one_subject_shows_an_error(trained: Path, subjects: Iterator[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    subject = next(subjects)
    at = submit(console(trained, monkeypatch, "console_pages/requests.py"), subject)
    assert at.success and not at.error
    before = event_count(trained)
    at = submit(at, subject)
    assert not at.exception
    assert "already open" in at.error[0].value
    assert event_count(trained) == before


def test_running_a_request_from_the_detail_page_certifies_it(trained: Path, subjects: Iterator[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    request_id = open_services(trained).engine.file(ErasureRequest(subject=next(subjects)), actor="test")
    at = console(trained, monkeypatch, "console_pages/request_detail.py", request_id=request_id)
    assert at.metric[0].value == "received"
    assert "%" in at.dataframe[1].value["estimated cost"][0]  # the plan preview
    assert not at.download_button

    at.button(key="run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.metric[0].value == "certified"
    assert Ledger.open(trained).request(request_id).state == "certified"
    checks = at.dataframe[1].value
    assert set(checks["verdict"]) == {"PASS"} and "re-predict" in checks["check"].tolist()
    assert at.get("plotly_chart")
    assert {b.key for b in at.download_button} == {"download_pdf", "download_json"}
    assert "run" not in [b.key for b in at.button]  # nothing left to run


def test_the_ledger_page_verifies_the_chain(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = console(trained, monkeypatch, "console_pages/ledger_page.py")
    fingerprint = Ledger.open(trained).workspace.signer.keyid
    assert any(fingerprint in m.value for m in at.markdown)
    at.button(key="verify_ledger").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Ledger ok")


def test_filing_in_a_workspace_without_data_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = submit(console(tmp_path / "empty", monkeypatch, "console_pages/requests.py"), "u1")
    assert not at.exception
    assert "lethe ingest" in at.error[0].value


def test_worker_processes_reimporting_the_console_open_no_workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned shard workers re-run the parent's main file as ``__mp_main__``; the console must stay inert there.

    Regression: a request run from the console (or after AppTest) made every worker open ``./lethe-workspace``.
    """
    import runpy

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LETHE_HOME", raising=False)
    runpy.run_path(str(APP), run_name="__mp_main__")
    assert not any(tmp_path.iterdir())
