"""The dashboards of the trial application.

- On the demo-sized virtual trial (``simulate-trial --seed 2026``, 61 patients, then
  ``report``), the dashboard's
  DLT table and listing, enrolment-by-level and survival tables are the report's tables cell by
  cell, and every figure is byte for byte the image the report embeds (one drawing code).
- Enrolment by site is checked against the database itself (plain SQL), independently of the
  code; a site user's dashboard holds that site's patients only (in the virtual trial and in a
  two-site study entered through the application, on SQLite and on PostgreSQL with row-level
  security); the roles the permission table does not allow are refused with 403.
- The plan is Simon's optimal two-stage design for p0 = 0.20, p1 = 0.40, α = 0.05, power 0.80:
  n = 43 (r1/n1 = 3/13), Simon (1989) Table 1 — with the protocol's accrual rates.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner

from conduct_fixtures import AE_VALUES, PASSWORD, actor, enrolled_subject, make_study
from oncotrial.cli.main import app
from oncotrial.conduct import Study, accounts, dashboards, entry
from oncotrial.conduct.scope import bypasses_row_security, scoped_engine
from oncotrial.protocol import load_protocol
from oncotrial.report.enrolment import EnrolmentPlan
from store_fixtures import PG_ENV, PG_SKIP_REASON, fresh_database
from test_report_numbers import _Tables
from web_helpers import client, login

pytest_plugins = ["store_fixtures", "conduct_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
IMAGE = re.compile(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"')
#: dashboard figure → the alt text of the same figure in the report
REPORT_FIGURES = {
    "enrolment": "enrolment over time against plan",
    "escalation": "dose escalation",
    "swimmer": "swimmer plot",
    "waterfall": "waterfall plot",
    "spider": "spider plot",
    "km_OS": "km_OS Kaplan-Meier",
    "km_PFS": "km_PFS Kaplan-Meier",
    "km_RSD": "km_RSD Kaplan-Meier",
}
DM_VALUES = {"age": "60", "sex": "M", "etiology": "HBV", "bclc": "C", "child_pugh": "A5"}


def tables_of(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The virtual trial of seed 1 (phase I, stage 1 and stage 2), its report, and the
    application on its database with a statistician, a site-02 investigator and an admin."""
    tmp = tmp_path_factory.mktemp("dash")
    db = tmp / "trial.db"
    runner = CliRunner()
    run = runner.invoke(
        app, ["simulate-trial", "--protocol", str(PROTOCOL), "--seed", "2026", "--db", str(db)]
    )
    assert run.exit_code == 0, run.output
    out = tmp / "report"
    rep = runner.invoke(
        app,
        ["report", "--db", str(db), "--out", str(out), "--protocol", str(PROTOCOL), "--no-pdf"],
    )
    assert rep.exit_code == 0, rep.output
    page = (out / "report.html").read_text(encoding="utf-8")
    study = Study.open(f"sqlite:///{db}", PROTOCOL)
    admin = study.system_actor("test-setup")
    for username, role, sites in (
        ("stat", "statistician", ()),
        ("inv02", "investigator", ("02",)),
        ("adm", "admin", ()),
    ):
        accounts.add_user(study, admin, username, role, PASSWORD, full_name=username, sites=sites)
    yield {
        "db": db,
        "study": study,
        "tables": tables_of(page),
        "images": {alt: base64.b64decode(data) for data, alt in IMAGE.findall(page)},
    }
    study.close()


@pytest.fixture(scope="module")
def stat_web(trial: dict[str, Any]):
    web = client(trial["study"])
    login(web, "stat")
    return web


def test_the_dashboards_show_the_reports_numbers(trial: dict[str, Any], stat_web) -> None:
    report = trial["tables"]
    phase1 = tables_of(stat_web.get("/dashboards/phase1").text)
    assert phase1["dlt"] == report["dlt"]
    assert phase1["dlt-listing"] == report["dlt-listing"]
    efficacy = tables_of(stat_web.get("/dashboards/efficacy").text)
    assert efficacy["survival"] == report["survival"]
    enrolment = stat_web.get("/dashboards")
    assert enrolment.status_code == 200
    assert tables_of(enrolment.text)["enrolment"] == report["enrolment"]


def test_the_dashboards_figures_are_the_reports_images(trial: dict[str, Any], stat_web) -> None:
    for name, alt in REPORT_FIGURES.items():
        response = stat_web.get(f"/dashboards/figures/{name}.png")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == "image/png"
        assert response.content == trial["images"][alt], name


