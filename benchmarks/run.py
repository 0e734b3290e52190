"""Simulation throughput of every design on one core: ``make bench``.

Prints trials per second for the vectorised simulator alone (latent patients drawn beforehand)
and including the draw, against the targets of issue #2 (R's BOIN::get.oc runs about 1,000
trials/s and dfcrm::crmsim about 100 on this class of machine).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from oncotrial.designs.registry import (  # noqa: E402
    DESIGN_NAMES,
    DesignSpec,
    build_design,
    latent_patients_needed,
)
from oncotrial.designs.simulation import LatentPatients  # noqa: E402

#: (design, doses, cohorts of 3, target trials/s on one core; None = no target set)
CASES = {
    "boin": (5, 10, 500_000),
    "tite-boin": (5, 10, 50_000),
    "3+3": (5, 10, None),
    "keyboard": (5, 10, None),
    "mtpi2": (5, 10, None),
    "i3+3": (5, 10, None),
    "crm": (6, 8, 20_000),
    "tite-crm": (6, 8, None),
}
TRUTH = {5: [0.05, 0.15, 0.30, 0.45, 0.60], 6: [0.02, 0.06, 0.12, 0.20, 0.30, 0.45]}
SKELETON = (0.05, 0.10, 0.20, 0.35, 0.50, 0.70)


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Shortest wall time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100_000, help="trials per timing")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    rows = []
    for name, (n_doses, cohorts, target) in CASES.items():
        if name not in DESIGN_NAMES:
            continue
        spec = DesignSpec(
            name=name,
            n_doses=n_doses,
            target=0.3 if n_doses == 5 else 0.2,
            cohort_size=3,
            n_cohorts=cohorts,
            skeleton=SKELETON if n_doses == 6 else None,
        )
        design = build_design(spec)
        truth = np.array(TRUTH[n_doses])
        n_trials = args.trials if "crm" not in name else max(args.trials // 5, 1000)
        width = latent_patients_needed(design)
        latent = LatentPatients.draw(n_trials, width, seed=7)
        design.simulate(truth, LatentPatients.draw(50, width, seed=1))  # warm caches
        sim_s = best_of(3, lambda d=design, lat=latent, p=truth: d.simulate(p, lat))
        draw_s = best_of(3, lambda n=n_trials, w=width: LatentPatients.draw(n, w, seed=7))
        rows.append(
            {
                "design": name,
                "doses": n_doses,
                "patients": cohorts * 3,
                "trials": n_trials,
                "trials_per_s": n_trials / sim_s,
                "trials_per_s_with_draw": n_trials / (sim_s + draw_s),
                "target": target,
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return
    print(f"{'design':<10}{'doses':>6}{'N':>4}{'trials/s':>14}{'incl. draw':>14}{'target':>10}")
    for r in rows:
        target = "" if r["target"] is None else f"{r['target']:,}"
        print(
            f"{r['design']:<10}{r['doses']:>6}{r['patients']:>4}{r['trials_per_s']:>14,.0f}"
            f"{r['trials_per_s_with_draw']:>14,.0f}{target:>10}"
        )


if __name__ == "__main__":
    main()
