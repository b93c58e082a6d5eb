"""End to end in a real browser: Debian's headless Chromium, driven by Playwright, against ``streamlit run``.

The officer's whole journey (issue 23, point 7): sign in → file → verify the subject's identity → a second officer
approves (the policy asks for one) → run (queued; a worker runs it) → leave and come back (a reload is a new
session: the request's own address survives the sign-in) → the report → letters → the certificate verified in the
console. Then the auditor's: read, verify, export, and no officer button anywhere. Every step is screenshotted into
``screenshots/`` (git-ignored) for review. Playwright never downloads a browser here: it launches
``/usr/bin/chromium`` (``.ci/run`` installs it). Without Chromium the tests skip on a workstation, and fail when
``LETHE_REQUIRE_BROWSER`` is set (CI sets it).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import Ledger, load_public_key
from policies import activate_policy
from tests._processes import free_port
from tests.conftest import build_workspace
from ui._access import add_user
from verify import verify_certificate_file

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("LETHE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = ROOT / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-quic", "--disable-sync"]
OFFICER, SECOND_OFFICER, AUDITOR = "olivia", "omar", "aldo"
PASSWORDS = {OFFICER: "officer-password", SECOND_OFFICER: "second-officer-pw", AUDITOR: "auditor-password"}
RUN_TIMEOUT_MS = 240_000  # a loaded 2-core CI runner; the run takes ~15 s on an idle one
POLICY = """name: four-eyes
version: 1
approvers:
  run_request: [officer]     # a second officer approves every console request before it runs
"""
ORGANISATION = """name = "Acme Streaming Ltd"
address = "1 Example Street, 1000 Brussels, Belgium"
dpo_name = "Dana Privacy"
dpo_email = "dpo@acme.example"
supervisory_authority = "the Belgian Data Protection Authority"
"""


def _chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
        if os.environ.get("LETHE_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained workspace whose policy wants a second officer's approval, with its organisation's details, two
    officers and an auditor."""
    root = tmp_path_factory.mktemp("browser") / "ws"
    build_workspace(root, n_users=120, n_items=80)
    ledger = Ledger.open(root)
    for name, role in ((OFFICER, "officer"), (SECOND_OFFICER, "officer"), (AUDITOR, "auditor")):
        add_user(ledger, name, role, PASSWORDS[name], actor="test")
    policy = root.parent / "four-eyes.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    activate_policy(ledger, policy, role="officer", actor="test")
    (root / "organisation.toml").write_text(ORGANISATION, encoding="utf-8")
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
    frame = Ledger.open(workspace).store.subjects_frame().sort_values("interactions", ascending=False)
    return str(frame["subject"].iloc[0])


