"""The operating-characteristics runner: blocks, seeds, workers and common random numbers."""

import numpy as np
import pytest

from oncotrial.designs.boin import BOIN
from oncotrial.designs.simulation import BLOCK_TRIALS, LatentPatients
from oncotrial.designs.threeplusthree import ThreePlusThree
from oncotrial.sim.operating import Scenario, operating_characteristics

SCEN = [Scenario("a", (0.05, 0.15, 0.3, 0.45, 0.6)), Scenario("b", (0.3, 0.4, 0.5, 0.6, 0.7))]


def test_same_numbers_whatever_the_number_of_workers() -> None:
    designs = [BOIN(5, 0.3), ThreePlusThree(5)]
    n_trials = 2 * BLOCK_TRIALS + 123
    serial = operating_characteristics(designs, SCEN, n_trials, seed=8, workers=1)
    parallel = operating_characteristics(designs, SCEN, n_trials, seed=8, workers=2)
    assert serial == parallel


def test_progress_is_reported_per_block() -> None:
    seen: list[tuple[int, int]] = []
    operating_characteristics(
        [BOIN(5, 0.3)],
        SCEN[:1],
        BLOCK_TRIALS + 1,
        seed=1,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(1, 2), (2, 2)]


def test_latent_patients_do_not_depend_on_width() -> None:
    narrow = LatentPatients.draw(50, 10, seed=3, block=2)
    wide = LatentPatients.draw(50, 40, seed=3, block=2)
    assert np.array_equal(narrow.tox, wide.tox[:, :10])
    assert np.array_equal(narrow.gap, wide.gap[:, :10])
    assert not np.array_equal(narrow.tox, LatentPatients.draw(50, 10, seed=3, block=3).tox)


def test_scenario_with_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="has 3 doses"):
        operating_characteristics([BOIN(5, 0.3)], [Scenario("x", (0.1, 0.2, 0.3))], 10, seed=1)


def test_boin_matches_published_get_oc_within_monte_carlo_error() -> None:
    """BOIN R package vignette/JSS example via the bfboin vignette "Compare_to_original_BOIN"
    (BOIN 2.7.x): target 0.25, p = (0.1, 0.5), 10 cohorts of 3, n.earlystop 9, extrasafe,
    offset 0.1, 10,000 trials: selection 77.75 % / 18.42 %, 3.83 % stopped.
    Tolerance: 4 standard errors of the difference of two binomial shares (ours 40,000
    trials, theirs 10,000)."""
    design = BOIN(2, 0.25, cohort_size=3, n_cohorts=10, n_earlystop=9, extrasafe=True, offset=0.1)
    oc = operating_characteristics([design], [Scenario("jss", (0.1, 0.5))], 40_000, seed=5)[0][0]
    for ours, published in zip(
        [*oc.selected_pct, oc.no_mtd_pct], [77.75, 18.42, 3.83], strict=True
    ):
        p = published / 100
        se = 100 * np.sqrt(p * (1 - p) * (1 / 40_000 + 1 / 10_000))
        assert abs(ours - published) < 4 * se


def test_dask_cluster_gives_the_same_numbers() -> None:
    """A real Dask scheduler on loopback (the optional ``dask`` extra, installed by the
    Makefile): blocks computed on the cluster equal the local ones."""
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is the optional 'dask' extra"
    )
    designs = [BOIN(5, 0.3)]
    n_trials = BLOCK_TRIALS + 500
    local = operating_characteristics(designs, SCEN, n_trials, seed=12)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,
        processes=True,
    ) as cluster:
        remote = operating_characteristics(
            designs, SCEN, n_trials, seed=12, scheduler=cluster.scheduler_address
        )
    assert remote == local


def test_mean_duration_is_the_expectation_of_drawn_arrivals() -> None:
    """Cohort designs report E[duration | cohorts run]; drawing every arrival gap instead (cohort
    enrolled as patients arrive, then followed for the window) gives the same mean within
    Monte-Carlo error."""
    from oncotrial.designs.simulation import AccrualModel

    design, accrual, cs = BOIN(5, 0.3, n_cohorts=8), AccrualModel(3.0), 3
    latent = LatentPatients.draw(20_000, design.max_patients, seed=4)
    outcomes = design.simulate([0.05, 0.15, 0.3, 0.45, 0.6], latent, accrual=accrual)
    cohorts_run = outcomes.n_per_dose.sum(axis=1) // cs
    np.testing.assert_allclose(
        outcomes.duration_days, cohorts_run * (cs * 10.0 + design.window_days)
    )
    gaps = accrual.gaps(latent.gap).reshape(latent.n_trials, -1, cs).sum(axis=2)
    drawn = (gaps * (np.arange(gaps.shape[1]) < cohorts_run[:, None])).sum(axis=1)
    drawn = drawn + cohorts_run * design.window_days
    se = drawn.std() / np.sqrt(drawn.size)
    assert abs(drawn.mean() - outcomes.duration_days.mean()) < 4 * se
    assert outcomes.duration_days.std() < drawn.std()
