"""Speed of the toxicity-and-efficacy designs on one core (``make bench`` runs this file).

* BF-BOIN against the authors' R implementation, ``bfboin::get.oc.bf``, timed in the same run
  (inside R, without R's start-up) on the same scenario; target ≥ 1000× (issue 10 §4).
* BOIN12 in trials per second; target ≥ 100,000.
* TITE-BOIN12 in trials per second (no target).

Our figures include drawing the latent patients; "sim only" leaves the draw out. Times are CPU
seconds of the process (R: user + system time of ``get.oc.bf``), so that other work on a shared
machine does not tilt the ratio.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from oncotrial.designs.bfboin import BFBOIN  # noqa: E402
from oncotrial.designs.boin12 import BOIN12  # noqa: E402
from oncotrial.designs.efficacy import Arrivals, EfficacyLatents  # noqa: E402
from oncotrial.designs.tite_boin12 import TITEBOIN12  # noqa: E402

P_TOX = [0.05, 0.10, 0.25, 0.40, 0.50]
P_RESP = [0.20, 0.30, 0.40, 0.50, 0.50]
R_SCRIPT = """
suppressMessages(library(bfboin))
t <- system.time(get.oc.bf(ntrial = {trials}, seed = 1, target = 0.25,
  p.true = c({p_tox}), ncohort = 10, cohortsize = 3, n.earlystop = 9, n.cap = 11,
  n.per.month = 3, dlt.window = 1, p.response.true = c({p_resp}), accrual = "uniform"))
cat(t[["user.self"]] + t[["sys.self"]], "\\n")
"""


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Shortest CPU time of ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def draw(trials: int, width: int) -> EfficacyLatents:
    latent = EfficacyLatents.draw(trials, width, seed=7)
    _ = latent.eff, latent.gap
    return latent


def ours(simulate: Callable[[EfficacyLatents], object], trials: int, width: int) -> dict:
    simulate(draw(100, width))  # warm caches
    latent = draw(trials, width)
    sim_s = best_of(3, lambda: simulate(latent))
    draw_s = best_of(3, lambda: draw(trials, width))
    return {
        "trials": trials,
        "trials_per_s": trials / (sim_s + draw_s),
        "trials_per_s_sim_only": trials / sim_s,
    }


def bfboin_anchor(trials: int) -> dict | None:
    """``get.oc.bf`` trials per second, or ``None`` when R or bfboin is not installed."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    script = R_SCRIPT.format(
        trials=trials,
        p_tox=", ".join(map(str, P_TOX)),
        p_resp=", ".join(map(str, P_RESP)),
    )
    try:
        done = subprocess.run(
            [rscript, "-e", script], capture_output=True, text=True, timeout=600, check=True
        )
        elapsed = float(done.stdout.split()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError):
        return None
    return {"trials": trials, "trials_per_s": trials / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200_000, help="trials per timing")
    parser.add_argument("--r-trials", type=int, default=300, help="trials for get.oc.bf")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    p_tox, p_resp = np.array(P_TOX), np.array(P_RESP)
    bf = BFBOIN(5, 0.25, n_earlystop=9, backfill_cap=12, window_days=30, arrivals=Arrivals(3))
    boin12 = BOIN12(5, 0.25, 0.3, n_cohorts=10)
    tite = TITEBOIN12(5, 0.25, 0.3, n_cohorts=10, arrivals=Arrivals(3, "poisson"))
    anchor = bfboin_anchor(args.r_trials)
    rows = [
        {
            "design": "bf-boin",
            **ours(lambda lat: bf.simulate(p_tox, p_resp, lat), args.trials, bf.latent_width()),
            "anchor": "bfboin::get.oc.bf",
            "anchor_trials_per_s": None if anchor is None else anchor["trials_per_s"],
            "target_ratio": 1000,
        },
        {
            "design": "boin12",
            **ours(lambda lat: boin12.simulate(p_tox, p_resp, lat), args.trials, 30),
            "target_trials_per_s": 100_000,
        },
        {
            "design": "tite-boin12",
            **ours(lambda lat: tite.simulate(p_tox, p_resp, lat), args.trials // 10, 30),
        },
    ]
    for row in rows:
        if row.get("anchor_trials_per_s"):
            row["ratio"] = row["trials_per_s"] / row["anchor_trials_per_s"]
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return
    print(f"{'design':<12}{'trials/s':>12}{'sim only':>12}{'anchor/s':>10}{'ratio':>8}  target")
    for r in rows:
        anchor_s = r.get("anchor_trials_per_s")
        anchor_txt = "n/a" if "anchor" not in r else (f"{anchor_s:,.0f}" if anchor_s else "-")
        ratio = f"{r['ratio']:,.0f}×" if "ratio" in r else ("-" if "anchor" not in r else "n/a")
        if "target_ratio" in r:
            target = f"≥ {r['target_ratio']:,}× {r['anchor']}"
            if anchor_s is None:
                target += " (anchor unavailable: R or bfboin not installed)"
        elif "target_trials_per_s" in r:
            target = f"≥ {r['target_trials_per_s']:,} trials/s"
        else:
            target = "none"
        print(
            f"{r['design']:<12}{r['trials_per_s']:>12,.0f}{r['trials_per_s_sim_only']:>12,.0f}"
            f"{anchor_txt:>10}{ratio:>8}  {target}"
        )


if __name__ == "__main__":
    main()
