"""TITE-BOIN checked against the published decision tables (Yuan et al. 2018) and its own
scalar path on simulated trials with staggered entry."""

import numpy as np
import pytest

from oncotrial.designs.base import Patient, TrialState
from oncotrial.designs.simulation import AccrualModel, DltTimeModel, LatentPatients
from oncotrial.designs.tite_boin import TITEBOIN

E, S, D, DE, SUS = "E", "S", "D", "DE", "SUS"


def ge(x: float) -> tuple[str, float]:
    """Escalate when STFT ≥ x, otherwise stay."""
    return ("E>=", x)


def le(x: float) -> tuple[str, float]:
    """De-escalate when STFT ≤ x, otherwise stay."""
    return ("D<=", x)


def cells(n: int, y: int, rule: dict) -> list[tuple[int, int, int, object]]:
    """Expand {c or (c_lo, c_hi): decision} into (n, y, c, decision) for every feasible c."""
    out = []
    for key, decision in rule.items():
        lo, hi = key if isinstance(key, tuple) else (key, key)
        for c in range(lo, min(hi, n - y) + 1):
            out.append((n, y, c, decision))
    return out


ALL = (0, 99)


def table(spec: dict[int, dict[int, dict]]) -> list[tuple[int, int, int, object]]:
    rows = []
    for n, by_y in spec.items():
        for y_key, rule in by_y.items():
            y_lo, y_hi = y_key if isinstance(y_key, tuple) else (y_key, y_key)
            for y in range(y_lo, min(y_hi, n) + 1):
                rows += cells(n, y, rule)
    return rows


# Yuan, Lin, Li, Nie & Warren (2018), Clin Cancer Res 24:4921, Table 1: target 0.2, cohorts
# of 3; c = patients pending, STFT thresholds printed to 2 decimals.
TABLE_020 = table(
    {
        3: {0: {(0, 1): E, (2, 3): SUS}, 1: {(0, 2): D}, (2, 3): {ALL: DE}},
        6: {
            0: {(0, 3): E, (4, 6): SUS},
            1: {(0, 3): S, (4, 5): SUS},
            2: {(0, 4): D},
            (3, 6): {ALL: DE},
        },
        9: {
            0: {(0, 4): E, (5, 9): SUS},
            1: {(0, 2): E, 3: ge(0.77), 4: ge(2.15), (5, 8): SUS},
            2: {0: S, 1: le(0.52), 2: le(1.59), 3: le(2.66), 4: le(3.73), (5, 7): SUS},
            3: {(0, 6): D},
            (4, 9): {ALL: DE},
        },
        12: {
            0: {(0, 6): E, (7, 12): SUS},
            1: {(0, 5): E, 6: ge(1.24), (7, 11): SUS},
            2: {(0, 6): S, (7, 10): SUS},
            (3, 4): {ALL: D},
            (5, 12): {ALL: DE},
        },
        15: {
            (0, 1): {(0, 7): E, (8, 15): SUS},
            2: {
                (0, 2): E,
                3: ge(1.14),
                4: ge(2.31),
                5: ge(3.48),
                6: ge(4.65),
                7: ge(5.82),
                (8, 13): SUS,
            },
            3: {
                (0, 2): S,
                3: le(1.16),
                4: le(2.34),
                5: le(3.53),
                6: le(4.72),
                7: le(5.90),
                (8, 12): SUS,
            },
            (4, 5): {ALL: D},
            (6, 15): {ALL: DE},
        },
    }
)

