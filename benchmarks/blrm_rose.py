"""BLRM and ROSE speed on one core: ``python benchmarks/blrm_rose.py``.

Prints, each with its target (issue 10, section 4) and the ratio to it:

* BLRM decision time (posterior on the mode-centred grid and the EWOC rule), target < 0.5 s;
* BLRM simulated trials per second (whole simulator, shared grid), target >= 1,000;
* ROSE exact design search and simulated trials per second (no target set).

The anchor, when ``Rscript`` with crmPack is installed: one crmPack ``LogisticLogNormal`` MCMC
fit of the same data with its default ``McmcOptions()`` (10,000 saved draws), timed in the same
run, whole process included (``--no-r`` skips it).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from oncotrial.designs.base import TrialState  # noqa: E402
from oncotrial.designs.blrm import BLRM  # noqa: E402
from oncotrial.designs.rose import rose_design, simulate_rose  # noqa: E402
from oncotrial.designs.simulation import LatentPatients  # noqa: E402
from run import best_of  # noqa: E402

DONAFENIB_MG_PER_DAY = (100.0, 200.0, 400.0, 600.0)
TRUTH = np.array([0.05, 0.12, 0.25, 0.45])
#: Neuenschwander et al. (2008) dose grid (mg/m2), reference dose 250.
NB_DOSES = (1, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 250)
NB_TRUTH = np.array([0.01, 0.02, 0.03, 0.05, 0.07, 0.09, 0.11, 0.13, 0.16, 0.2, 0.27, 0.33,
                     0.42, 0.5, 0.56])  # fmt: skip
DECISION_TARGET_S = 0.5
TRIALS_TARGET = 1_000

R_ANCHOR = """
suppressPackageStartupMessages(library(crmPack))
data <- Data(x = c(100, 100, 100, 200, 200, 200, rep(400, 6)), y = c(rep(0L, 6), 1L, 1L,
             rep(0L, 4)), ID = 1:12, cohort = c(1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4),
             doseGrid = c(100, 200, 400, 600))
model <- LogisticLogNormal(mean = c(qlogis(1/3), 0), cov = diag(c(4, 1)), ref_dose = 400)
samples <- mcmc(data, model, McmcOptions())
p <- prob(600, model, samples)
cat(mean(p >= 0.33), "\\n")
"""


def r_anchor() -> float | None:
    """Seconds of one crmPack MCMC fit (whole ``Rscript`` process), or None without R."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(R_ANCHOR)
    try:
        start = time.perf_counter()
        done = subprocess.run(["Rscript", f.name], capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - start
    finally:
        os.unlink(f.name)
    return elapsed if done.returncode == 0 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20_000, help="simulated BLRM trials")
    parser.add_argument("--no-r", action="store_true", help="skip the crmPack anchor")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    rows: list[dict[str, object]] = []
    design = BLRM(DONAFENIB_MG_PER_DAY, 400, max_patients=30, max_step_ratio=2.0)
    state = TrialState.from_counts([3, 3, 6, 0], [0, 0, 2, 0], current=2)
    decide_s = best_of(5, lambda: design.decide(state))
    rows.append(
        {
            "what": "BLRM decision, 4 doses (s)",
            "value": decide_s,
            "target": DECISION_TARGET_S,
            "ratio": DECISION_TARGET_S / decide_s,
        }  # fmt: skip
    )
    anchor = None if args.no_r else r_anchor()
    if anchor is not None:
        rows.append(
            {
                "what": "crmPack MCMC fit, same data (s, anchor)",
                "value": anchor,
                "target": None,
                "ratio": anchor / decide_s,
            }  # fmt: skip
        )
    nb = BLRM(NB_DOSES, 250, max_patients=30, prior=design.prior, max_step_ratio=2.0)
    nb_state = TrialState.from_counts([3, 4, 5, 4, 0, 0, 2] + [0] * 8, [0] * 6 + [2] + [0] * 8, 6)
    nb_s = best_of(5, lambda: nb.decide(nb_state))
    rows.append(
        {
            "what": "BLRM decision, 15 doses (s)",
            "value": nb_s,
            "target": DECISION_TARGET_S,
            "ratio": DECISION_TARGET_S / nb_s,
        }  # fmt: skip
    )
    for label, des, truth in (
        ("4 doses, 30 patients", design, TRUTH),
        ("15 doses, 30 patients", nb, NB_TRUTH),
    ):
        latent = LatentPatients.draw(args.trials, des.max_patients, seed=7)
        des.simulate(truth, LatentPatients.draw(50, des.max_patients, seed=1))  # builds the grid
        sim_s = best_of(2, lambda d=des, lat=latent, p=truth: d.simulate(p, lat))
        rate = args.trials / sim_s
        rows.append(
            {
                "what": f"BLRM simulated trials/s, {label}",
                "value": rate,
                "target": TRIALS_TARGET,
                "ratio": rate / TRIALS_TARGET,
            }  # fmt: skip
        )
    search_s = best_of(3, lambda: rose_design(0.3, 0.1, 0.7, 0.7, 0.5, method="exact"))
    rows.append({"what": "ROSE exact two-stage design search (s)", "value": search_s,
                 "target": None, "ratio": None})  # fmt: skip
    rose = rose_design(0.3, 0.1, 0.7, 0.7, 0.5, method="exact")
    rose_s = best_of(3, lambda: simulate_rose(rose, 0.2, 0.3, 1_000_000, 1))
    rows.append({"what": "ROSE simulated trials/s", "value": 1_000_000 / rose_s, "target": None,
                 "ratio": None})  # fmt: skip

    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        target = "" if row["target"] is None else f"  target {row['target']:>8g}"
        ratio = "" if row["ratio"] is None else f"  ratio {row['ratio']:>8.1f}"
        print(f"{row['what']:<44} {row['value']:>12.4g}{target}{ratio}")


if __name__ == "__main__":
    main()
