"""Journeys in a real browser: Playwright drives Debian's Chromium against the application
served by uvicorn on the loopback — sign in, screen and enrol a subject, enter dosing, an AE
that is a DLT and a tumour assessment, answer and close a query, review and sign, and a site
user trying another site's subject. Skipped where Chromium is absent.

With ``ONCOTRIAL_SCREENSHOTS=<folder>`` the main pages are also saved as PNG (docs/)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conduct_fixtures import PASSWORD, actor, make_study
from oncotrial.conduct import Study, reading
from store_fixtures import fresh_database

pytest_plugins = ["store_fixtures", "conduct_fixtures"]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is absent (apt-get install -y chromium; .ci/run installs it)",
)
SHOTS = os.environ.get("ONCOTRIAL_SCREENSHOTS")


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Study]]:
    """The application on a free loopback port (uvicorn in a thread), SQLite."""
    import uvicorn

    from oncotrial.web import create_app

    with fresh_database("sqlite", tmp_path_factory.mktemp("browser")) as url:
        study = make_study(url)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(create_app(study), host="127.0.0.1", port=port, log_level="warning")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}", study
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            study.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def signed_in(browser: Any, base: str, username: str) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{base}/")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    return page


def shows(page: Any, text: str) -> None:
    """The page, once the navigation a click started has finished, shows ``text`` (reading the
    content mid-navigation gives an empty page)."""
    page.wait_for_load_state()
    page.wait_for_selector(f"text={text}")


def test_a_site_journey_from_screening_to_signature(
    served: tuple[str, Study], browser: Any
) -> None:
    base, study = served
    login = browser.new_page()
    login.goto(f"{base}/login")
    shot(login, "login")
    login.close()
    crc = signed_in(browser, base, "crc01")
    assert "Subjects" in crc.inner_text("h1")
    crc.click("text=Screen a new subject")
    crc.fill("#consent_date", "2025-01-06")
    criteria = study.protocol.eligibility
    assert criteria is not None
    for criterion in criteria.inclusion:
        crc.select_option(f"#crit_{criterion.id}", "Y")
    for criterion in criteria.exclusion:
        crc.select_option(f"#crit_{criterion.id}", "N")
    shot(crc, "screening")
    crc.click("text=Save screening")
    assert "Subject 01-001" in crc.inner_text("h1")
    crc.click("text=Enrolment")
    crc.fill("#enrol_date", "2025-01-07")
    crc.click("#save")
    shows(crc, "Saved.")
    crc.goto(f"{base}/subjects/01-001/forms/EX-DONAFENIB/new")
    crc.fill("#cycle", "1")
    crc.fill("#start", "2025-01-13")
    crc.fill("#dose", "100")
    crc.select_option("#frequency", "BID")
    crc.click("#save")
    shows(crc, "Saved.")
    crc.goto(f"{base}/subjects/01-001/forms/AE/new")
    crc.fill("#term", "Platelet count decreased")
    crc.select_option("#grade", "4")
    crc.fill("#start", "2025-01-25")
    crc.fill("#end", "2025-02")
    crc.select_option("#serious", "N")
    crc.select_option("#rel_donafenib", "PROBABLY RELATED")
    crc.select_option("#rel_toripalimab", "NOT RELATED")
    crc.select_option("#dlt", "Y")
    crc.click("#save")
    assert "thrombocytopenia-g4" in crc.inner_text("[data-computed=dlt]")
    assert crc.locator(".query").count() >= 1  # the partial end date opened a query
    shot(crc, "adverse-event")
    crc.goto(f"{base}/subjects/01-001/forms/TA/new")
    crc.select_option("#visit", "1")
    crc.fill("#date", "2025-01-08")
    crc.select_option("#method", "CT SCAN")
    crc.fill("#targets-0-link", "T01")
    crc.fill("#targets-0-location", "LIVER")
    crc.select_option("#targets-0-nodal", "N")
    crc.fill("#targets-0-diameter", "52")
    crc.click("#save")
    shows(crc, "Saved.")
    shot(crc, "tumour-assessment")

    dm = signed_in(browser, base, "dm")
    dm.goto(f"{base}/queries")
    shot(dm, "queries")
    assert "01-001" in dm.inner_text("table")
    ae = reading.get_form(study, actor(study, "dm"), "01-001", "AE", "1")
    dm.goto(f"{base}/subjects/01-001/forms/AE/1")
    dm.select_option("#query-field", "grade")
    dm.fill("#query-message", "Please confirm grade 4 against the lab report")
    dm.click("#open-query")
    query_id = dm.locator("[data-query]").last.get_attribute("data-query")

    crc.goto(f"{base}/subjects/01-001/forms/AE/1")
    crc.fill(f"#answer-{query_id}", "Platelets 18 x 10^9/L on 2025-01-25: grade 4")
    crc.click(f"#answer-button-{query_id}")
    crc.fill("#end", "2025-02-08")
    crc.fill("#reason", "end date from the discharge letter")
    crc.click("#save")
    shows(crc, "Saved.")
    crc.click("#review-complete")

    dm.goto(f"{base}/subjects/01-001/forms/AE/1")
    dm.fill(f"#close-{query_id}", "confirmed against source")
    dm.click(f"#close-button-{query_id}")
    monitor = signed_in(browser, base, "mon")
    monitor.goto(f"{base}/subjects/01-001/forms/AE/1")
    monitor.click("#review-verify")
    dm.goto(f"{base}/subjects/01-001/forms/AE/1")
    dm.click("#review-lock")

    inv = signed_in(browser, base, "inv01")
    inv.goto(f"{base}/subjects/01-001/forms/AE/1")
    inv.fill("#sign-password", "not my password")
    inv.click("#sign")
    shows(inv, "does not match")
    inv.fill("#sign-password", PASSWORD)
    inv.click("#sign")
    signature = inv.locator("[data-signature]").first
    assert signature.get_attribute("data-signature") == "valid"
    assert "Name of inv01" in signature.inner_text()
    assert "UTC" in signature.inner_text()
    inv.locator("#review").scroll_into_view_if_needed()
    shot(inv, "signed-form")
    inv.goto(f"{base}/entries/{ae.id}/audit")
    assert "end date from the discharge letter" in inv.inner_text("table")
    shot(inv, "audit-trail")
    inv.goto(f"{base}/subjects/01-001")
    shot(inv, "subject")
    assert reading.get_form(study, actor(study, "dm"), "01-001", "AE", "1").status == "signed"
    for page in (crc, dm, monitor, inv):
        page.context.close()


def test_a_site_user_cannot_open_another_sites_subject(
    served: tuple[str, Study], browser: Any
) -> None:
    base, study = served
    other = signed_in(browser, base, "crc02")
    other.goto(f"{base}/subjects/01-001")
    assert "Not found" in other.inner_text("h1")
    other.goto(f"{base}/subjects/01-001/forms/AE/1")
    assert "Not found" in other.inner_text("h1")
    other.goto(f"{base}/")
    assert "01-001" not in other.inner_text("main")
    other.context.close()
