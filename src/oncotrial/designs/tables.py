"""The decision table of an interval design: for n patients at the current dose, the DLT
counts that escalate, de-escalate, or eliminate the dose (and all above). BOIN, Keyboard,
mTPI-2 and i3+3 are all run from such a table; protocols print it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from oncotrial.designs.admissibility import admissible_dose
from oncotrial.designs.base import DesignError
from oncotrial.designs.efficacy import MAX_N, N_AT_DOSE, STOP_REASONS, TOO_TOXIC
from oncotrial.designs.mtd import isotonic_mtd_from_keys
from oncotrial.designs.simulation import (
    AccrualModel,
    LatentPatients,
    TrialOutcomes,
    cohort_durations,
)
from oncotrial.designs.stopping import StoppingRule, TrialView

#: Decision codes used in the look-up arrays, and their names.
ESCALATE, STAY, DEESCALATE, ELIMINATE = 0, 1, 2, 3
ACTIONS = ("E", "S", "D", "DU")


class DecisionTableError(DesignError):
    """A decision table that is malformed or asked for an entry it does not have."""


@dataclass(frozen=True)
class DecisionTable:
    """A design's decision table for n = 1..N evaluated patients at the current dose.

    Per n: escalate if y ≤ ``escalate`` (-1: never), de-escalate if y ≥ ``deescalate``
    (``None``: never), eliminate the dose and all above if y ≥ ``eliminate`` (``None``: never);
    stay otherwise. De-escalation includes elimination, as in ``Keyboard::get.boundary.kb``.
    """

    n: tuple[int, ...]
    escalate: tuple[int, ...]
    deescalate: tuple[int | None, ...]
    eliminate: tuple[int | None, ...]

    def __post_init__(self) -> None:
        size = len(self.n)
        if self.n != tuple(range(1, size + 1)):
            raise DecisionTableError("a decision table has one column per n = 1, 2, ..., N")
        if not len(self.escalate) == len(self.deescalate) == len(self.eliminate) == size:
            raise DecisionTableError("every row of the decision table needs one entry per n")

    @classmethod
    def from_actions(cls, actions: Sequence[np.ndarray]) -> DecisionTable:
        """Boundaries from per-n action codes (``actions[n - 1][y]``), checked to be monotone.

        The table form needs E for y ≤ e, S, then D, then DU for y ≥ u: more DLTs never lead
        to a higher dose (Pan, Lin & Yuan 2020 prove this coherence for the Keyboard rule).
        """
        escalate: list[int] = []
        deescalate: list[int | None] = []
        eliminate: list[int | None] = []
        for n, codes in enumerate(actions, start=1):
            codes = np.asarray(codes)
            if codes.shape != (n + 1,):
                raise DecisionTableError(f"n = {n}: expected {n + 1} decisions")
            if np.any(np.diff(codes) < 0):
                raise DecisionTableError(f"n = {n}: decisions are not monotone in y: {codes}")
            esc = np.flatnonzero(codes == ESCALATE)
            down = np.flatnonzero(codes >= DEESCALATE)
            elim = np.flatnonzero(codes == ELIMINATE)
            escalate.append(int(esc[-1]) if esc.size else -1)
            deescalate.append(int(down[0]) if down.size else None)
            eliminate.append(int(elim[0]) if elim.size else None)
        return cls(
            tuple(range(1, len(actions) + 1)), tuple(escalate), tuple(deescalate), tuple(eliminate)
        )

    @property
    def n_max(self) -> int:
        return len(self.n)

    def decision(self, n: int, y: int) -> str:
        """The decision ("E", "S", "D" or "DU") for y DLTs among n patients."""
        return ACTIONS[self._code(n, y)]

    def _code(self, n: int, y: int) -> int:
        if not 1 <= n <= self.n_max or not 0 <= y <= n:
            raise DecisionTableError(f"no table entry for {y} DLTs in {n} patients")
        elim = self.eliminate[n - 1]
        down = self.deescalate[n - 1]
        if elim is not None and y >= elim:
            return ELIMINATE
        if down is not None and y >= down:
            return DEESCALATE
        return ESCALATE if y <= self.escalate[n - 1] else STAY

    def row(self, n: int) -> dict[str, int | None]:
        """The column for n patients, as shown in the protocol table."""
        if not 1 <= n <= self.n_max:
            raise DecisionTableError(f"the table covers n = 1..{self.n_max}, not {n}")
        return {
            "n": n,
            "escalate": self.escalate[n - 1],
            "deescalate": self.deescalate[n - 1],
            "eliminate": self.eliminate[n - 1],
        }

    def codes(self) -> np.ndarray:
        """Look-up array ``codes[n, y]`` of decision codes (row n = 0 and y > n: stay)."""
        out = np.full((self.n_max + 1, self.n_max + 1), STAY, dtype=np.int8)
        for n in self.n:
            for y in range(n + 1):
                out[n, y] = self._code(n, y)
        out.setflags(write=False)
        return out

    def elimination_by_n(self) -> np.ndarray:
        """``first[n]``: smallest y that eliminates with n patients (n + 1 where none), n = 0..N."""
        first = np.array([n + 1 for n in range(self.n_max + 1)], dtype=np.int64)
        for n, e in zip(self.n, self.eliminate, strict=True):
            if e is not None:
                first[n] = e
        first.setflags(write=False)
        return first

    def to_json(self) -> dict[str, list[Any]]:
        """``{"n", "escalate", "deescalate", "eliminate"}`` with ``None`` where there is none."""
        return {
            "n": list(self.n),
            "escalate": list(self.escalate),
            "deescalate": list(self.deescalate),
            "eliminate": list(self.eliminate),
        }

    def to_text(self, columns: Sequence[int] | None = None) -> str:
        """The table as a protocol shows it: rows E / D / DU, one column per n (NA: never)."""
        cols = list(self.n) if columns is None else [int(c) for c in columns]
        for c in cols:
            if not 1 <= c <= self.n_max:
                raise DecisionTableError(f"the table covers n = 1..{self.n_max}, not {c}")

        def cell(v: int | None) -> str:
            return "NA" if v is None or v < 0 else str(v)

        rows = [
            ("Number of patients treated at the current dose", [str(c) for c in cols]),
            ("E:  escalate if number of DLTs <=", [cell(self.escalate[c - 1]) for c in cols]),
            ("D:  de-escalate if number of DLTs >=", [cell(self.deescalate[c - 1]) for c in cols]),
            (
                "DU: eliminate the dose and above if number of DLTs >=",
                [cell(self.eliminate[c - 1]) for c in cols],
            ),
        ]
        label_w = max(len(label) for label, _ in rows)
        cell_w = max(len(v) for _, values in rows for v in values)
        return "\n".join(
            label.ljust(label_w) + "".join(" " + v.rjust(cell_w) for v in values)
            for label, values in rows
        )

    def __str__(self) -> str:
        return self.to_text()


#: Why a table-driven trial ended: the first three reasons of every design's outcomes.
TABLE_STOP_REASONS = STOP_REASONS[:3]


def dose_move(code: np.ndarray | int) -> np.ndarray:
    """The dose move of decision codes E, S, D, DU: +1, 0, -1, -1 (before admissibility)."""
    return 1 - np.minimum(code, DEESCALATE)


def simulate_from_table(
    codes: np.ndarray,
    truth: np.ndarray,
    latent: LatentPatients,
    *,
    start: int,
    n_cohorts: int,
    cohort_size: int,
    target: float,
    window_days: float,
    accrual: AccrualModel | None = None,
    n_earlystop: int | None = None,
    earlystop_only_when_staying: bool = False,
    bound_mtd_above: float | None = None,
    stopping: StoppingRule | None = None,
    record_paths: bool = True,
) -> tuple[TrialOutcomes, np.ndarray | None]:
    """The one simulator loop of every table-driven design (BOIN, Keyboard, mTPI-2, i3+3).

    Loop over cohorts, vectorised over the trials still running (the shape of simFastBOIN):
    add the cohort's DLTs at the current dose (``tox < truth[dose]``), look up E/S/D/DU in
    ``codes[n, y]``, eliminate on DU, stop when the lowest dose is eliminated, stop at
    ``n_earlystop`` patients on the current dose (only where the rule would stay
    there, if ``earlystop_only_when_staying``: BOIN ≥ 2.7), otherwise move to the admissible
    dose. A ``stopping`` rule (:mod:`oncotrial.designs.stopping`) is then asked, with the counts
    and the admissible next dose, exactly as a wrapped design's ``decide`` asks it. The MTD is
    selected by :func:`isotonic_mtd` below the lowest dose the table eliminated (a dose's
    counts change only while it is given, so this is the table's rule on the final counts, as
    the designs' ``select_mtd`` applies it). Returns the outcomes (with
    each trial's stop reason) and, with ``record_paths``, each trial's dose per cohort (-1
    after it stopped; ``None`` without).
    """
    n_doses = truth.shape[0]
    n_max = n_cohorts * cohort_size
    if latent.tox.shape[1] < n_max:
        raise DecisionTableError(f"the latent patients cover {latent.tox.shape[1]} < {n_max}")
    n_trials = latent.n_trials
    # each dose's (n, y) is one key n * width + y, so the table look-up is one gather; the
    # running state is held in the narrowest integers that fit (elementwise work is most of
    # the loop, and it scales with the bytes touched)
    width = codes.shape[1]
    small = np.int16 if codes.size < np.iinfo(np.int16).max else np.int64
    flat_codes = np.ascontiguousarray(codes).reshape(-1)
    n_of_key = np.repeat(np.arange(codes.shape[0]), width)
    at_cap = None if n_earlystop is None else n_of_key >= n_earlystop
    if at_cap is not None and not at_cap.any():  # n.earlystop above the sample size
        at_cap = None
    final = np.zeros((n_trials, n_doses), dtype=small)
    final_lowest = np.full(n_trials, n_doses, dtype=small)
    cohorts_run = np.full(n_trials, n_cohorts, dtype=np.int64)
    stopped_early = np.zeros(n_trials, dtype=bool)
    paths = np.full((n_cohorts, n_trials), -1, dtype=np.int64) if record_paths else None
    labels = TABLE_STOP_REASONS + (stopping.labels() if stopping is not None else ())
    reason = np.zeros(n_trials, dtype=np.int8)
    # the running trials' state, compressed when some stop: their indices, keys, dose, lowest
    running = np.arange(n_trials)
    keys = np.zeros((n_trials, n_doses), dtype=small)
    dose = np.full(n_trials, start, dtype=small)
    lowest = np.full(n_trials, n_doses, dtype=small)
    rows = np.arange(n_trials) * n_doses
    everyone = True
    tox = latent.tox
    step = small(cohort_size * width)
    for c in range(n_cohorts):
        if running.size == 0:
            break
        if paths is not None:
            paths[c, running] = dose
        # gathers by .take and row selection by compress: numpy's fancy indexing is several
        # times slower on these arrays (non-pointer-sized indices, boolean row masks)
        p = truth.take(dose)
        dlts = np.full(running.size, step, dtype=small)
        for j in range(c * cohort_size, (c + 1) * cohort_size):
            column = tox[:, j]
            dlts += (column if everyone else column.take(running)) < p
        flat = rows + dose
        key = keys.reshape(-1).take(flat) + dlts
        keys.reshape(-1)[flat] = key
        code = flat_codes.take(key)
        eliminated = code == ELIMINATE
        if eliminated.any():
            lowest = np.where(eliminated, np.minimum(lowest, dose), lowest)
        stop = lowest == 0
        nxt = admissible_dose(dose + dose_move(code), dose, lowest)
        why = None
        if at_cap is not None:
            converged = at_cap[key]
            if earlystop_only_when_staying:
                converged &= nxt == dose
            if converged.any():
                why = np.where(stop, TOO_TOXIC, np.where(converged, N_AT_DOSE, MAX_N))
                stop |= converged
        if stopping is not None and c < n_cohorts - 1:
            rule = stopping.codes(TrialView(keys // width, keys % width, nxt))
            fired = (rule >= 0) & ~stop
            if fired.any():
                if why is None:
                    why = np.where(stop, TOO_TOXIC, MAX_N)
                why = np.where(fired, len(TABLE_STOP_REASONS) + rule, why)
                stop |= fired
        if not stop.any():
            dose = nxt
            continue
        gone = running[stop]
        final[gone] = np.compress(stop, keys, axis=0)
        final_lowest[gone] = lowest[stop]
        cohorts_run[gone] = c + 1
        if c < n_cohorts - 1:
            stopped_early[gone] = True
            reason[gone] = (np.where(stop, TOO_TOXIC, MAX_N) if why is None else why)[stop]
        keep = ~stop
        running = running[keep]
        keys = np.compress(keep, keys, axis=0)
        dose = nxt[keep]
        lowest = lowest[keep]
        rows = np.arange(running.size) * n_doses
        everyone = False
    final[running] = keys
    final_lowest[running] = lowest
    n = (final // width).astype(np.int64)  # arithmetic: a 2-D gather costs ten times more
    y = (final % width).astype(np.int64)
    selected = isotonic_mtd_from_keys(
        final, width, codes.size, final_lowest, target, bound_mtd_above
    )
    duration = cohort_durations(cohort_size, cohorts_run, window_days, accrual)
    outcomes = TrialOutcomes(selected, n, y, stopped_early, duration, reason, labels)
    return outcomes, None if paths is None else paths.T
