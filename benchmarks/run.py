"""Simulation throughput of every design on one core, and the ratios to R: ``make bench``.

1. Trials per second for the vectorised simulator alone (latent patients drawn beforehand) and
   including the draw, against the targets of issues 2 and 10.
2. The anchors of issue 10, section 4, measured in the same run (CPU seconds, so that other work
   on a shared machine does not tilt the ratio):

   * BOIN: the whole ``oncotrial simulate --design boin`` process on 2,000,000 trials (start-up,
     seeding and summarising included) against ``BOIN::get.oc`` timed inside R on
     ``--r-trials`` trials and scaled linearly to the same number (get.oc loops over trials);
     target ratio >= 1000.
   * TITE-CRM: trials per second on one core against ``dfcrm::titesim`` on the same scenario
     (6 doses, 24 patients, Poisson accrual of 2 a month, 28-day window); target >= 30,000/s.

Without ``Rscript`` (or the R package) the anchor is reported as unavailable and only our
figure is printed.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from oncotrial.designs.registry import (  # noqa: E402
    DESIGN_NAMES,
    DesignSpec,
    build_design,
    latent_patients_needed,
)
from oncotrial.designs.simulation import LatentPatients  # noqa: E402

BOIN_TRUTH = "0.05,0.15,0.30,0.45,0.60"
BOIN_RATIO_TARGET = 1000
TITE_CRM_TARGET = 30_000

#: (design, doses, cohorts of 3, target trials/s on one core; None = no target set)
CASES = {
    "boin": (5, 10, 500_000),
    "tite-boin": (5, 10, 50_000),
    "3+3": (5, 10, None),
    "keyboard": (5, 10, None),
    "mtpi2": (5, 10, None),
    "i3+3": (5, 10, None),
    "crm": (6, 8, 20_000),
    "tite-crm": (6, 8, TITE_CRM_TARGET),
}
TRUTH = {5: [0.05, 0.15, 0.30, 0.45, 0.60], 6: [0.02, 0.06, 0.12, 0.20, 0.30, 0.45]}
SKELETON = (0.05, 0.10, 0.20, 0.35, 0.50, 0.70)


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Shortest CPU time of ``repeats`` calls (one core: other work on a shared machine does
    not tilt the figure)."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


R_GET_OC = """
suppressMessages(library(BOIN))
t <- system.time(get.oc(target = 0.3, p.true = c({truth}), ncohort = 10, cohortsize = 3,
                        ntrial = {trials}, seed = 1))
cat(t[["user.self"]] + t[["sys.self"]], "\\n")
"""

R_TITESIM = """
suppressMessages(library(dfcrm))
t <- system.time(titesim(PI = c({truth}), prior = c({skeleton}), target = 0.2, n = 24, x0 = 1,
                         nsim = {trials}, obswin = 28, rate = 28 * 2 / 30,
                         accrual = "poisson", count = FALSE, seed = 1))
cat(t[["user.self"]] + t[["sys.self"]], "\\n")
"""


def r_cpu_seconds(script: str, package: str) -> float | None:
    """CPU seconds R reports for ``script`` (None when R or ``package`` is missing)."""
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(
        ["Rscript", "-e", f"quit(status = !requireNamespace('{package}', quietly = TRUE))"],
        capture_output=True,
    )
    if check.returncode != 0:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["Rscript", f.name], capture_output=True, text=True, check=True)
    finally:
        Path(f.name).unlink()
    return float(out.stdout.split()[-1])


def whole_process_cpu(args: list[str]) -> tuple[float, float]:
    """CPU and wall seconds of a child process (start-up included)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def oncotrial_command() -> list[str]:
    """The installed ``oncotrial`` console script next to this interpreter."""
    script = Path(sys.executable).with_name("oncotrial")
    return [str(script)] if script.exists() else [sys.executable, "-m", "oncotrial.cli.main"]


