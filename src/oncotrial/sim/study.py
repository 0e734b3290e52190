"""The whole seamless phase I/II study simulated: escalation, dose selection and expansion, for
several candidate designs side by side on common random numbers.

Trials run in the blocks of :data:`~oncotrial.designs.simulation.BLOCK_TRIALS` used by
``oncotrial simulate``: block b of a scenario draws the latent patients keyed by ``(seed, b)``
— DLT and response uniforms and arrival gaps of the escalation (:class:`~oncotrial.designs.
efficacy.EfficacyLatents`, whose DLT and gap streams are those of ``simulate``), and two more
streams for the expansion patients' responses and arrivals — whatever the design or worker, so
every candidate sees the same virtual patients and results do not depend on the number of
workers. A design's escalation in ``simulate-study`` therefore selects exactly as ``simulate``
does for that design with the same seed.

Summaries per design and scenario: the probability of selecting the true MTD (escalation) and
the true OBD (the study's final dose), of a positive phase II (Simon/BOP2 rejecting H0), the
expected sample size and duration, and the patients treated above the true MTD (see
:class:`~oncotrial.sim.study_designs.TrueDoses`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np

from oncotrial.designs.efficacy import DAYS_PER_MONTH, EfficacyLatents
from oncotrial.designs.simulation import BLOCK_TRIALS
from oncotrial.sim.study_designs import (
    StudyDesign,
    StudyScenario,
    TrueDoses,
    run_escalation,
    select_doses,
)
from oncotrial.sim.study_expansion import run_expansion

#: child streams of SeedSequence([seed, block]): 0-3 are EfficacyLatents' (DLT, DLT time,
#: gap, response), 4 and 5 the expansion patients' responses and arrival gaps
EXPANSION_STREAMS = (4, 5)


@dataclass
class StudyTally:
    """Sums over the trials of one (design, scenario) pair; blocks add up in order."""

    n_doses: int
    n_trials: int = 0
    mtd_counts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    final_counts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    right_mtd: int = 0
    right_obd: int = 0
    positive: int = 0
    positive_at_obd: int = 0
    randomised: int = 0
    n_escalation: float = 0.0
    n_expansion: float = 0.0
    duration_days: float = 0.0
    duration_escalation_days: float = 0.0
    above_mtd: float = 0.0
    dlts_escalation: float = 0.0
    dlts_expansion: float = 0.0

    def __post_init__(self) -> None:
        if self.mtd_counts.size == 0:
            self.mtd_counts = np.zeros(self.n_doses + 1, dtype=np.int64)
            self.final_counts = np.zeros(self.n_doses + 1, dtype=np.int64)

    def add(self, other: StudyTally) -> None:
        self.n_trials += other.n_trials
        self.mtd_counts = self.mtd_counts + other.mtd_counts
        self.final_counts = self.final_counts + other.final_counts
        for key in (
            "right_mtd",
            "right_obd",
            "positive",
            "positive_at_obd",
            "randomised",
            "n_escalation",
            "n_expansion",
            "duration_days",
            "duration_escalation_days",
            "above_mtd",
            "dlts_escalation",
            "dlts_expansion",
        ):
            setattr(self, key, getattr(self, key) + getattr(other, key))


@dataclass(frozen=True)
class StudyCharacteristics:
    """Operating characteristics of one candidate in one scenario (percentages 0-100).

    ``mtd_selected_pct`` / ``final_selected_pct``: the escalation's MTD and the study's final
    dose at each level (0-based lists), with ``*_none_pct`` for no dose; ``positive_pct`` (and
    ``positive_at_obd_pct``, a positive phase II at the true OBD) is ``None`` for ROSE (a
    selection, not a test); ``randomised_pct`` the share of trials whose
    ROSE expansion had two doses to randomise.
    """

    design: str
    scenario: str
    expansion: str
    n_trials: int
    true_mtd: int
    true_obd: int
    mtd_selected_pct: list[float]
    mtd_none_pct: float
    final_selected_pct: list[float]
    final_none_pct: float
    right_mtd_pct: float
    right_obd_pct: float
    positive_pct: float | None
    positive_at_obd_pct: float | None
    randomised_pct: float | None
    mean_n_escalation: float
    mean_n_expansion: float
    mean_n: float
    mean_duration_months: float
    mean_duration_escalation_months: float
    mean_above_mtd: float
    mean_dlts_escalation: float = 0.0
    mean_dlts_expansion: float = 0.0

    def to_json(self) -> dict:
        """Machine form; dose indices 1-based in fields whose names say so."""
        return {
            "design": self.design,
            "scenario": self.scenario,
            "expansion": self.expansion,
            "n_trials": self.n_trials,
            "true_mtd_index": None if self.true_mtd < 0 else self.true_mtd + 1,
            "true_obd_index": None if self.true_obd < 0 else self.true_obd + 1,
            "mtd_selected_pct": self.mtd_selected_pct,
            "mtd_none_pct": self.mtd_none_pct,
            "final_selected_pct": self.final_selected_pct,
            "final_none_pct": self.final_none_pct,
            "right_mtd_pct": self.right_mtd_pct,
            "right_obd_pct": self.right_obd_pct,
            "positive_pct": self.positive_pct,
            "positive_at_obd_pct": self.positive_at_obd_pct,
            "randomised_pct": self.randomised_pct,
            "mean_n_escalation": self.mean_n_escalation,
            "mean_n_expansion": self.mean_n_expansion,
            "mean_n": self.mean_n,
            "mean_duration_months": self.mean_duration_months,
            "mean_duration_escalation_months": self.mean_duration_escalation_months,
            "mean_above_mtd": self.mean_above_mtd,
            "mean_dlts_escalation": self.mean_dlts_escalation,
            "mean_dlts_expansion": self.mean_dlts_expansion,
            "mean_dlts": self.mean_dlts_escalation + self.mean_dlts_expansion,
        }


def summarise(
    tally: StudyTally, design: StudyDesign, scenario: StudyScenario, truth: TrueDoses
) -> StudyCharacteristics:
    """Percentages and means from the sums."""
    n = tally.n_trials

    def pct(count: float) -> float:
        return 100.0 * float(count) / n

    rose = design.expansion_kind == "rose"
    return StudyCharacteristics(
        design=design.name,
        scenario=scenario.name,
        expansion=design.expansion_kind,
        n_trials=n,
        true_mtd=truth.mtd,
        true_obd=truth.obd,
        mtd_selected_pct=[pct(c) for c in tally.mtd_counts[1:]],
        mtd_none_pct=pct(tally.mtd_counts[0]),
        final_selected_pct=[pct(c) for c in tally.final_counts[1:]],
        final_none_pct=pct(tally.final_counts[0]),
        right_mtd_pct=pct(tally.right_mtd),
        right_obd_pct=pct(tally.right_obd),
        positive_pct=None if rose else pct(tally.positive),
        positive_at_obd_pct=None if rose else pct(tally.positive_at_obd),
        randomised_pct=pct(tally.randomised) if rose else None,
        mean_n_escalation=tally.n_escalation / n,
        mean_n_expansion=tally.n_expansion / n,
        mean_n=(tally.n_escalation + tally.n_expansion) / n,
        mean_duration_months=tally.duration_days / n / DAYS_PER_MONTH,
        mean_duration_escalation_months=tally.duration_escalation_days / n / DAYS_PER_MONTH,
        mean_above_mtd=tally.above_mtd / n,
        mean_dlts_escalation=tally.dlts_escalation / n,
        mean_dlts_expansion=tally.dlts_expansion / n,
    )


def expansion_uniforms(
    n_trials: int, width: int, seed: int, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """The expansion patients' response uniforms and arrival-gap uniforms for a block,
    (trials, patients), drawn patient by patient so a column never depends on ``width``."""
    children = np.random.SeedSequence([seed, block]).spawn(max(EXPANSION_STREAMS) + 1)
    out = []
    for k in EXPANSION_STREAMS:
        rng = np.random.Generator(np.random.PCG64(children[k]))
        out.append(rng.random((width, n_trials)).T)
    return out[0], out[1]


def simulate_block(
    design: StudyDesign,
    scenario: StudyScenario,
    truth: TrueDoses,
    latent: EfficacyLatents,
    eff_u: np.ndarray,
    gap_u: np.ndarray,
) -> StudyTally:
    """One block of trials of one design in one scenario: escalation, selection, expansion."""
    esc = run_escalation(design, scenario, latent)
    low, high = select_doses(design, esc)
    exp = run_expansion(
        design.expansion,
        low,
        high,
        np.asarray(scenario.p_eff),
        eff_u,
        gap_u,
        design.expansion_accrual,
        design.response_window_days,
    )
    n_doses = len(scenario.p_tox)
    n_esc = esc.n_per_dose.sum(axis=1)
    above_esc = esc.n_per_dose[:, truth.mtd + 1 :].sum(axis=1)  # all of them when mtd = -1
    above_exp = (low > truth.mtd) * exp.n_low + (high > truth.mtd) * exp.n_high
    tally = StudyTally(n_doses=n_doses, n_trials=int(high.shape[0]))
    tally.mtd_counts = np.bincount(esc.mtd + 1, minlength=n_doses + 1)
    tally.final_counts = np.bincount(exp.final + 1, minlength=n_doses + 1)
    tally.right_mtd = int((esc.mtd == truth.mtd).sum())
    tally.right_obd = int((exp.final == truth.obd).sum())
    tally.positive = int(exp.positive.sum())
    tally.positive_at_obd = int((exp.positive & (exp.final == truth.obd)).sum())
    tally.randomised = int(((high >= 0) & (low < high)).sum())
    tally.n_escalation = float(n_esc.sum())
    tally.n_expansion = float((exp.n_low + exp.n_high).sum())
    tally.duration_days = float((esc.duration_days + exp.duration_days).sum())
    tally.duration_escalation_days = float(esc.duration_days.sum())
    tally.above_mtd = float((above_esc + above_exp).sum())
    p_tox = np.asarray(scenario.p_tox, dtype=float)
    tally.dlts_escalation = float((esc.n_per_dose @ p_tox).sum())
    at_low = np.where(low >= 0, p_tox[np.maximum(low, 0)], 0.0)
    at_high = np.where(high >= 0, p_tox[np.maximum(high, 0)], 0.0)
    tally.dlts_expansion = float((exp.n_low * at_low + exp.n_high * at_high).sum())
    return tally


@dataclass(frozen=True)
class _Unit:
    """One block of one design over every scenario: the unit of work sent to a worker."""

    block: int
    size: int
    seed: int
    design_index: int
    design: StudyDesign
    scenarios: tuple[StudyScenario, ...]
    truths: tuple[TrueDoses, ...]
    width: int
    expansion_width: int


def _run_unit(unit: _Unit) -> tuple[int, int, list[StudyTally]]:
    latent = EfficacyLatents.draw(unit.size, unit.width, unit.seed, unit.block)
    eff_u, gap_u = expansion_uniforms(unit.size, unit.expansion_width, unit.seed, unit.block)
    tallies = [
        simulate_block(unit.design, s, t, latent, eff_u, gap_u)
        for s, t in zip(unit.scenarios, unit.truths, strict=True)
    ]
    return unit.block, unit.design_index, tallies


def study_characteristics(
    designs: Sequence[StudyDesign],
    scenarios: Sequence[StudyScenario],
    truths: Sequence[TrueDoses],
    n_trials: int,
    seed: int,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[StudyCharacteristics]]:
    """Summaries indexed ``[design][scenario]`` (module docstring).

    ``workers`` > 1 uses local processes; ``scheduler`` (``tcp://host:port``) a Dask
    distributed cluster (the optional ``dask`` extra). ``progress(done, total)`` is called as
    (block, design) units finish.
    """
    if n_trials < 1:
        raise ValueError("the number of trials must be at least 1")
    if not designs or not scenarios:
        raise ValueError("give at least one design and one scenario")
    for s in scenarios:
        for d in designs:
            if len(s.p_tox) != d.escalation.n_doses:
                raise ValueError(
                    f"scenario '{s.name}' has {len(s.p_tox)} doses, design '{d.name}' "
                    f"{d.escalation.n_doses}"
                )
    width = max(d.latent_width for d in designs)
    expansion_width = max(d.expansion_width for d in designs)
    sizes = [BLOCK_TRIALS] * (n_trials // BLOCK_TRIALS)
    if n_trials % BLOCK_TRIALS:
        sizes.append(n_trials % BLOCK_TRIALS)
    units = [
        _Unit(b, size, seed, i, d, tuple(scenarios), tuple(truths), width, expansion_width)
        for b, size in enumerate(sizes)
        for i, d in enumerate(designs)
    ]
    done: dict[tuple[int, int], list[StudyTally]] = {}

    def record(block: int, design_index: int, tallies: list[StudyTally]) -> None:
        done[(block, design_index)] = tallies
        if progress is not None:
            progress(len(done), len(units))

    run_units(units, _run_unit, record, workers, scheduler)
    out: list[list[StudyCharacteristics]] = []
    for i, d in enumerate(designs):
        row = []
        for j, (s, t) in enumerate(zip(scenarios, truths, strict=True)):
            total = StudyTally(n_doses=len(s.p_tox))
            for b in range(len(sizes)):  # in block order: the same sums for any workers
                total.add(done[(b, i)][j])
            row.append(summarise(total, d, s, t))
        out.append(row)
    return out


def run_units(
    units: Sequence[object],
    fn: Callable,
    record: Callable,
    workers: int,
    scheduler: str | None,
) -> None:
    """Run ``fn`` on every unit in this process, on local processes or on a Dask cluster,
    calling ``record(*result)`` as each finishes."""
    if scheduler is not None:
        try:
            from distributed import Client
            from distributed import as_completed as dask_completed
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError(
                "a Dask scheduler was given but dask.distributed is not installed: "
                "pip install 'oncotrial[dask]'"
            ) from exc
        with Client(scheduler) as client:
            futures = client.map(fn, units, pure=False)
            for future in dask_completed(futures):
                record(*future.result())
    elif workers > 1 and len(units) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(fn, u) for u in units]
            for future in as_completed(futures):
                record(*future.result())
    else:
        for u in units:
            record(*fn(u))