class Browser:
    """One Chromium page on the console, with the steps every journey repeats."""

    def __init__(self, page, url: str, prefix: str) -> None:  # noqa: ANN001 - a Playwright Page
        from playwright.sync_api import expect

        self.page, self.url, self.prefix, self.expect = page, url, prefix, expect
        self.taken: list[Path] = []
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)  # the first page load imports torch and opens the workspace

    def settled(self) -> None:
        """Wait for the script run to finish (the app's run state, since the running indicator is hidden)."""
        self.page.wait_for_function(
            "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState !== 'running'")
        self.page.wait_for_timeout(300)

    def shot(self, name: str) -> None:
        """The whole page: Streamlit scrolls inside its main block, so the viewport grows to fit it."""
        self.settled()
        height = self.page.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
        self.page.set_viewport_size({"width": 1400, "height": min(max(height, 1000), 9000)})
        self.page.wait_for_timeout(600)  # let charts redraw at the new size
        path = SCREENSHOTS / f"{self.prefix}-{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size({"width": 1400, "height": 1000})
        self.taken.append(path)

    def heading(self, text: str) -> None:
        self.expect(self.page.get_by_role("heading", name=text)).to_be_visible()

    def go(self, link: str, title: str) -> None:
        """Follow a sidebar link. A click that lands while the page redraws itself (the run's follower reruns the
        page when a step is recorded) can be overtaken by that redraw, as a person's would: click again then."""
        heading = self.page.get_by_role("heading", name=title)
        for _ in range(3):
            self.settled()
            self.page.get_by_role("link", name=link, exact=True).click()
            try:
                heading.wait_for(timeout=20_000)
                return
            except Exception:  # playwright's TimeoutError: the redraw won; try again
                continue
        self.heading(title)

    def sign_in(self, name: str, password: str | None = None) -> None:
        self.page.get_by_label("User name").fill(name)
        self.page.get_by_label("Password", exact=True).fill(password or PASSWORDS[name])
        self.page.get_by_role("button", name="Sign in").click()
        self.expect(self.page.get_by_text(f"Signed in as {name}")).to_be_visible()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()
        self.heading("Sign in to the Lethe console")

    def open_request(self, request_id: str, name: str) -> None:
        """The request's own address, signed out (a new session): the sign-in page keeps it, then opens it."""
        self.page.goto(f"{self.url}/request?id={request_id}")
        self.heading("Sign in to the Lethe console")
        self.expect(self.page.get_by_text(f"Sign in to open request {request_id}")).to_be_visible()
        self.sign_in(name)
        self.heading(f"Request {request_id}")

    def download(self, button: str, into: Path) -> Path:
        with self.page.expect_download() as download:
            self.page.get_by_role("button", name=button).first.click()
        path = into / download.value.suggested_filename
        download.value.save_as(path)
        return path

    def verify_certificate(self, certificate: Path) -> None:
        self.go("Verify a certificate", "Verify a certificate")
        self.page.locator("input[type=file]").first.set_input_files(str(certificate))
        self.expect(self.page.get_by_role("button", name=f"Remove {certificate.name}")).to_be_visible()
        self.page.get_by_role("button", name="Verify", exact=True).click()
        self.expect(self.page.get_by_text("Valid: certificate")).to_be_visible()
        self.expect(self.page.get_by_text("Not valid")).to_have_count(0)

    def no_developer_chrome(self) -> None:
        self.expect(self.page.get_by_role("button", name="Deploy")).to_have_count(0)
        self.expect(self.page.get_by_test_id("stStatusWidget")).to_be_hidden()


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _wait_for_export(workspace: Path, actor: str) -> None:
    """The register export is recorded by the rerun its click starts: leaving the page at once may cut it off."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and actor not in {
            e.actor for e in Ledger.open(workspace).log.events(["console.register_exported"])}:
        time.sleep(0.5)


@pytest.fixture(scope="module")
def officer_journey(workspace: Path, console_url: str, chromium, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The officer's journey, run once; the tests below check what it left in the browser and the ledger."""
    into = tmp_path_factory.mktemp("downloads")
    b = Browser(chromium.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True), console_url,
                "officer")
    page, expect = b.page, b.expect
    subject = _subject(workspace)

    # 1. a visitor gets the branded sign-in page only; a wrong password is refused
    page.goto(console_url)
    b.heading("Sign in to the Lethe console")
    expect(page.get_by_text("Privacy console of Acme Streaming Ltd")).to_be_visible()
    expect(page.get_by_role("link", name="Dashboard")).to_have_count(0)
    b.no_developer_chrome()
    b.shot("sign-in")
    page.get_by_label("User name").fill(OFFICER)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("wrong user name or password")).to_be_visible()
    b.sign_in(OFFICER)
    b.heading("Dashboard")
    b.no_developer_chrome()
    b.shot("dashboard")

    # 2. file a request: the subject is looked up before filing
    b.go("New request", "New erasure request")
    subject_box = page.get_by_role("textbox", name="Subject id")
    subject_box.fill(subject)
    subject_box.press("Enter")  # outside the form: commits, reruns
    expect(page.get_by_text(f"Subject {subject}:")).to_be_visible()
    page.get_by_role("button", name="File request").click()
    filed = page.get_by_text("Filed request req-")
    expect(filed).to_be_visible()
    request_id = filed.inner_text().split()[2].rstrip(".")
    b.shot("filed")

    # 3. its page: it cannot run before the identity is verified and a second officer approves
    page.get_by_role("link", name="Open the request").click()
    b.heading(f"Request {request_id}")
    assert f"id={request_id}" in page.url
    expect(page.get_by_text("Plan preview")).to_be_visible()
    expect(page.get_by_role("button", name="Run erasure")).to_be_disabled()
    expect(page.get_by_text("Before it can run: record how")).to_be_visible()
    b.shot("request-before-verification")
    page.get_by_role("button", name="Record identity verification").click()
    expect(page.get_by_text("Identity verified")).to_be_visible()
    page.get_by_role("button", name="Write: Acknowledgement of receipt").click()
    expect(page.get_by_text("Acknowledgement of receipt — written by olivia")).to_be_visible()
    expect(page.get_by_role("button", name="Run erasure")).to_be_disabled()  # still the approval missing
    expect(page.get_by_role("button", name="Approve running this request")).to_have_count(0)  # not her own
    b.shot("identity-verified")
    b.sign_out()

    # 4. the second officer opens the request's address, signs in, and approves
    b.open_request(request_id, SECOND_OFFICER)
    page.get_by_role("button", name="Approve running this request").click()
    expect(page.get_by_text(f"approved by {SECOND_OFFICER} (officer)")).to_be_visible()
    expect(page.get_by_role("button", name="Run erasure")).to_be_enabled()
    b.shot("approved-by-second-officer")
    b.sign_out()
    expect(page.get_by_text(f"Signed in as {SECOND_OFFICER}")).to_have_count(0)
    assert "request" not in page.url and "id=" not in page.url, page.url  # the next user starts afresh
    b.sign_in(AUDITOR)
    b.heading("Dashboard")  # not the previous user's request
    b.sign_out()

    # 5. the officer runs it, leaves, reloads (a new session), and comes back to it through the queue
    b.open_request(request_id, OFFICER)
    page.get_by_role("button", name="Run erasure").click()  # queues it for the worker
    expect(page.get_by_text(f"Queued by {OFFICER}")).to_be_visible()
    b.go("Requests", "Requests")
    page.reload()
    b.heading("Sign in to the Lethe console")  # a reload is a new session, on the same address
    b.sign_in(OFFICER)
    b.heading("Requests")  # the address survived the sign-in
    b.shot("queue")
    grid = page.get_by_test_id("stDataFrame").first
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 18)  # the first row's selection cell: the newest request
    b.heading(f"Request {request_id}")
    expect(page.get_by_role("button", name="Certificate (signed JSON)")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_test_id("stMetricValue").first).to_have_text("certified")
    expect(page.get_by_text("Certified on the lineage proof")).to_be_visible()
    b.shot("certified-report")

    # 6. letters: the completion letter, downloaded
    page.get_by_role("button", name="Write: Completion, with the certificate").click()
    expect(page.get_by_text("Completion, with the certificate — written by olivia")).to_be_visible()
    letter = b.download("Download PDF", into)  # the newest letter is listed first
    b.shot("letters")

    # 7. the certificate, downloaded and verified in the console
    certificate = b.download("Certificate (signed JSON)", into)
    pdf = b.download("Certificate (PDF)", into)
    b.verify_certificate(certificate)
    b.shot("certificate-verified")
    b.go("Requests", "Requests")
    register = b.download("Export the register (CSV)", into)
    _wait_for_export(workspace, OFFICER)
    page.close()
    return {"request_id": request_id, "certificate": certificate, "pdf": pdf, "letter": letter,
            "register": register, "taken": b.taken}


