"""Survival kernels against R ``survival`` on 10⁶ subjects: ``python benchmarks/survival.py``.

The data are generated once (two arms, a normal covariate, four groups in three strata) and
written to a temporary binary file that R and Python both read. Each case is then run in fresh
processes, R (``Rscript``) and ours (this file's worker) alternately, pinned to one core with
one BLAS thread: the figure "call" is the wall time of the call alone (R ``system.time``, our
``perf_counter``), "process" the whole process (start-up, loading the package, reading the
file, the call, printing). Best of ``--repeats`` runs each. Targets (issue 7 §7): log-rank at
least 5× faster than ``survdiff``; Kaplan–Meier and Cox (Efron) at least 5× faster than
``survfit`` and ``coxph``. A sanity line per case says whether R's results equal ours on the
data. Without R or its survival package the ratios read "anchor unavailable".

Times are either continuous (months, almost no ties) or whole days (heavy ties); by default
both. The whole run takes about two and a half minutes (most of it R).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

#: The R calls timed, by case; ``d`` holds time, status, group, x, group4, stratum.
R_CALLS = {
    "logrank": "survdiff(Surv(time, status) ~ group, data = d)",
    "km": "survfit(Surv(time, status) ~ 1, data = d)",
    "cox": "coxph(Surv(time, status) ~ group + x, data = d)",
    "logrank-strata": "survdiff(Surv(time, status) ~ group4 + strata(stratum), data = d, rho = 1)",
}
CASE_TITLES = {
    "logrank": "log-rank, 2 groups (survdiff)",
    "km": "Kaplan-Meier (survfit)",
    "cox": "Cox, Efron, 2 covariates (coxph)",
    "logrank-strata": "G-rho 1, 4 groups, 3 strata (survdiff)",
}
#: Cases with a target ratio (issue 7 §7); the stratified test is shown for information.
TARGET_RATIO = {"logrank": 5.0, "km": 5.0, "cox": 5.0}
COLUMNS = ("time", "status", "group", "x", "group4", "stratum")
#: Relative tolerance of the sanity check; Cox runs R's Newton steps and stopping rule, so both
#: stop at the same iterate (observed differences ≤ 1e-12 on 10⁶ subjects).
SANITY_RTOL = {"logrank": 1e-9, "km": 1e-9, "cox": 1e-8, "logrank-strata": 1e-9}

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
n <- as.integer(args[2]); case <- args[3]; at <- as.numeric(strsplit(args[4], ",")[[1]])
con <- file(args[1], "rb"); m <- matrix(readBin(con, "double", n * 6), ncol = 6); close(con)
d <- data.frame(time = m[, 1], status = m[, 2], group = m[, 3], x = m[, 4],
                group4 = m[, 5], stratum = m[, 6])
rm(m)
call <- parse(text = args[5])[[1]]
elapsed <- system.time(fit <- eval(call))[["elapsed"]]
rows <- function(v) if (is.matrix(v)) rowSums(v) else v
out <- switch(case,
  km = {
    s <- summary(fit, times = at)
    list(events = sum(fit$n.event), median = unname(summary(fit)$table["median"]),
         surv = s$surv, lower = s$lower, upper = s$upper)
  },
  cox = list(coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))), loglik = fit$loglik),
  list(chisq = fit$chisq, observed = rows(fit$obs), expected = rows(fit$exp))
)
cat(toJSON(list(seconds = elapsed, result = out), digits = NA, auto_unbox = TRUE))
"""


