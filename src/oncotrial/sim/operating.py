"""Operating characteristics of designs over scenarios, run in blocks on local processes or
a Dask cluster.

Trials are split into blocks of :data:`BLOCK_TRIALS`; block b always uses the latent patients
keyed by ``(seed, b)`` whatever design, scenario or worker runs it, so results are identical
for any number of workers and designs are compared on common random numbers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from oncotrial.designs.base import Design
from oncotrial.designs.behaviours import innermost
from oncotrial.designs.names import EFFICACY_DESIGNS
from oncotrial.designs.registry import latent_patients_needed
from oncotrial.designs.simulation import (
    BLOCK_TRIALS,
    AccrualModel,
    DltTimeModel,
    LatentPatients,
    OperatingCharacteristics,
    OutcomeTotals,
    TrialOutcomes,
)


@dataclass(frozen=True)
class Scenario:
    """A named truth: the DLT probability at each dose and, for the toxicity-and-efficacy
    designs (BOIN12, TITE-BOIN12, BF-BOIN), the response probability at each dose."""

    name: str
    truth: tuple[float, ...]
    efficacy: tuple[float, ...] | None = None


def uses_efficacy(design: Design) -> bool:
    """True for a design that needs a response truth (:data:`EFFICACY_DESIGNS`)."""
    return design.name.lower() in EFFICACY_DESIGNS


@dataclass(frozen=True)
class _Block:
    index: int
    size: int
    seed: int
    designs: tuple[Design, ...]
    scenarios: tuple[Scenario, ...]
    accrual: AccrualModel
    dlt_time: DltTimeModel


def _simulate(
    design: Design,
    scenario: Scenario,
    latent: LatentPatients,
    accrual: AccrualModel,
    dlt_time: DltTimeModel,
) -> TrialOutcomes:
    """Call the design's simulator with the models it takes (TITE designs take DLT times,
    toxicity-and-efficacy designs the response truth)."""
    params = inspect.signature(innermost(design).simulate).parameters
    kwargs: dict = {}
    if "accrual" in params:
        kwargs["accrual"] = accrual
    if "dlt_time" in params:
        kwargs["dlt_time"] = dlt_time
    truth = np.asarray(scenario.truth, dtype=float)
    if uses_efficacy(design):
        assert scenario.efficacy is not None
        efficacy = np.asarray(scenario.efficacy, dtype=float)
        return design.simulate(truth, efficacy, latent, **kwargs)  # type: ignore[attr-defined]
    return design.simulate(truth, latent, **kwargs)  # type: ignore[attr-defined]


def _run_block(block: _Block) -> tuple[int, list[list[OutcomeTotals]]]:
    width = max(latent_patients_needed(d) for d in block.designs)
    # the efficacy latents hold the same tox/time/gap numbers: common random numbers across all
    kind: type[LatentPatients] = LatentPatients
    if any(uses_efficacy(d) for d in block.designs):
        from oncotrial.designs.efficacy import EfficacyLatents

        kind = EfficacyLatents
    latent = kind.draw(block.size, width, block.seed, block.index)
    results = [
        [_simulate(d, s, latent, block.accrual, block.dlt_time).totals() for s in block.scenarios]
        for d in block.designs
    ]
    return block.index, results


def operating_characteristics(
    designs: Sequence[Design],
    scenarios: Sequence[Scenario],
    n_trials: int,
    seed: int,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    accrual: AccrualModel | None = None,
    dlt_time: DltTimeModel | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[OperatingCharacteristics]]:
    """Summaries indexed ``[design][scenario]``.

    ``workers`` > 1 uses local processes; ``scheduler`` (``tcp://host:port``) sends blocks to
    a Dask distributed cluster (the optional ``dask`` extra). ``progress(done, total)`` is
    called as blocks finish.
    """
    if n_trials < 1:
        raise ValueError("the number of trials must be at least 1")
    for s in scenarios:
        for d in designs:
            if len(s.truth) != d.n_doses:
                raise ValueError(
                    f"scenario '{s.name}' has {len(s.truth)} doses, design '{d.name}' {d.n_doses}"
                )
            if uses_efficacy(d) and s.efficacy is None:
                raise ValueError(
                    f"scenario '{s.name}': design '{d.name}' needs the true response "
                    "probability at each dose (--efficacy, or response_probabilities)"
                )
            if s.efficacy is not None and len(s.efficacy) != len(s.truth):
                raise ValueError(
                    f"scenario '{s.name}' has {len(s.efficacy)} response probabilities for "
                    f"{len(s.truth)} doses"
                )
    accrual = accrual or AccrualModel()
    dlt_time = dlt_time or DltTimeModel(window_days=28.0)
    sizes = [BLOCK_TRIALS] * (n_trials // BLOCK_TRIALS)
    if n_trials % BLOCK_TRIALS:
        sizes.append(n_trials % BLOCK_TRIALS)
    blocks = [
        _Block(i, size, seed, tuple(designs), tuple(scenarios), accrual, dlt_time)
        for i, size in enumerate(sizes)
    ]
    done: dict[int, list[list[OutcomeTotals]]] = {}

    def record(index: int, result: list[list[OutcomeTotals]]) -> None:
        done[index] = result
        if progress is not None:
            progress(len(done), len(blocks))

    if scheduler is not None:
        _run_on_dask(blocks, scheduler, record)
    elif workers > 1 and len(blocks) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_run_block, b) for b in blocks]
            for future in as_completed(futures):
                record(*future.result())
    else:
        for b in blocks:
            record(*_run_block(b))
    return [
        [_add([done[b.index][i][j] for b in blocks]).summary() for j in range(len(scenarios))]
        for i in range(len(designs))
    ]


def _add(parts: list[OutcomeTotals]) -> OutcomeTotals:
    """A design's totals over its blocks, added in block order (same numbers for any workers)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _run_on_dask(blocks: list[_Block], scheduler: str, record: Callable[[int, list], None]) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise RuntimeError(
            "a Dask scheduler was given but dask.distributed is not installed: "
            "pip install 'oncotrial[dask]'"
        ) from exc
    with Client(scheduler) as client:
        futures = client.map(_run_block, blocks, pure=False)
        for future in dask_completed(futures):
            record(*future.result())