# Yuan et al. (2018), Supplementary Table S1: target 0.3, cohorts of 3.
TABLE_030 = table(
    {
        3: {0: {(0, 1): E, (2, 3): SUS}, 1: {0: S, 1: le(0.88), 2: SUS}, 2: {ALL: D}, 3: {0: DE}},
        6: {
            0: {(0, 3): E, (4, 6): SUS},
            1: {(0, 1): E, 2: ge(0.60), 3: ge(1.96), (4, 5): SUS},
            2: {0: S, 1: le(0.73), 2: le(1.80), 3: le(2.87), 4: SUS},
            3: {ALL: D},
            (4, 6): {ALL: DE},
        },
        9: {
            (0, 1): {(0, 4): E, (5, 9): SUS},
            2: {0: E, 1: ge(0.59), 2: ge(1.65), 3: ge(2.71), 4: ge(3.77), (5, 7): SUS},
            3: {0: S, 1: le(0.58), 2: le(1.65), 3: le(2.72), 4: le(3.79), 5: SUS},
            4: {ALL: D},
            (5, 9): {ALL: DE},
        },
        12: {
            (0, 1): {(0, 6): E, (7, 12): SUS},
            2: {(0, 3): E, 4: ge(1.33), 5: ge(2.72), 6: ge(4.11), (7, 10): SUS},
            3: {(0, 6): S, (7, 9): SUS},
            4: {
                0: S,
                1: le(0.43),
                2: le(1.50),
                3: le(2.57),
                4: le(3.65),
                5: le(4.72),
                6: le(5.79),
                (7, 8): SUS,
            },
            (5, 6): {ALL: D},
            (7, 12): {ALL: DE},
        },
        15: {
            (0, 1): {(0, 7): E, (8, 15): SUS},
            2: {(0, 5): E, 6: ge(0.35), 7: ge(2.07), (8, 13): SUS},
            3: {
                (0, 1): E,
                2: ge(0.11),
                3: ge(1.29),
                4: ge(2.46),
                5: ge(3.64),
                6: ge(4.81),
                7: ge(5.98),
                (8, 12): SUS,
            },
            4: {(0, 7): S, (8, 11): SUS},
            5: {
                0: S,
                1: le(0.28),
                2: le(1.35),
                3: le(2.42),
                4: le(3.50),
                5: le(4.57),
                6: le(5.64),
                7: le(6.72),
                (8, 10): SUS,
            },
            (6, 7): {ALL: D},
            (8, 15): {ALL: DE},
        },
    }
)


def decision_code(design: TITEBOIN, n: int, y: int, c: int, stft: float) -> str:
    """Decision at the middle of three doses for n treated, y DLTs, c pending (total STFT)."""
    window = design.window_days
    follow = stft * window / c if c else 0.0
    patients = (
        [Patient(1, True, dlt_day=5.0)] * y
        + [Patient(1, False)] * (n - y - c)
        + [Patient(1, False, followup_days=follow)] * c
    )
    decision = design.decide(TrialState(n_doses=3, patients=tuple(patients), current=1))
    if decision.accrual_suspended:
        return SUS
    if decision.next_dose == 2:
        return E
    if decision.next_dose == 0:
        return DE if 1 in decision.eliminated else D
    return S


@pytest.mark.parametrize(("target", "rows"), [(0.2, TABLE_020), (0.3, TABLE_030)])
def test_published_decision_tables(target: float, rows: list) -> None:
    design = TITEBOIN(n_doses=3, target=target, cohort_size=3, n_cohorts=20, start=1)
    checked = 0
    for n, y, c, expected in rows:
        if isinstance(expected, tuple):
            kind, x = expected
            moved = E if kind == "E>=" else D
            # thresholds are printed to 2 decimals: check 0.01 either side
            above, below = min(x + 0.01, c - 1e-6), max(x - 0.01, 0.0)
            if kind == "E>=":
                assert decision_code(design, n, y, c, above) == moved, (n, y, c, expected)
                assert decision_code(design, n, y, c, below) == S, (n, y, c, expected)
            else:
                assert decision_code(design, n, y, c, below) == moved, (n, y, c, expected)
                assert decision_code(design, n, y, c, above) == S, (n, y, c, expected)
        else:
            for stft in {0.0, c * 0.5, max(c - 0.01, 0.0)}:
                got = decision_code(design, n, y, c, stft)
                assert got == expected, (n, y, c, stft, expected, got)
        checked += 1
    assert checked > 150


def test_no_pending_reduces_to_boin() -> None:
    design = TITEBOIN(n_doses=3, target=0.3, start=1)
    assert decision_code(design, 3, 0, 0, 0.0) == E
    assert decision_code(design, 3, 1, 0, 0.0) == S
    assert decision_code(design, 3, 2, 0, 0.0) == D


