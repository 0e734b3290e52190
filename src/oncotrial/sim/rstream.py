"""R's default uniform generator, so that R simulations can be replayed number for number.

R's default ``RNGkind`` is Mersenne-Twister (Matsumoto & Nishimura 1998, ACM TOMACS 8:3) with
R's own seeding, described in ``?RNGkind`` and implemented in R's ``src/main/RNG.c``:

* ``set.seed(seed)`` takes the seed as an unsigned 32-bit integer, scrambles it by 50 steps of
  the linear congruential map ``s -> 69069 s + 1 (mod 2**32)``, then fills the 625-word seed
  vector (``.Random.seed[-1]``) with 625 further steps of the same map. The first word is the
  position ``mti`` and is then reset to 624, so the first draw regenerates the whole state; the
  other 624 words are the Mersenne-Twister state as they are (R never calls the reference
  ``sgenrand`` after ``set.seed``).
* Each draw is a tempered 32-bit word times 2.3283064365386963e-10 (= 2**-32), passed through
  ``fixup``, which replaces 0 by 0.5 / (2**32 - 1) (and 1, which cannot occur here, by one
  minus that) so that a draw is always in (0, 1).
* ``runif(n)`` with the default bounds returns these draws unchanged.

``sample()`` (whose algorithm changed in R 3.6.0, ``sample.kind``) is not needed here: only
``runif`` is reproduced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from oncotrial.designs.base import Decision, Design, DesignError, TrialState

_N = 624
_M = 397
_MATRIX_A = np.uint32(0x9908B0DF)
_UPPER = np.uint32(0x80000000)
_LOWER = np.uint32(0x7FFFFFFF)
_MASK32 = 0xFFFFFFFF
_LCG_MULT = 69069
_TO_UNIT = 2.3283064365386963e-10  # 2**-32, as in R's MT_genrand
_I2_32M1 = 2.328306437080797e-10  # 1 / (2**32 - 1), R's fixup constant


def _lcg(seed: int) -> int:
    return (_LCG_MULT * seed + 1) & _MASK32


def r_seed_vector(seed: int) -> np.ndarray:
    """The 625 words R stores after ``set.seed(seed)`` (``.Random.seed[-1]``, unsigned).

    Word 0 is ``mti`` (624 after seeding); words 1..624 are the Mersenne-Twister state.
    """
    s = int(seed) & _MASK32
    for _ in range(50):
        s = _lcg(s)
    words = np.empty(_N + 1, dtype=np.uint32)
    for j in range(_N + 1):
        s = _lcg(s)
        words[j] = s
    words[0] = _N
    return words


def _twist(mt: np.ndarray) -> None:
    """Regenerate the 624-word state in place (the MT19937 recurrence, in three vector steps)."""
    mag = np.array([0, _MATRIX_A], dtype=np.uint32)
    # Words 0..226 read only old words; 227..453 read the new words 0..226; 454..622 read the
    # new words 227..395; word 623 reads the new words 0 and 396.
    for lo, hi in ((0, _N - _M), (_N - _M, 2 * (_N - _M)), (2 * (_N - _M), _N - 1)):
        y = (mt[lo:hi] & _UPPER) | (mt[lo + 1 : hi + 1] & _LOWER)
        src = mt[lo + _M : hi + _M] if hi + _M <= _N else mt[lo + _M - _N : hi + _M - _N]
        mt[lo:hi] = src ^ (y >> np.uint32(1)) ^ mag[y & np.uint32(1)]
    y = (mt[_N - 1] & _UPPER) | (mt[0] & _LOWER)
    mt[_N - 1] = mt[_M - 1] ^ (y >> np.uint32(1)) ^ mag[y & np.uint32(1)]


def _temper(y: np.ndarray) -> np.ndarray:
    y = y ^ (y >> np.uint32(11))
    y = y ^ ((y << np.uint32(7)) & np.uint32(0x9D2C5680))
    y = y ^ ((y << np.uint32(15)) & np.uint32(0xEFC60000))
    return y ^ (y >> np.uint32(18))


def _fixup(u: np.ndarray) -> np.ndarray:
    u = np.where(u <= 0.0, 0.5 * _I2_32M1, u)
    return np.where(1.0 - u <= 0.0, 1.0 - 0.5 * _I2_32M1, u)


class RStream:
    """R's ``set.seed(seed)`` followed by ``runif`` calls, draw for draw.

    >>> RStream(1).runif(3).round(7).tolist()
    [0.2655087, 0.3721239, 0.5728534]
    """

    def __init__(self, seed: int) -> None:
        words = r_seed_vector(seed)
        self._mt = words[1:].copy()
        self._mti = int(words[0])
        self._block = np.empty(0)

    def _refill(self) -> None:
        _twist(self._mt)
        self._block = _fixup(_temper(self._mt).astype(np.float64) * _TO_UNIT)
        self._mti = 0

    def runif(self, n: int) -> np.ndarray:
        """``runif(n)``: the next ``n`` uniforms on (0, 1), as R returns them."""
        if n < 0:
            raise ValueError("n must be non-negative")
        out = np.empty(n, dtype=np.float64)
        filled = 0
        while filled < n:
            if self._mti >= _N:
                self._refill()
            take = min(n - filled, _N - self._mti)
            out[filled : filled + take] = self._block[self._mti : self._mti + take]
            self._mti += take
            filled += take
        return out


@dataclass
class GetOcSummary:
    """The numbers ``summary(get.oc(...))`` prints (percentages 0-100, means per trial)."""

    selpercent: list[float]
    npatients: list[float]
    ntox: list[float]
    totaltox: float
    totaln: float
    percentstop: float
    selected: list[int | None] = field(default_factory=list, repr=False)
    uniforms: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)

    def printed(self) -> dict[str, list[str] | str]:
        """Every number as ``summary()`` prints it: ``formatC(x, digits = 1, format = "f")``.

        formatC calls C's ``sprintf("%.1f")``, which rounds the exact binary value half to
        even; Python's ``format(x, ".1f")`` does the same.
        """
        return {
            "selpercent": [format(x, ".1f") for x in self.selpercent],
            "npatients": [format(x, ".1f") for x in self.npatients],
            "ntox": [format(x, ".1f") for x in self.ntox],
            "totaltox": format(self.totaltox, ".1f"),
            "totaln": format(self.totaln, ".1f"),
            "percentstop": format(self.percentstop, ".1f"),
        }


def replay_boin_get_oc(
    design: Design,
    p_true: Sequence[float],
    n_cohorts: int,
    cohort_size: int,
    n_trials: int = 1000,
    seed: int = 6,
    start: int = 0,
) -> GetOcSummary:
    """Replay ``BOIN::get.oc`` (BOIN 2.7.x, single agent, no titration) with R's uniforms.

    The trial loop and the order of random draws are get.oc's: ``set.seed(seed)``, then per trial
    and per cohort ``runif(cohortsize) < p.true[d]``. A cohort that reaches the maximum sample
    size ``ncohort * cohortsize`` ends the trial before any further rule is applied (get.oc
    >= 2.7.0; earlier versions checked elimination and ``n.earlystop`` after it too and stopped
    as soon as ``n.earlystop`` patients were at the current dose). Every decision comes from
    ``design.decide`` (elimination, escalation, the extra-safe and ``n.earlystop`` stops) and the
    final choice from ``design.select_mtd``, so a difference from R's numbers points at the
    design. A stop whose decision eliminates the lowest dose counts as get.oc's early stop
    (no MTD); any other stop selects the MTD. Decisions are memoised on (counts, current dose),
    which fully determine the state the design sees.

    ``uniforms`` of the result holds, per trial, the uniforms its patients consumed in order
    (NaN after the trial ended), so other simulators can be run on the very same patients.
    """
    p = np.asarray(p_true, dtype=float)
    n_doses = p.size
    npts = n_cohorts * cohort_size
    rng = RStream(seed)
    decisions: dict[tuple[tuple[int, ...], tuple[int, ...], int], Decision] = {}
    choices: dict[tuple[tuple[int, ...], tuple[int, ...]], int | None] = {}
    n_all = np.zeros((n_trials, n_doses), dtype=int)
    y_all = np.zeros((n_trials, n_doses), dtype=int)
    uniforms = np.full((n_trials, npts), np.nan)
    selected: list[int | None] = []
    for trial in range(n_trials):
        n = np.zeros(n_doses, dtype=int)
        y = np.zeros(n_doses, dtype=int)
        d = start
        stopped_for_toxicity = False
        for cohort in range(n_cohorts):
            u = rng.runif(cohort_size)
            uniforms[trial, cohort * cohort_size : (cohort + 1) * cohort_size] = u
            tox = u < p[d]
            if n.sum() + cohort_size >= npts:
                keep = npts - int(n.sum())
                y[d] += int(tox[:keep].sum())
                n[d] += keep
                break
            y[d] += int(tox.sum())
            n[d] += cohort_size
            key = (tuple(n.tolist()), tuple(y.tolist()), d)
            decision = decisions.get(key)
            if decision is None:
                decision = design.decide(TrialState.from_counts(n, y, current=d))
                decisions[key] = decision
            if not decision.continue_trial:
                stopped_for_toxicity = 0 in decision.eliminated
                break
            if decision.next_dose is None:
                raise DesignError("a decision to continue must name the next dose")
            d = decision.next_dose
        n_all[trial] = n
        y_all[trial] = y
        if stopped_for_toxicity:
            selected.append(None)
            continue
        final = (tuple(n.tolist()), tuple(y.tolist()))
        if final not in choices:
            choices[final] = design.select_mtd(TrialState.from_counts(n, y, current=d))
        selected.append(choices[final])
    counts = np.zeros(n_doses + 1, dtype=int)
    for s in selected:
        counts[n_doses if s is None else s] += 1
    return GetOcSummary(
        selpercent=(100.0 * counts[:n_doses] / n_trials).tolist(),
        npatients=n_all.mean(axis=0).tolist(),
        ntox=y_all.mean(axis=0).tolist(),
        totaltox=float(y_all.sum() / n_trials),
        totaln=float(n_all.sum() / n_trials),
        percentstop=float(100.0 * counts[n_doses] / n_trials),
        selected=selected,
        uniforms=uniforms,
    )
