"""BOIN12: the Bayesian optimal interval phase I/II design (Lin, Zhou, Yan, Li & Yuan 2020,
JCO Precision Oncology 4:1393), which finds the optimal biological dose (OBD) from toxicity and
efficacy together.

Utility. Each joint outcome has a utility on a 0–100 scale (defaults: response without DLT 100,
neither 40, both 60, DLT without response 0; paper Table 1). The utility of a dose is treated as
a quasi-binomial rate: with n patients whose utilities sum to S, x = S/100 "quasi-events" and
u ~ Beta(1 + x, 1 + n − x). The desirability of a dose is Pr(u > u_b | data), u_b the benchmark
ū + (100 − ū)/2 where ū is the utility at (φ_T, φ_E) (paper eq. 2); the paper ranks these
probabilities across all outcomes into its "rank-based desirability score" (RDS, Table 3) — the
ranks order doses exactly as the probabilities do, so decisions compare probabilities.

Admissibility (paper section "Dose-finding algorithm"; BOIN's safety rule, Liu & Yuan 2015,
section 2.3): once a dose has n ≥ 3 patients, it and every higher dose are eliminated when
Pr(p_T > φ_T | data) > c_T (0.95), and the dose alone is eliminated as futile when
Pr(p_E < φ_E | data) > c_E (0.9), both under Beta(1, 1). Eliminated doses are never given again.

Dose assignment at the current dose d with n patients and observed DLT rate p̂ (paper Table 2;
BOIN boundaries λe, λd for target φ_T):

1. p̂ ≥ λd: de-escalate to the highest admissible dose below d (stay at d if there is none);
2. otherwise choose, by highest desirability, among the admissible doses in {next lower, d,
   next higher}; the higher one is left out when n ≥ N* (6) and p̂ > λe, i.e. "stay or
   de-escalate once N* patients sit in the equivalence interval". Ties go to the higher dose,
   as the authors' Shiny application does (the *escalation* package's tests record this);
3. dose exploration (paper supplement, p. 8): when n ≥ 9, p̂ < λd and the next higher admissible
   dose is untried, escalate to it.

The trial stops early, selecting no dose, when the lowest dose is eliminated for toxicity or no
admissible dose remains; it ends, selecting the OBD, at the maximum sample size or once a dose
has ``n_earlystop`` (12, the application's default) patients. OBD selection (paper section
"OBD selection"; as in TITE-BOIN12, Zhou et al. 2022): the MTD is the isotonic estimate closest
to φ_T (:func:`~oncotrial.designs.mtd.isotonic_mtd`); the OBD is the admissible treated dose at
or below it with the highest desirability (ties: the lower dose).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from oncotrial.designs.admissibility import lowest_eliminated_from_mask
from oncotrial.designs.base import Decision
from oncotrial.designs.boin import BoinBoundaries, boin_lambdas
from oncotrial.designs.efficacy import EfficacyDesignError, Utilities, dose_name
from oncotrial.designs.lazy_scipy import special
from oncotrial.designs.mtd import isotonic_mtd

if TYPE_CHECKING:
    from oncotrial.protocol.naming import DoseNames


class Boin12Error(EfficacyDesignError):
    """Invalid BOIN12 parameters or data."""


def desirability(
    n: np.ndarray,
    utility_sum: np.ndarray,
    benchmark: float,
    prior: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Pr(u > u_b | data) with u ~ Beta(a + S/100, b + n − S/100) (Lin et al. 2020, eq. 3).

    ``utility_sum`` is S, the sum of the patients' utilities on the 0–100 scale; an untried dose
    (n = 0) gets the prior probability. Sums are rounded to 1e-9 so that equal outcomes tie
    exactly.
    """
    n = np.asarray(n, dtype=float)
    x = np.round(np.asarray(utility_sum, dtype=float), 9) / 100.0
    return special.betaincc(prior[0] + x, prior[1] + n - x, benchmark / 100.0)


def futility_boundary(phi_e: float, n_max: int, cutoff: float, min_n: int = 3) -> np.ndarray:
    """Largest response count with Pr(p_E < φ_E | y, n) > cutoff, for n = 0..n_max (-1: none).

    Index n holds the boundary for n patients; below ``min_n`` patients nothing is futile.
    """
    out = np.full(n_max + 1, -1, dtype=np.int64)
    for n in range(max(min_n, 1), n_max + 1):
        ys = np.arange(n + 1)
        futile = special.betainc(ys + 1, n - ys + 1, phi_e) > cutoff
        if futile.any():
            out[n] = int(ys[futile][-1])
    return out