def _replay(design: TITEBOIN, truth, latent: LatentPatients, trial: int, accrual, dlt_time):
    """The staggered-entry trial of ``TITEBOIN.simulate`` rebuilt event by event with the
    scalar ``decide`` (the documented timeline: cohorts enrol when accrued, suspension waits
    for the next DLT or window completion at the current dose, then the cohort accrues again).
    """
    window, cs = design.window_days, design.cohort_size
    gaps = accrual.gaps(latent.gap[trial, : design.max_patients]).reshape(-1, cs).sum(axis=1)
    days = dlt_time.days(latent.time[trial, : design.max_patients])
    enrolled: list[tuple[float, int, bool, float]] = []  # start, dose, dlt, dlt day

    def state_at(t: float, current: int) -> TrialState:
        patients = []
        for start, dose, dlt, day in enrolled:
            if dlt and start + day <= t:
                patients.append(Patient(dose, True, dlt_day=day))
            elif (start + (day if dlt else window)) > t:
                patients.append(Patient(dose, False, followup_days=t - start))
            else:
                patients.append(Patient(dose, False))
        return TrialState(len(truth), tuple(patients), current, window)

    dose, t_last = design.start, 0.0
    for k in range(design.n_cohorts):
        t = t_last + gaps[k]
        if k > 0:
            while (decision := design.decide(state_at(t, dose))).accrual_suspended:
                while design.decide(state_at(t, dose)).accrual_suspended:
                    t = min(
                        s + (d if x else window)
                        for s, lvl, x, d in enrolled
                        if lvl == dose and s + (d if x else window) > t
                    )
                t += gaps[k]
            if not decision.continue_trial:
                break
            dose = decision.next_dose
        for j in range(k * cs, (k + 1) * cs):
            enrolled.append((t, dose, bool(latent.tox[trial, j] < truth[dose]), days[j]))
        t_last = t
    n = np.bincount([e[1] for e in enrolled], minlength=len(truth))
    y = np.bincount([e[1] for e in enrolled if e[2]], minlength=len(truth))
    final = TrialState(len(truth), tuple(Patient(d, x) for _, d, x, _ in enrolled), dose, window)
    mtd = design.select_mtd(final)
    return n, y, mtd


@pytest.mark.parametrize(
    "truth", [[0.05, 0.15, 0.3, 0.45, 0.6], [0.25, 0.4, 0.5, 0.6, 0.7], [0.5, 0.6, 0.7, 0.8, 0.9]]
)
def test_vectorised_simulator_equals_scalar_replay(truth: list[float]) -> None:
    design = TITEBOIN(n_doses=5, target=0.3, cohort_size=3, n_cohorts=10)
    accrual, dlt_time = AccrualModel(3.0), DltTimeModel.with_late_fraction(0.7)
    latent = LatentPatients.draw(150, design.max_patients, seed=9)
    truth_arr = np.array(truth)
    fast = design.simulate(truth_arr, latent, accrual=accrual, dlt_time=dlt_time)
    for trial in range(latent.n_trials):
        n, y, mtd = _replay(design, truth_arr, latent, trial, accrual, dlt_time)
        assert n.tolist() == fast.n_per_dose[trial].tolist(), trial
        assert y.tolist() == fast.dlt_per_dose[trial].tolist(), trial
        assert (-1 if mtd is None else mtd) == fast.selected[trial], trial


def test_tite_boin_is_faster_and_as_accurate_as_boin() -> None:
    """Same latent patients: TITE-BOIN shortens the trial; selection stays close to BOIN's
    (Yuan et al. 2018 report similar accuracy with markedly shorter duration)."""
    from oncotrial.designs.boin import BOIN

    truth = np.array([0.05, 0.15, 0.3, 0.45, 0.6])
    latent = LatentPatients.draw(20_000, 30, seed=3)
    accrual = AccrualModel(2.0)
    tite = TITEBOIN(5, 0.3).simulate(truth, latent, accrual=accrual).summary()
    boin = BOIN(5, 0.3).simulate(truth, latent, accrual=accrual).summary()
    assert tite.mean_duration_days < 0.8 * boin.mean_duration_days
    assert abs(tite.selected_pct[2] - boin.selected_pct[2]) < 3.0