def generate(n: int, seed: int, days: bool) -> np.ndarray:
    """Columns of the trial-like data set: exponential event times (median ≈ 10 months; hazard
    ratio 0.8 for ``group`` 1, 1.1 per unit of ``x``, strata and groups of four with their own
    hazards), censored by staggered entry over 18 months with 30 months of follow-up."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n).astype(float)
    x = rng.normal(size=n)
    group4 = rng.integers(0, 4, n).astype(float)
    stratum = rng.integers(0, 3, n).astype(float)
    hazard = np.log(2) / 10 * 0.8**group * 1.1**x * (1 + 0.15 * group4) * (1 + 0.3 * stratum)
    event_time = rng.exponential(1 / hazard)
    censor_time = 30 - rng.uniform(0, 18, n)
    months = np.minimum(event_time, censor_time)
    status = (event_time <= censor_time).astype(float)
    time_ = np.ceil(months * 30.4375) if days else months
    return np.stack([time_, status, group, x, group4, stratum])


def python_worker(path: str, n: int, case: str, at: list[float]) -> dict[str, Any]:
    """Ours, as the R script: read the file, time the call alone, report the results."""
    from oncotrial.stats.survival import cox_ph, kaplan_meier, logrank_test

    data = np.fromfile(path, dtype=np.float64, count=6 * n).reshape(6, n)
    t, e, group, x, group4, stratum = data
    calls = {
        "logrank": lambda: logrank_test(t, e, group),
        "km": lambda: kaplan_meier(t, e),
        "cox": lambda: cox_ph(t, e, np.column_stack([group, x])),
        "logrank-strata": lambda: logrank_test(t, e, group4, strata=stratum, rho=1),
    }
    started = time.perf_counter()
    fit = calls[case]()
    seconds = time.perf_counter() - started
    if case == "km":
        rows = fit.at(at)
        result: dict[str, Any] = {
            "events": fit.events,
            "median": fit.median().time,
            "surv": [row.surv for row in rows],
            "lower": [row.lower for row in rows],
            "upper": [row.upper for row in rows],
        }
    elif case == "cox":
        result = {"coef": fit.coef.tolist(), "se": fit.se.tolist(), "loglik": list(fit.loglik)}
    else:
        result = {
            "chisq": fit.chisq,
            "observed": fit.observed.tolist(),
            "expected": fit.expected.tolist(),
        }
    return {"seconds": seconds, "result": result}


def one_core_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    return env


def pin_to_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def run_process(command: list[str]) -> tuple[float, dict[str, Any]]:
    """Whole-process wall time and the JSON the process printed."""
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=one_core_env(), preexec_fn=pin_to_one_core
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")
    return wall, json.loads(done.stdout)


def r_available() -> str | None:
    """Why R cannot be the anchor, or None when Rscript and survival are there."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    check = subprocess.run(
        ["Rscript", "-e", "library(survival); library(jsonlite)"], capture_output=True, text=True
    )
    return None if check.returncode == 0 else "R packages survival/jsonlite not installed"


def max_relative_difference(ours: dict[str, Any], theirs: dict[str, Any]) -> float:
    """Largest relative difference over every number both results hold."""
    worst = 0.0
    for key, value in theirs.items():
        a = np.atleast_1d(np.asarray(ours[key], dtype=float))
        b = np.atleast_1d(np.asarray(value, dtype=float))
        if a.shape != b.shape:
            return float("inf")
        both = ~(np.isnan(a) & np.isnan(b))
        scale = np.maximum(np.abs(b[both]), 1e-300)
        worst = max(worst, float(np.max(np.abs(a[both] - b[both]) / scale, initial=0.0)))
    return worst