def _site_counts(db: Path) -> dict[str, tuple[int, int, int]]:
    """(enrolled, phase I, phase II) per site, by plain SQL on the trial database."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT s.site_code, COUNT(*), SUM(c.phase = 'I'), SUM(c.phase = 'II') "
            "FROM subjects s JOIN cohorts c ON c.id = s.cohort_id GROUP BY s.site_code"
        ).fetchall()
    return {site: (n, p1, p2) for site, n, p1, p2 in rows}


def test_enrolment_by_site_is_what_the_database_holds(trial: dict[str, Any], stat_web) -> None:
    data = stat_web.get("/api/dashboards/enrolment").json()
    counts = _site_counts(trial["db"])
    assert {s["site"]: (s["enrolled"], s["phase1"], s["phase2"]) for s in data["sites"]} == counts
    assert data["total"]["enrolled"] == sum(n for n, _, _ in counts.values()) == 61
    monthly = data["monthly"]
    assert max(m["cumulative"] or 0 for m in monthly) == 61
    assert sum(sum(m[site] for site in counts) for m in monthly) == 61
    assert data["plan"]["total"] == 18 + 43
    assert data["whole_study"] and monthly[-1]["planned"] == 61
    # the figure of the page is served
    assert stat_web.get("/dashboards/figures/enrolment.png").content[:4] == b"\x89PNG"


def test_a_site_user_sees_only_their_sites_patients(trial: dict[str, Any], stat_web) -> None:
    web = client(trial["study"])
    login(web, "inv02")
    mine = web.get("/api/dashboards/enrolment").json()
    enrolled, phase1, _ = _site_counts(trial["db"])["02"]
    assert [s["site"] for s in mine["sites"]] == ["02"]
    assert not mine["whole_study"]  # the plan is the study's: not drawn against one site
    assert all(m["planned"] is None for m in mine["monthly"])
    assert mine["total"]["enrolled"] == enrolled < 61
    results = web.get("/api/dashboards/results").json()
    assert results["patients"] == enrolled
    treated = sum(int(row["Patients treated"]) for row in results["dlt_table"])
    assert treated == phase1
    assert all(row["Subject"].startswith("02-") for row in results["dlt_listing"])
    # the same as a central user's view of site 02 only
    central = stat_web.get("/api/dashboards/results?site=02").json()
    assert central["dlt_table"] == results["dlt_table"]
    assert central["survival"] == results["survival"]
    page = web.get("/dashboards/phase1").text
    others = {s for s in re.findall(r"\b0[134]-\d{3}\b", page)}
    assert others == set()


def test_roles_and_sites_not_allowed_are_refused(trial: dict[str, Any]) -> None:
    anonymous = client(trial["study"])
    assert anonymous.get("/dashboards").status_code == 303
    assert anonymous.get("/api/dashboards/enrolment").status_code == 401
    admin = client(trial["study"])
    login(admin, "adm")
    assert admin.get("/dashboards").status_code == 200  # counts by site, no clinical data
    for path in (
        "/dashboards/phase1",
        "/dashboards/efficacy",
        "/dashboards/figures/swimmer.png",
        "/api/dashboards/results",
    ):
        assert admin.get(path).status_code == 403, path
    site_user = client(trial["study"])
    login(site_user, "inv02")
    for path in ("/dashboards?site=01", "/api/dashboards/results?site=01"):
        response = site_user.get(path)
        assert response.status_code == 403, path
        assert "does not work at site 01" in response.text
    assert site_user.get("/dashboards/figures/nothing.png").status_code == 404


def test_a_write_moves_the_audit_head_and_the_dashboard_follows(trial: dict[str, Any]) -> None:
    study: Study = trial["study"]
    stat = actor(study, "stat")
    before = dashboards.enrolment(study, stat)
    assert dashboards.snapshot(study, stat) is dashboards.snapshot(study, stat)
    first = dashboards.snapshot(study, stat)
    actor(study, "stat")  # a login: an audited access event, no clinical data changed
    again = dashboards.snapshot(study, stat)
    assert again.head.seq > first.head.seq
    assert again.work is first.work  # derived once for the same content
    admin = study.system_actor("test-setup")
    accounts.add_site(study, admin, "05", name="Chengdu", country="CHN")
    after = dashboards.enrolment(study, stat)
    assert after.head.seq > again.head.seq
    assert [s.site for s in after.sites] == [*(s.site for s in before.sites), "05"]
    assert dashboards.snapshot(study, stat).work is not first.work


# ---------------------------------------------------------------------------------------------
# a study entered through the application: two sites, each backend


def test_two_sites_entered_through_the_application(study: Study) -> None:
    crc01, crc02 = actor(study, "crc01"), actor(study, "crc02")
    ours = [enrolled_subject(study, crc01) for _ in range(2)]
    theirs = enrolled_subject(study, crc02, site="02")
    for usubjid, who in ((ours[0], crc01), (ours[1], crc01), (theirs, crc02)):
        entry.save_form(study, who, usubjid, "DM", DM_VALUES)
    entry.save_form(study, crc01, ours[0], "AE", AE_VALUES)
    site = dashboards.enrolment(study, actor(study, "inv01"))
    assert [(s.site, s.enrolled) for s in site.sites] == [("01", 2)]
    assert site.total.enrolled == 2 and site.scope == "site 01"
    central = dashboards.enrolment(study, actor(study, "dm"))
    assert [(s.site, s.enrolled) for s in central.sites] == [("01", 2), ("02", 1)]
    mine = dashboards.results(study, actor(study, "inv02"))
    assert mine.patients == 1
    assert mine.dlt is None  # no adverse event at site 02: no DLT table, as in the report
    ours_view = dashboards.results(study, actor(study, "inv01"))
    assert ours_view.patients == 2
    assert list(ours_view.dlt.listing["Subject"]) == [ours[0]]
    assert ours_view.figures == ["escalation"]  # no tumour assessment, no survival yet
    web = client(study)
    login(web, "crc02")
    assert ours[0] not in web.get("/dashboards/phase1").text


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Study]:
    """A two-site study on PostgreSQL whose application role is bound by row-level security
    (not the tables' owner): the database alone keeps each site's rows from the others."""
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP_REASON)
    with fresh_database("postgresql", tmp_path) as url:
        setup = make_study(url)
        setup.close()
        role = f"oncotrial_dash_{uuid.uuid4().hex[:12]}"
        schema = make_url(url).query["options"].split("=")[1]
        admin = create_engine(os.environ[PG_ENV], isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for statement in (
                f'CREATE ROLE "{role}" NOLOGIN',
                f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"',
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{schema}" '
                f'TO "{role}"',
                f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "{schema}" TO "{role}"',
            ):
                connection.execute(text(statement))
        study = Study(scoped_engine(url, role), setup.protocol)
        try:
            yield study
        finally:
            study.close()
            with admin.connect() as connection:
                connection.execute(text(f'DROP OWNED BY "{role}"'))
                connection.execute(text(f'DROP ROLE "{role}"'))
            admin.dispose()


def test_row_level_security_holds_under_the_dashboards(secured: Study) -> None:
    study = secured
    assert not bypasses_row_security(study.engine)
    crc01, crc02 = actor(study, "crc01"), actor(study, "crc02")
    made = []
    for who, site, n in ((crc01, "01", 2), (crc02, "02", 1)):
        for _ in range(n):
            made.append(enrolled_subject(study, who, site=site))
            entry.save_form(study, who, made[-1], "DM", DM_VALUES)
    entry.save_form(study, crc01, made[0], "AE", AE_VALUES)
    for username, enrolled, patients in (("inv01", 2, 2), ("inv02", 1, 1), ("stat", 3, 3)):
        who = actor(study, username)
        view = dashboards.enrolment(study, who)
        assert view.total.enrolled == enrolled, username
        assert dashboards.results(study, who).patients == patients, username
    # what the database itself returns to a site-02 transaction: site 02's rows only
    snap = dashboards.snapshot(study, actor(study, "inv02"))
    assert set(snap.subjects["site"]) == {"02"}
    assert all(set(frame["USUBJID"].str[:2]) == {"02"} for frame in snap.sdtm.values())


# ---------------------------------------------------------------------------------------------
# the plan


def test_the_plan_is_the_protocols() -> None:
    plan = EnrolmentPlan.of(load_protocol(PROTOCOL))
    assert (plan.phase1_patients, plan.phase2_patients) == (18, 43)  # Simon 1989, Table 1
    assert (plan.phase1_per_month, plan.phase2_per_month) == (2.0, 4.0)
    assert plan.planned(4.5) == 9 and plan.planned(9) == 18
    assert plan.planned(9 + 5) == 18 + 20
    assert plan.months_to_complete() == 9 + 43 / 4
    assert plan.planned(100) == 61


@given(st.floats(0, 60), st.floats(0, 60))
def test_the_plan_never_falls_and_stops_at_the_sample_size(a: float, b: float) -> None:
    plan = EnrolmentPlan(18, 2.0, 43, 4.0)
    low, high = sorted((a, b))
    assert 0 <= plan.planned(low) <= plan.planned(high) <= plan.total


# ---------------------------------------------------------------------------------------------
# in a real browser (Debian's Chromium through Playwright); with ONCOTRIAL_SCREENSHOTS=<folder>
# each dashboard page is saved there as PNG (docs/screenshots/dashboard-*.png)

CHROMIUM = "/usr/bin/chromium"
SHOTS = os.environ.get("ONCOTRIAL_SCREENSHOTS")


@pytest.fixture(scope="module")
def served(trial: dict[str, Any]) -> Iterator[str]:
    """The application on the virtual trial's database, on a free loopback port."""
    import uvicorn

    from oncotrial.web import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(trial["study"]), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Chromium is absent (apt-get install chromium)"
)
def test_the_dashboards_in_a_browser(served: str) -> None:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            for username, pages in (
                ("stat", ("", "/phase1", "/efficacy")),
                ("inv02", ("",)),
            ):
                context = browser.new_context(viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.set_default_timeout(30000)
                page.goto(f"{served}/login")
                page.fill("#username", username)
                page.fill("#password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_load_state()
                page.click("nav >> text=Dashboards")
                for path in pages:
                    page.goto(f"{served}/dashboards{path}")
                    page.wait_for_load_state("networkidle")
                    widths = page.eval_on_selector_all(
                        "img.figure", "images => images.map(i => i.naturalWidth)"
                    )
                    assert widths and all(w > 0 for w in widths), (username, path, widths)
                    if SHOTS:
                        Path(SHOTS).mkdir(parents=True, exist_ok=True)
                        name = f"dashboard-{path.strip('/') or 'enrolment'}"
                        if username != "stat":
                            name += f"-{username}"
                        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)
                context.close()
        finally:
            browser.close()
