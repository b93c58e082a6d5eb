"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against ``streamlit run``.

An officer signs in, files a request, runs it, downloads the certificate, and the downloaded file verifies
offline with the workspace's public key. Every page is screenshotted into ``screenshots/`` (git-ignored) for
review. Playwright never downloads a browser here: it launches ``/usr/bin/chromium`` (``.ci/run`` installs it).
Without Chromium the test skips on a workstation, and fails when ``LETHE_REQUIRE_BROWSER`` is set (CI sets it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import Ledger, load_public_key
from tests._processes import free_port
from tests.conftest import build_workspace
from ui._access import add_user
from verify import verify_certificate_file

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LETHE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]
OFFICER, PASSWORD = "olivia", "officer-password"
RUN_TIMEOUT_MS = 240_000  # a loaded 2-core CI runner; the run takes ~15 s on an idle one


def _chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("LETHE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("browser") / "ws"
    build_workspace(root, n_users=120, n_items=80)
    add_user(Ledger.open(root), OFFICER, "officer", PASSWORD, actor="test")
    return root


@pytest.fixture(scope="module")
def console_url(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run ui/app.py`` on a free port against the workspace, and a ``lethe worker`` for the requests the
    console queues (what ``lethe console`` starts); both stopped (by their pids) afterwards."""
    port = free_port()
    log = (tmp_path_factory.mktemp("streamlit") / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "ui" / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env={**os.environ, "LETHE_HOME": str(workspace)}, stdout=log, stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen([sys.executable, "-m", "ui.cli", "worker", "-w", str(workspace), "--poll", "0.5"],
                              cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not come up: see {log.name}")
            time.sleep(0.3)
        yield url
    finally:
        for process in (server, worker):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _subject(workspace: Path) -> str:
    """The most active subject (its erasure is the one the AppTest suite certifies too)."""
    frame = Ledger.open(workspace).store.subjects_frame().sort_values("interactions", ascending=False)
    return str(frame["subject"].iloc[0])


def test_an_officer_files_runs_and_downloads_a_certificate_that_verifies(
    workspace: Path, console_url: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    executable = _chromium()
    SCREENSHOTS.mkdir(exist_ok=True)
    subject = _subject(workspace)
    taken: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)  # the first page load imports torch and opens the workspace

            def settled() -> None:
                """Wait for the script run to finish (the header's Stop button shows while it runs)."""
                expect(page.get_by_role("button", name="Stop")).to_have_count(0)

            def shot(name: str) -> None:
                """The whole page: Streamlit scrolls inside its main block, so the viewport grows to fit it."""
                settled()
                height = page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
                page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 8000)})
                page.wait_for_timeout(500)  # let charts redraw at the new size
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
                page.set_viewport_size({"width": 1400, "height": 1000})
                taken.append(SCREENSHOTS / f"{name}.png")

            def heading(text: str) -> None:
                expect(page.get_by_role("heading", name=text)).to_be_visible()

            def go(link: str, title: str) -> None:
                page.get_by_role("link", name=link).click()
                heading(title)

            def sign_in() -> None:
                page.get_by_label("User name").fill(OFFICER)
                page.get_by_label("Password", exact=True).fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()

            # 1. a visitor gets the sign-in page only; a wrong password is refused
            page.goto(console_url)
            heading("Sign in to the Lethe console")
            expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
            shot("01-sign-in")
            page.get_by_label("User name").fill(OFFICER)
            page.get_by_label("Password", exact=True).fill("not-the-password")
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_text("wrong user name or password")).to_be_visible()
            sign_in()
            heading("Dashboard")
            expect(page.get_by_text(f"Signed in as {OFFICER} (officer)")).to_be_visible()
            shot("02-dashboard")

            # 2. file a request
            go("New request", "New erasure request")
            page.get_by_label("Subject id (as in the data set)").fill(subject)
            page.get_by_label("Subject id (as in the data set)").press("Enter")  # outside the form: commits, reruns
            expect(page.get_by_test_id("stStatusWidget")).to_be_hidden()
            page.get_by_role("button", name="File request").click()
            filed = page.get_by_text("Filed request req-")
            expect(filed).to_be_visible()
            request_id = filed.inner_text().split()[2].rstrip(";")
            shot("03-new-request")

            # 3. its plan, then run it
            go("Request detail", "Request detail")
            expect(page.get_by_role("combobox", name="Request")).to_have_value(request_id)
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("received")
            expect(page.get_by_text("Plan preview")).to_be_visible()
            shot("04-request-detail-plan")
            page.get_by_role("button", name="Run erasure").click()  # queues it for the worker
            expect(page.get_by_text(f"Queued by {OFFICER}")).to_be_visible()
            # leave the page and reload the browser while the worker runs it: nothing is abandoned
            go("Dashboard", "Dashboard")
            page.reload()
            heading("Sign in to the Lethe console")  # a reload is a new session
            sign_in()
            heading("Dashboard")
            go("Request detail", "Request detail")
            page.get_by_role("combobox", name="Request").click()
            page.get_by_role("option", name=request_id).click()
            expect(page.get_by_role("button", name="Certificate (signed JSON)")).to_be_visible(timeout=RUN_TIMEOUT_MS)
            expect(page.get_by_test_id("stMetricValue").first).to_have_text("certified")
            shot("05-request-detail-certified")

            # 4. download the certificate (JSON and PDF)
            with page.expect_download() as json_download:
                page.get_by_role("button", name="Certificate (signed JSON)").click()
            certificate = tmp_path / json_download.value.suggested_filename
            json_download.value.save_as(certificate)
            with page.expect_download() as pdf_download:
                page.get_by_role("button", name="Certificate (PDF)").click()
            pdf = tmp_path / pdf_download.value.suggested_filename
            pdf_download.value.save_as(pdf)

            # 5. the other pages
            go("Models & lineage", "Models & lineage")
            shot("06-models")
            go("Audits", "Audits")
            page.get_by_role("button", name="Run audit now").click()
            expect(page.get_by_text("Signed audit report (JSON)")).to_be_visible(timeout=RUN_TIMEOUT_MS)
            shot("07-audits")
            go("Ledger", "Ledger integrity")
            page.get_by_role("button", name="Verify ledger").click()
            expect(page.get_by_text("Ledger ok")).to_be_visible()
            shot("08-ledger")
            go("Dashboard", "Dashboard")
            expect(page.get_by_text(f"Intact, checked")).to_contain_text(f"by {OFFICER}")
            shot("09-dashboard-after")
        finally:
            browser.close()

    # the downloaded file is the certificate of this request, and it verifies with the public key alone
    cert = verify_certificate_file(certificate, load_public_key(workspace / "keys" / "signing.pub"))
    assert cert.request_id == request_id and cert.passed
    assert pdf.read_bytes().startswith(b"%PDF")
    ledger = Ledger.open(workspace)
    record = ledger.request(request_id)
    assert record.state == "certified"
    filed_and_queued = [e for e in record.history if e.kind in ("request.received", "request.queued")]
    assert [e.actor for e in filed_and_queued] == [OFFICER, OFFICER]  # her clicks; the steps are the worker's
    downloads = ledger.log.events(["console.certificate_downloaded"])
    assert {(e.actor, e.payload["format"]) for e in downloads} == {(OFFICER, "json"), (OFFICER, "pdf")}
    assert {e.actor for e in ledger.log.events(["console.ledger_verified", "audit.completed"])} == {OFFICER}
    assert len(taken) == 9 and all(path.stat().st_size > 10_000 for path in taken)
