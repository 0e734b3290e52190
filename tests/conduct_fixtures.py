"""Fixtures of the trial-application tests: a study on each backend with two sites, one user
of each role (and a second site's staff), an open cohort, and helpers to screen and enrol.

Passwords are hashed with cheap argon2id parameters here (the production default costs about
0.3 s a hash on this machine); the parameters are stored in each hash, so nothing else changes.
Test modules load these with ``pytest_plugins = ["store_fixtures", "conduct_fixtures"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncotrial.conduct import Actor, Study, accounts, entry, passwords
from oncotrial.store import Store
from store_fixtures import BACKENDS, fresh_database

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"
PASSWORD = "correct horse battery staple"
#: user name → (role, sites)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "inv01": ("investigator", ("01",)),
    "crc01": ("coordinator", ("01",)),
    "inv02": ("investigator", ("02",)),
    "crc02": ("coordinator", ("02",)),
    "dm": ("data_manager", ()),
    "mon": ("monitor", ()),
    "stat": ("statistician", ()),
    "dec": ("committee", ()),
    "adm": ("admin", ()),
}


@pytest.fixture(autouse=True, scope="session")
def cheap_password_hashes() -> Iterator[None]:
    passwords.set_cost(time_cost=1, memory_kib=8192, parallelism=1)
    yield


def make_study(url: str) -> Study:
    study = Study.open(url, PROTOCOL)
    admin = study.system_actor("test-setup")
    accounts.add_site(study, admin, "01", name="Beijing", country="CHN")
    accounts.add_site(study, admin, "02", name="Shanghai", country="CHN")
    for username, (role, sites) in USERS.items():
        accounts.add_user(
            study, admin, username, role, PASSWORD, full_name=f"Name of {username}", sites=sites
        )
    Store(study.engine).add_cohort(1, "L1", "test-setup", slots=30)
    return study


@pytest.fixture(params=BACKENDS)
def study(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Study]:
    """A fresh study per test, on each backend."""
    with fresh_database(request.param, tmp_path) as url:
        trial = make_study(url)
        try:
            yield trial
        finally:
            trial.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_study(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Study]:
    """A study shared by one module's tests (each test makes its own subjects)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("study")) as url:
        trial = make_study(url)
        try:
            yield trial
        finally:
            trial.close()


def actor(study: Study, username: str) -> Actor:
    return accounts.authenticate(study, username, PASSWORD)


def eligible_answers(study: Study) -> dict[str, str]:
    criteria = study.protocol.eligibility
    assert criteria is not None
    answers = {f"crit_{c.id}": "Y" for c in criteria.inclusion}
    answers.update({f"crit_{c.id}": "N" for c in criteria.exclusion})
    return answers


def enrolled_subject(
    study: Study,
    who: Actor,
    site: str = "01",
    *,
    consent: str = "2025-01-06",
    first_dose: str | None = "2025-01-13",
) -> str:
    """Screen, enrol and (when ``first_dose``) dose one subject; its USUBJID."""
    result = entry.screen(
        study, who, {"site": site, "consent_date": consent, **eligible_answers(study)}
    )
    entry.save_form(study, who, result.usubjid, "ENROL", {"enrol_date": consent})
    if first_dose:
        entry.save_form(
            study,
            who,
            result.usubjid,
            "EX-DONAFENIB",
            {"cycle": "1", "start": first_dose, "dose": "100", "frequency": "BID"},
        )
    return result.usubjid


AE_VALUES: dict[str, Any] = {
    "term": "Platelet count decreased",
    "grade": "4",
    "start": "2025-01-25",
    "end": "2025-02-10",
    "serious": "N",
    "rel_donafenib": "PROBABLY RELATED",
    "rel_toripalimab": "NOT RELATED",
    "dlt": "Y",
}