def test_the_officers_journey_leaves_a_verified_certificate_and_every_step_in_the_ledger(
    officer_journey: dict, workspace: Path
) -> None:
    request_id = officer_journey["request_id"]
    cert = verify_certificate_file(officer_journey["certificate"], load_public_key(workspace / "keys" / "signing.pub"))
    assert cert.request_id == request_id and cert.passed
    assert (cert.controller, cert.officer) == ("Acme Streaming Ltd", OFFICER)
    assert officer_journey["pdf"].read_bytes().startswith(b"%PDF")
    assert b"Acme Streaming Ltd" in officer_journey["pdf"].read_bytes()
    assert b"Completion" in officer_journey["letter"].read_bytes() or officer_journey["letter"].name.endswith(".pdf")
    record = Ledger.open(workspace).request(request_id)
    assert record.state == "certified"
    people = [(e.kind, e.actor) for e in record.history if e.actor in PASSWORDS]
    assert people[:4] == [("request.received", OFFICER), ("request.identity_verified", OFFICER),
                          ("request.letter_issued", OFFICER), ("request.approved", SECOND_OFFICER)]
    assert ("request.queued", OFFICER) in people and ("request.letter_issued", OFFICER) in people[4:]
    assert all(e.actor not in PASSWORDS for e in record.history if e.kind in ("request.planned", "request.certified"))
    checked = Ledger.open(workspace).log.events(["console.certificate_checked"])
    assert [(e.actor, e.payload["ok"]) for e in checked] == [(OFFICER, True)]
    rows = list(csv.DictReader(io.StringIO(officer_journey["register"].read_text(encoding="utf-8"))))
    assert [r["request"] for r in rows] == [request_id] and rows[0]["state"] == "certified"
    assert rows[0]["approved by"] == SECOND_OFFICER and len(rows[0]["subject pseudonym"]) >= 32
    assert len(officer_journey["taken"]) == 10 and all(p.stat().st_size > 10_000 for p in officer_journey["taken"])


def test_the_auditor_reads_verifies_and_exports_without_officer_buttons(
    officer_journey: dict, console_url: str, chromium, workspace: Path, tmp_path: Path
) -> None:
    request_id = officer_journey["request_id"]
    b = Browser(chromium.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True), console_url,
                "auditor")
    page, expect = b.page, b.expect
    b.open_request(request_id, AUDITOR)
    for officer_button in ("Run erasure", "Record identity verification", "Approve running this request",
                           "Write: Completion, with the certificate", "Refuse or close the request"):
        expect(page.get_by_role("button", name=officer_button)).to_have_count(0)
    expect(page.get_by_role("link", name="New request")).to_be_visible()  # the page exists, its form does not
    expect(page.get_by_role("button", name="Certificate (signed JSON)")).to_be_visible()
    expect(page.get_by_text("Completion, with the certificate — written by olivia")).to_be_visible()
    b.shot("request-read-only")
    certificate = b.download("Certificate (signed JSON)", tmp_path)
    b.verify_certificate(certificate)
    b.shot("certificate-verified")
    b.go("Requests", "Requests")
    register = b.download("Export the register (CSV)", tmp_path)
    _wait_for_export(workspace, AUDITOR)
    b.shot("queue")
    b.go("New request", "New erasure request")
    expect(page.get_by_role("button", name="File request")).to_have_count(0)
    page.close()
    assert request_id in register.read_text(encoding="utf-8")
    ledger = Ledger.open(workspace)
    assert {e.actor for e in ledger.log.events(["console.register_exported"])} == {OFFICER, AUDITOR}
    assert [e.payload["ok"] for e in ledger.log.events(["console.certificate_checked"]) if e.actor == AUDITOR] == [True]
    assert all(p.stat().st_size > 10_000 for p in b.taken)
