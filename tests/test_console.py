"""The Streamlit console, driven headless with AppTest through its one entrypoint.

Pages are reached the way a browser reaches them: ``AppTest.from_file(ui/app.py)``, one ``run()`` so that
``st.navigation`` registers the pages, then ``switch_page("pages/<file>.py").run()`` (supported with
``st.navigation`` in Streamlit 1.67). Running a page file directly would skip the entrypoint, which is what
opens the services and turns Lethe's errors into error boxes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ledger import Ledger
from tests.conftest import build_workspace

APP = Path(__file__).resolve().parents[1] / "ui" / "app.py"
PAGES = ("pages/requests.py", "pages/request_detail.py", "pages/models.py", "pages/ledger_page.py")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One workspace with data and a serving SISA deployment, shared by the module (each test uses its own
    subjects, so their requests do not collide)."""
    root = tmp_path_factory.mktemp("console") / "ws"
    build_workspace(root, n_users=120, n_items=80)
    return root


@pytest.fixture
def subjects(trained: Path) -> Iterator[str]:
    """Subject ids of the shared workspace, each handed to one test only."""
    frame = Ledger.open(trained).store.subjects_frame()
    yield from (str(s) for s in frame["subject"])


_subjects: Iterator[str] | None = None


@pytest.fixture
def fresh_subject(trained: Path) -> str:
    """A subject no earlier test of this module filed a request for."""
    global _subjects
    if _subjects is None:
        _subjects = iter([str(s) for s in Ledger.open(trained).store.subjects_frame()["subject"]])
    return next(_subjects)


@pytest.fixture(autouse=True)
def no_cached_services() -> Iterator[None]:
    """Services are cached per workspace path for the process; start every test from a clean cache."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def open_page(workspace: Path, monkeypatch: pytest.MonkeyPatch, page: str, **state: object) -> AppTest:
    """The console on ``workspace``, switched to ``page`` (with session state seeded as if arriving from
    another page) and run."""
    monkeypatch.setenv("LETHE_HOME", str(workspace))
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    for key, value in state.items():
        at.session_state[key] = value
    return at.switch_page(page).run()


def file_request(at: AppTest, subject: str) -> AppTest:
    at.text_input(key="subject").input(subject)
    return at.button[0].click().run() if False else at.form_submit_button[0].click().run()