def bench_shape(
    shape: str, n: int, seed: int, repeats: int, cases: list[str], anchor: str | None
) -> list[dict[str, Any]]:
    days = shape == "days"
    at = [182.625, 365.25] if days else [6.0, 12.0]
    out = []
    with tempfile.TemporaryDirectory(prefix="oncotrial-bench-") as tmp:
        data_path = Path(tmp) / "survival.f64"
        generate(n, seed, days).tofile(data_path)
        r_path = Path(tmp) / "survival_bench.R"
        r_path.write_text(R_SCRIPT)
        at_text = ",".join(str(a) for a in at)
        for case in cases:
            ours_call, ours_process, r_call, r_process = [], [], [], []
            ours_result = r_result = None
            for i in range(repeats):
                print(f"{shape} {case}: run {i + 1}/{repeats}", file=sys.stderr, flush=True)
                py = [sys.executable, __file__, "--worker", str(data_path), str(n), case, at_text]
                wall, got = run_process(py)
                ours_process.append(wall)
                ours_call.append(got["seconds"])
                ours_result = got["result"]
                if anchor is None:
                    r_cmd = ["Rscript", str(r_path), str(data_path), str(n), case, at_text]
                    wall, got = run_process([*r_cmd, R_CALLS[case]])
                    r_process.append(wall)
                    r_call.append(got["seconds"])
                    r_result = got["result"]
            row: dict[str, Any] = {
                "shape": shape,
                "case": case,
                "n": n,
                "ours_call_s": min(ours_call),
                "ours_process_s": min(ours_process),
                "target_ratio": TARGET_RATIO.get(case),
            }
            if anchor is None:
                difference = max_relative_difference(ours_result or {}, r_result or {})
                row |= {
                    "r_call_s": min(r_call),
                    "r_process_s": min(r_process),
                    "call_ratio": min(r_call) / min(ours_call),
                    "process_ratio": min(r_process) / min(ours_process),
                    "max_relative_difference": difference,
                    "agree": difference <= SANITY_RTOL[case],
                    "r_result": r_result,
                }
            row["ours_result"] = ours_result
            out.append(row)
    return out


def print_table(rows: list[dict[str, Any]], anchor: str | None, repeats: int) -> None:
    n = rows[0]["n"] if rows else 0
    print(f"Survival kernels on {n:,} subjects, one core, best of {repeats} fresh processes")
    if anchor is not None:
        print(f"R anchor unavailable: {anchor}")
    header = f"{'times':<11}{'case':<40}{'ours call':>10}{'R call':>9}{'ratio':>8}"
    print(header + f"{'ours proc':>11}{'R proc':>9}{'ratio':>8}  target")
    for row in rows:
        title = CASE_TITLES[row["case"]]
        target = row["target_ratio"]
        if anchor is None:
            met = "" if target is None else ("met" if row["call_ratio"] >= target else "MISSED")
            ratio_text = (
                f"{row['r_call_s']:>9.3f}{row['call_ratio']:>7.1f}x{row['ours_process_s']:>11.2f}"
                f"{row['r_process_s']:>9.2f}{row['process_ratio']:>7.1f}x"
            )
            target_text = "" if target is None else f"  ≥{target:.0f}x {met}"
        else:
            ratio_text = f"{'':>9}{'n/a':>8}{row['ours_process_s']:>11.2f}{'':>9}{'n/a':>8}"
            target_text = "" if target is None else "  anchor unavailable"
        print(f"{row['shape']:<11}{title:<40}{row['ours_call_s']:>10.3f}{ratio_text}{target_text}")
    if anchor is None:
        for row in rows:
            verdict = "agree" if row["agree"] else "DIFFER"
            print(
                f"sanity {row['shape']} {row['case']}: R and ours {verdict} "
                f"(max relative difference {row['max_relative_difference']:.1e}, "
                f"tolerance {SANITY_RTOL[row['case']]:.0e})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1_000_000, help="subjects (default 10⁶)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per figure")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--times",
        choices=("continuous", "days", "both"),
        default="both",
        help="continuous times (few ties), whole days (heavy ties) or both",
    )
    parser.add_argument("--case", action="append", choices=list(R_CALLS), help="default: all")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--worker", nargs=4, metavar=("FILE", "N", "CASE", "AT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.worker:
        path, n, case, at = args.worker
        print(json.dumps(python_worker(path, int(n), case, [float(a) for a in at.split(",")])))
        return
    anchor = r_available()
    shapes = ["continuous", "days"] if args.times == "both" else [args.times]
    cases = args.case or list(R_CALLS)
    rows = [
        row
        for shape in shapes
        for row in bench_shape(shape, args.n, args.seed, args.repeats, cases, anchor)
    ]
    if args.format == "json":
        print(json.dumps({"anchor_unavailable": anchor, "rows": rows}, indent=2))
    else:
        print_table(rows, anchor, args.repeats)
    if anchor is None and not all(row["agree"] for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
