"""The committee's journey in a real browser (issue 9 §5): Playwright drives Debian's Chromium
against the application — the statistician opens cohort 1, a site reserves its three slots,
the board shows the third patient pending on 2025-02-12 (BOIN waits) and complete on 2025-02-17
(0/3 DLTs: escalate to L2), the statistician proposes from that snapshot, a committee member is
refused a different dose without a reason, the three required members sign and cohort 2 opens
at L2. Skipped where Chromium is absent.

With ``ONCOTRIAL_SCREENSHOTS=docs/screenshots`` the board and the meeting are saved as PNG."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conduct_fixtures import PASSWORD, actor, eligible_answers
from oncotrial.conduct import Study, entry
from phase1_fixtures import study_without_cohorts
from store_fixtures import fresh_database
from test_web_browser import ARGS, CHROMIUM, shot, signed_in

pytest_plugins = ["store_fixtures", "conduct_fixtures"]
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is absent (apt-get install -y chromium; .ci/run installs it)",
)
FIRST_DOSES = ("2025-01-13", "2025-01-15", "2025-01-20")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Study]]:
    import uvicorn

    from oncotrial.web import create_app

    with fresh_database("sqlite", tmp_path_factory.mktemp("committee")) as url:
        study = study_without_cohorts(url)
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
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


def test_a_cohort_from_slot_reservation_to_a_signed_decision(
    served: tuple[str, Study], chromium: Any
) -> None:
    base, study = served
    stat = signed_in(chromium, base, "stat")
    stat.goto(f"{base}/cohorts")
    stat.click("#open-first")
    assert "cohort 1 opened at L1, donafenib 100 mg bid" in stat.inner_text("#message")

    crc = signed_in(chromium, base, "crc01")
    who = actor(study, "crc01")
    subjects = []
    for day in FIRST_DOSES:
        answers = {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)}
        usubjid = entry.screen(study, who, answers).usubjid
        crc.goto(f"{base}/cohorts")
        crc.select_option("#usubjid", usubjid)
        crc.fill("#enrol_date", "2025-01-08")
        crc.click("#reserve button[type=submit]")
        assert f"{usubjid}: slot" in crc.inner_text("#message")
        assert "L1, donafenib 100 mg bid" in crc.inner_text("#message")
        entry.save_form(
            study,
            who,
            usubjid,
            "EX-DONAFENIB",
            {"cycle": "1", "start": day, "dose": "100", "frequency": "BID"},
        )
        subjects.append(usubjid)
    assert "full" in crc.inner_text("#cohorts")

    stat.goto(f"{base}/board?as_of=2025-02-12")
    third = stat.locator(f"tr[data-usubjid='{subjects[2]}']")
    assert "pending" in third.inner_text() and "2025-02-16" in third.inner_text()
    assert "wait" in stat.inner_text("#recommendation")
    shot(stat, "board-pending")
    stat.fill("#as_of", "2025-02-17")
    stat.click("form.row button[type=submit]")
    assert "complete" in stat.locator(f"tr[data-usubjid='{subjects[2]}']").inner_text()
    assert "L2, donafenib 200 mg bid" in stat.inner_text("#recommendation")
    shot(stat, "board-complete")

    stat.goto(f"{base}/meeting?as_of=2025-02-17")
    assert "L2" in stat.inner_text("#live-recommendation")
    stat.click("#propose button[type=submit]")
    assert "proposed" in stat.inner_text("#status")
    assert "L2, donafenib 200 mg bid" in stat.inner_text("#recommended")
    assert stat.inner_text("#admissible") == "L-1, L1, L2"
    decision_url = stat.url

    dec = signed_in(chromium, base, "dec")
    dec.goto(decision_url)
    dec.select_option("#dose", "L1")
    dec.click("#choose button[type=submit]")
    assert "reason is required" in dec.inner_text("#choice-error")
    dec.select_option("#dose", "L2")
    dec.click("#choose button[type=submit]")
    dec.fill("#password", PASSWORD)
    dec.click("#sign button[type=submit]")
    assert "Name of dec" in dec.inner_text("#signatures")

    stat.goto(decision_url)
    stat.fill("#password", "not my password")
    stat.click("#sign button[type=submit]")
    assert "does not match" in stat.inner_text("#sign-error")
    stat.fill("#password", PASSWORD)
    stat.click("#sign button[type=submit]")
    assert "principal investigator" in stat.inner_text("#missing")
    shot(stat, "meeting-decision")

    inv = signed_in(chromium, base, "inv01")
    inv.goto(decision_url)
    inv.fill("#password", PASSWORD)
    inv.click("#sign button[type=submit]")
    assert inv.inner_text("#status") == "final"
    assert inv.inner_text("#signatures").count("[valid]") == 3
    inv.goto(f"{base}/cohorts")
    row = inv.locator("tr[data-cohort='2']")
    assert "L2, donafenib 200 mg bid" in row.inner_text() and "open" in row.inner_text()
    inv.goto(f"{base}/notifications")
    assert "signed" in inv.inner_text("#notifications")