@dataclass(frozen=True)
class Boin12Tables:
    """Everything BOIN12 looks up, indexed by the number of patients n = 0..n_max.

    ``escalate[n]`` / ``deescalate[n]``: p̂ ≤ λe ⇔ y ≤ escalate[n], p̂ ≥ λd ⇔ y ≥ deescalate[n];
    ``eliminate[n]``: y ≥ it eliminates for toxicity (n + 1: never); ``futile[n]``: responses ≤
    it eliminate for futility (-1: never). ``desirability`` is the look-up ``[n, S]`` of
    :func:`desirability` for whole-number utility sums (``None`` for fractional utilities).
    """

    lambda_e: float
    lambda_d: float
    benchmark: float
    escalate: np.ndarray
    deescalate: np.ndarray
    eliminate: np.ndarray
    futile: np.ndarray
    prior: tuple[float, float]
    desirability: np.ndarray | None

    def score(self, n: np.ndarray, utility_sum: np.ndarray) -> np.ndarray:
        """Desirability of doses with n patients and utility sum S (look-up when possible)."""
        if self.desirability is not None:
            return self.desirability[n, np.rint(utility_sum).astype(np.int64)]
        return desirability(n, utility_sum, self.benchmark, self.prior)


@functools.lru_cache(maxsize=32)
def boin12_tables(
    target: float,
    efficacy_floor: float,
    utilities: Utilities,
    n_max: int,
    cutoff_tox: float = 0.95,
    cutoff_eff: float = 0.9,
    p_saf: float | None = None,
    p_tox: float | None = None,
    prior: tuple[float, float] = (1.0, 1.0),
) -> Boin12Tables:
    """The look-up tables of one BOIN12 design for up to ``n_max`` patients at a dose."""
    lam_e, lam_d = boin_lambdas(target, p_saf, p_tox)
    bounds = BoinBoundaries.compute(target, max(n_max, 1), p_saf, p_tox, cutoff_tox)
    ns = np.arange(n_max + 1)
    escalate = np.concatenate([[-1], bounds.escalate])[: n_max + 1]
    deescalate = np.concatenate([[1], bounds.deescalate])[: n_max + 1]
    eliminate = np.concatenate([[-1], bounds.eliminate])[: n_max + 1]
    eliminate = np.where(eliminate < 0, ns + 1, eliminate)
    benchmark = utilities.benchmark(target, efficacy_floor)
    table = None
    if utilities.integral:
        sums = np.arange(100 * n_max + 1)
        table = desirability(ns[:, None], sums[None, :], benchmark, prior)
        table.setflags(write=False)
    return Boin12Tables(
        lambda_e=lam_e,
        lambda_d=lam_d,
        benchmark=benchmark,
        escalate=escalate,
        deescalate=deescalate,
        eliminate=eliminate,
        futile=futility_boundary(efficacy_floor, n_max, cutoff_eff),
        prior=prior,
        desirability=table,
    )


def update_eliminations(
    dose: np.ndarray,
    n_d: np.ndarray,
    y_d: np.ndarray,
    r_d: np.ndarray,
    lowest_toxic: np.ndarray,
    futile: np.ndarray,
    tables: Boin12Tables,
) -> tuple[np.ndarray, np.ndarray]:
    """Eliminations after new data at ``dose`` (one row per trial; section "Admissibility").

    Toxicity removes the dose and all above (``lowest_toxic`` is the lowest such dose, n_doses
    when none); futility removes the dose alone. Returns the updated pair.
    """
    rows = np.arange(dose.shape[0])
    toxic = y_d >= tables.eliminate[n_d]
    lowest_toxic = np.where(toxic, np.minimum(lowest_toxic, dose), lowest_toxic)
    futile = futile.copy()
    futile[rows, dose] |= r_d <= tables.futile[n_d]
    return lowest_toxic, futile


def admissible_mask(lowest_toxic: np.ndarray, futile: np.ndarray) -> np.ndarray:
    """(trials, doses) mask of doses neither eliminated for toxicity nor futile."""
    doses = np.arange(futile.shape[1])
    return (doses[None, :] < np.asarray(lowest_toxic)[:, None]) & ~futile


