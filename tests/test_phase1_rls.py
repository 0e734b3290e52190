"""Phase I under PostgreSQL row-level security: the committee's board is computed from every
site's patients even when the application's role is bound by the site policies, while site
staff see only their own sites' rows (the counts and the recommendation are the study's)."""

from __future__ import annotations

from datetime import date

import pytest

import test_conduct_rls
from conduct_fixtures import actor
from oncotrial.conduct import Study
from oncotrial.conduct.committee import dlt_board
from test_conduct_rls import populate

pytest_plugins = ["store_fixtures", "conduct_fixtures"]
#: the PostgreSQL study whose application role is bound by row-level security
secured = test_conduct_rls.secured


def test_board_reads_every_site_under_row_level_security(request: pytest.FixtureRequest) -> None:
    study: Study = request.getfixturevalue("secured")[0]
    ours = populate(study, actor(study, "crc01"), "01")
    theirs = populate(study, actor(study, "crc02"), "02")
    central = dlt_board(study, actor(study, "dec"), date(2025, 3, 1))
    assert {ours, theirs} <= {r.usubjid for r in central.rows}
    site = dlt_board(study, actor(study, "crc01"), date(2025, 3, 1))
    assert ours in {r.usubjid for r in site.rows} and theirs not in {r.usubjid for r in site.rows}
    assert site.recommendation == central.recommendation
