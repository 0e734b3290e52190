"""Cohort slots under concurrency (issue 9 §2): 100 reservations fired at once through the JSON
API of two ``oncotrial serve`` processes sharing one PostgreSQL database, for a cohort of 3
slots, give exactly 3 reservations; the others are refused with a plain reason, and the audit
chain stays intact. Skipped without a PostgreSQL server (ONCOTRIAL_TEST_PG)."""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conduct_fixtures import PASSWORD, PROTOCOL, actor, eligible_answers, make_study
from oncotrial.conduct import Study, entry
from oncotrial.store import Store
from store_fixtures import PG_ENV, PG_SKIP_REASON, fresh_database
from test_web_servers import free_port, start_server, wait_until_up

pytest_plugins = ["store_fixtures", "conduct_fixtures"]

RESERVATIONS = 100
SLOTS = 3


def test_100_concurrent_reservations_for_3_slots_on_two_servers(tmp_path) -> None:
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP_REASON)
    with fresh_database("postgresql", tmp_path) as url:
        study = make_study(url)
        try:
            store = Store(study.engine)
            store.set_cohort_status(1, "closed", "test-setup", "not used by this test")
            store.add_cohort(2, "L1", "test-setup", slots=SLOTS)
            crc = actor(study, "crc01")
            t0 = time.monotonic()
            subjects = [
                entry.screen(
                    study,
                    crc,
                    {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)},
                ).usubjid
                for _ in range(RESERVATIONS)
            ]
            print(f"{RESERVATIONS} subjects screened: {time.monotonic() - t0:.1f} s")
        finally:
            study.close()
        ports = [free_port(), free_port()]
        processes = [start_server(url, port) for port in ports]
        try:
            for port, process in zip(ports, processes, strict=True):
                wait_until_up(port, process)
            token = httpx.post(
                f"http://127.0.0.1:{ports[0]}/api/session",
                json={"username": "crc01", "password": PASSWORD},
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}

            def reserve(i: int) -> tuple[int, str]:
                response = httpx.post(
                    f"http://127.0.0.1:{ports[i % 2]}/api/slots",
                    headers=headers,
                    json={"usubjid": subjects[i], "enrol_date": "2025-01-08"},
                    timeout=120,
                )
                return response.status_code, response.json().get("message", "")

            started = time.monotonic()
            with ThreadPoolExecutor(max_workers=20) as pool:
                results = list(pool.map(reserve, range(RESERVATIONS)))
            elapsed = time.monotonic() - started
            print(f"{RESERVATIONS} reservations through two servers: {elapsed:.1f} s")
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        codes = Counter(code for code, _ in results)
        assert codes == {201: SLOTS, 409: RESERVATIONS - SLOTS}, results
        assert all("no cohort has an open slot" in m for c, m in results if c == 409)
        assert elapsed < 120
        check = Study.open(url, PROTOCOL, migrate=False)
        try:
            store = Store(check.engine)
            subjects_frame = store.subjects()
            enrolled = subjects_frame[subjects_frame["cohort"] == 2]
            assert len(enrolled) == SLOTS and enrolled["dose_level"].eq("L1").all()
            assert store.verify_audit().ok
        finally:
            check.close()