def anchors(boin_trials: int, r_trials: int, tite_per_s: float | None) -> list[dict]:
    """The issue-10 ratios: whole-process BOIN against get.oc, TITE-CRM against titesim."""
    cmd = oncotrial_command() + [
        "simulate", "--design", "boin", "--target", "0.3", "--truth", BOIN_TRUTH,
        "--cohorts", "10", "--trials", str(boin_trials), "--format", "json",
    ]  # fmt: skip
    cpu, wall = whole_process_cpu(cmd)
    startup, _ = whole_process_cpu(cmd[: cmd.index("--trials") + 1] + ["1", "--format", "json"])
    r_cpu = r_cpu_seconds(R_GET_OC.format(truth=BOIN_TRUTH, trials=r_trials), "BOIN")
    r_scaled = None if r_cpu is None else r_cpu * boin_trials / r_trials
    out = [
        {
            "anchor": "BOIN::get.oc",
            "trials": boin_trials,
            "ours_cpu_s": cpu,
            "ours_wall_s": wall,
            "ours_startup_cpu_s": startup,
            "r_cpu_s": r_scaled,
            "r_measured_trials": r_trials if r_cpu is not None else None,
            "ratio": None if r_scaled is None else r_scaled / cpu,
            "target_ratio": BOIN_RATIO_TARGET,
        }
    ]
    tite_trials = max(r_trials // 50, 10)
    r_tite = r_cpu_seconds(
        R_TITESIM.format(
            truth=",".join(map(str, TRUTH[6])),
            skeleton=",".join(map(str, SKELETON)),
            trials=tite_trials,
        ),
        "dfcrm",
    )
    r_rate = None if r_tite is None else tite_trials / r_tite
    out.append(
        {
            "anchor": "dfcrm::titesim",
            "ours_trials_per_s": tite_per_s,
            "r_trials_per_s": r_rate,
            "ratio": None if r_rate is None or tite_per_s is None else tite_per_s / r_rate,
            "target_trials_per_s": TITE_CRM_TARGET,
        }
    )
    return out


def print_anchors(rows: list[dict]) -> None:
    boin, tite = rows
    print(
        f"\nBOIN, whole process `oncotrial simulate` on {boin['trials']:,} trials: "
        f"{boin['ours_cpu_s']:.2f} s CPU ({boin['ours_wall_s']:.2f} s wall; the same process on "
        f"1 trial, i.e. start-up: {boin['ours_startup_cpu_s']:.2f} s CPU)"
    )
    if boin["r_cpu_s"] is None:
        print("  BOIN::get.oc anchor unavailable (Rscript or the BOIN package is missing)")
    else:
        print(
            f"  BOIN::get.oc: {boin['r_cpu_s']:,.0f} s CPU for the same number (measured on "
            f"{boin['r_measured_trials']:,} trials, scaled)  ratio {boin['ratio']:,.0f}x "
            f"(target {boin['target_ratio']:,}x)"
        )
    ours = tite["ours_trials_per_s"]
    print(f"TITE-CRM: {ours:,.0f} trials/s on one core (target {tite['target_trials_per_s']:,})")
    if tite["r_trials_per_s"] is None:
        print("  dfcrm::titesim anchor unavailable (Rscript or the dfcrm package is missing)")
    else:
        print(
            f"  dfcrm::titesim: {tite['r_trials_per_s']:,.0f} trials/s  ratio {tite['ratio']:,.0f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100_000, help="trials per timing")
    parser.add_argument(
        "--boin-trials", type=int, default=2_000_000, help="trials of the whole-process BOIN run"
    )
    parser.add_argument(
        "--r-trials", type=int, default=5_000, help="trials R's get.oc is timed on (then scaled)"
    )
    parser.add_argument("--no-r", action="store_true", help="skip the anchors' processes")
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
    tite = next((r["trials_per_s"] for r in rows if r["design"] == "tite-crm"), None)
    ratios = [] if args.no_r else anchors(args.boin_trials, args.r_trials, tite)
    if args.format == "json":
        print(json.dumps({"throughput": rows, "anchors": ratios}, indent=2))
        return
    print(f"{'design':<10}{'doses':>6}{'N':>4}{'trials/s':>14}{'incl. draw':>14}{'target':>10}")
    for r in rows:
        target = "" if r["target"] is None else f"{r['target']:,}"
        print(
            f"{r['design']:<10}{r['doses']:>6}{r['patients']:>4}{r['trials_per_s']:>14,.0f}"
            f"{r['trials_per_s_with_draw']:>14,.0f}{target:>10}"
        )
    if ratios:
        print_anchors(ratios)


if __name__ == "__main__":
    main()