def neighbours(dose: np.ndarray, open_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Highest open dose below and lowest open dose above ``dose`` (-1 / n_doses: none)."""
    n_doses = open_.shape[1]
    idx = np.arange(n_doses)[None, :]
    below = np.where(open_ & (idx < dose[:, None]), idx, -1).max(axis=1)
    above = np.where(open_ & (idx > dose[:, None]), idx, n_doses).min(axis=1)
    return below, above


def boin12_next(
    dose: np.ndarray,
    n_d: np.ndarray,
    deescalate: np.ndarray,
    low_rate: np.ndarray,
    score: np.ndarray,
    open_: np.ndarray,
    tried: np.ndarray,
    n_star: int = 6,
    n_explore: int = 9,
) -> tuple[np.ndarray, np.ndarray]:
    """BOIN12's next dose for each trial (rules 1–3 of the module docstring), vectorised.

    Per trial: ``n_d`` patients at the current dose, ``deescalate`` when its DLT rate is ≥ λd,
    ``low_rate`` when it is ≤ λe; per dose: ``score`` (desirability), ``open_`` (admissible)
    and ``tried`` (anyone treated). Returns the next dose and a flag for trials left with no
    admissible dose to go to (which must stop).
    """
    rows = np.arange(dose.shape[0])
    n_doses = open_.shape[1]
    below, above = neighbours(dose, open_)
    here_open = open_[rows, dose]
    # rule 1: de-escalate (or stay at the lowest admissible dose)
    down_to = np.where(below >= 0, below, np.where(here_open, dose, -1))
    # rule 2: best desirability among {below, here, above}, ties to the higher dose
    may_rise = (above < n_doses) & ((n_d < n_star) | low_rate)
    best = np.full(dose.shape[0], -1)
    best_score = np.full(dose.shape[0], -np.inf)
    for candidate, allowed in (
        (below, below >= 0),
        (dose, here_open),
        (above, may_rise),
    ):
        value = score[rows, np.clip(candidate, 0, n_doses - 1)]
        take = allowed & (value >= best_score)
        best = np.where(take, candidate, best)
        best_score = np.where(take, value, best_score)
    nxt = np.where(deescalate, down_to, best)
    # rule 3: explore an untried higher dose once n ≥ n_explore and p̂ < λd
    untried_above = (above < n_doses) & ~tried[rows, np.clip(above, 0, n_doses - 1)]
    explore = (nxt >= 0) & ~deescalate & (n_d >= n_explore) & untried_above
    nxt = np.where(explore, above, nxt)
    return np.maximum(nxt, 0), nxt < 0


def eliminations_from_counts(
    n: np.ndarray, y: np.ndarray, r: np.ndarray, tables: Boin12Tables
) -> tuple[np.ndarray, np.ndarray]:
    """Lowest toxic dose (n_doses: none) and futile doses per trial from (trials, doses) counts.

    Counts at a dose only grow while it is admissible, so computing the rules on today's
    counts gives the same eliminations as applying them after every cohort.
    """
    n = np.atleast_2d(n)
    toxic = np.atleast_2d(y) >= tables.eliminate[n]
    futile = np.atleast_2d(r) <= tables.futile[n]
    return lowest_eliminated_from_mask(toxic), futile


def obd_selection(
    n: np.ndarray,
    y: np.ndarray,
    utility_sum: np.ndarray,
    lowest_toxic: np.ndarray,
    futile: np.ndarray,
    target: float,
    tables: Boin12Tables,
) -> tuple[np.ndarray, np.ndarray]:
    """OBD and MTD per trial (-1: none): the most desirable admissible treated dose at or below
    the isotonic MTD (module docstring, "OBD selection")."""
    n = np.atleast_2d(n)
    mtd = isotonic_mtd(n, np.atleast_2d(y), target, lowest_toxic)
    doses = np.arange(n.shape[1])[None, :]
    eligible = (
        admissible_mask(lowest_toxic, np.atleast_2d(futile)) & (n > 0) & (doses <= mtd[:, None])
    )
    score = np.where(eligible, tables.score(n, np.atleast_2d(utility_sum)), -np.inf)
    obd = np.argmax(score, axis=1)
    return np.where(eligible.any(axis=1), obd, -1), mtd


def rank_desirability_table(
    sample_sizes: tuple[int, ...],
    target: float,
    efficacy_floor: float,
    utilities: Utilities | None = None,
    cutoff_tox: float = 0.95,
    cutoff_eff: float = 0.9,
    prior: tuple[float, float] = (1.0, 1.0),
) -> list[dict]:
    """The rank-based desirability score (RDS) table of Lin et al. (2020), Table 3.

    One row per (n, DLTs, responses) with n in ``sample_sizes``: admissible rows get the rank of
    their desirability among all admissible rows (average ranks for ties), the others
    ``None`` ("E" in the paper). Needs additive utilities, for which marginal counts suffice.

    Example
    -------
    >>> rows = rank_desirability_table((0, 3, 6, 9), 0.35, 0.25)
    >>> [r["rds"] for r in rows if (r["n"], r["dlts"], r["responses"]) == (3, 0, 3)]
    [91.0]
    """
    utilities = utilities or Utilities()
    if not utilities.additive:
        raise Boin12Error("the RDS table by marginal counts needs additive utilities")
    benchmark = utilities.benchmark(target, efficacy_floor)
    rows: list[dict] = []
    for n in sample_sizes:
        for dlts in range(n + 1):
            for responses in range(n + 1):
                safe = special.betaincc(dlts + 1, n - dlts + 1, target) < cutoff_tox
                active = special.betainc(responses + 1, n - responses + 1, efficacy_floor)
                # with additive utilities the sum depends on the margins only
                total = (
                    utilities.response_no_dlt * responses
                    + utilities.neither * (n - dlts - responses)
                    + utilities.dlt_no_response * dlts
                )
                rows.append(
                    {
                        "n": n,
                        "dlts": dlts,
                        "responses": responses,
                        "admissible": bool(safe and active < cutoff_eff),
                        "desirability": float(desirability(n, total, benchmark, prior)),
                    }
                )
    admissible = [r for r in rows if r["admissible"]]
    from scipy import stats  # only for the protocol's table: keeps scipy.stats off start-up

    ranks = stats.rankdata([r["desirability"] for r in admissible], method="average")
    for row, rank in zip(admissible, ranks, strict=True):
        row["rds"] = float(rank)
    for row in rows:
        row.setdefault("rds", None)
    return rows


def boin12_decision(
    dose: int,
    n: np.ndarray,
    y: np.ndarray,
    score: np.ndarray,
    open_: np.ndarray,
    tables: Boin12Tables,
    n_star: int,
    n_explore: int,
    eliminated: tuple[int, ...],
    counts: str,
    details: dict,
    names: DoseNames | None,
    rate: float | None = None,
) -> Decision:
    """The continuing decision of BOIN12 (and TITE-BOIN12, which passes its estimated rate).

    Without ``rate`` the DLT rate of the current dose is compared with λe/λd through the integer
    boundaries of the tables; TITE-BOIN12 gives its effective-sample-size rate instead.
    """
    n_d = int(np.rint(n[dose]))
    if rate is None:
        down = bool(y[dose] >= tables.deescalate[n_d])
        low_rate = bool(y[dose] <= tables.escalate[n_d])
        shown = y[dose] / max(n_d, 1)
    else:
        down, low_rate, shown = rate >= tables.lambda_d, rate <= tables.lambda_e, rate
    nxt, stuck = boin12_next(
        np.array([dose]),
        np.array([n_d]),
        np.array([down]),
        np.array([low_rate]),
        score[None, :],
        open_[None, :],
        (np.asarray(n) > 0)[None, :],
        n_star,
        n_explore,
    )
    _, above = neighbours(np.array([dose]), open_[None, :])
    a = int(above[0])
    explorable = a < len(open_) and n[a] == 0 and n_d >= n_explore
    details["may_escalate"] = bool(
        a < len(open_) and not down and (n_d < n_star or low_rate or explorable)
    )
    if stuck[0]:
        return Decision(
            None,
            False,
            eliminated,
            f"{counts}; no admissible dose to go to: stop",
            details=details,
        )
    nxt_i = int(nxt[0])
    if down:
        rule = f"DLT rate {shown:.2f} ≥ λd {tables.lambda_d:.3f}: de-escalate"
    elif nxt_i > dose and n[nxt_i] == 0 and n_d >= n_explore:
        rule = f"{n_d} ≥ {n_explore} patients and DLT rate < λd: explore the untried dose"
    else:
        rule = "highest desirability among the admissible neighbours"
        if n_d >= n_star and not low_rate:
            rule += f" (no escalation: {n_d} ≥ N* = {n_star} and DLT rate > λe)"
    return Decision(
        nxt_i,
        True,
        eliminated,
        f"{counts}; {rule} → {dose_name(names, nxt_i)}",
        details=details,
    )
