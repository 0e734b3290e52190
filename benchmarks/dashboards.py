"""Dashboard response times: ``python benchmarks/dashboards.py [--seed 2026]``.

Runs the demo's virtual trial (the seed of ``make demo``) into a fresh SQLite file, then times,
as a statistician:

- the anchor: ``oncotrial report`` on the same database (derive + every table and figure,
  no PDF) — what a dashboard would cost if it rebuilt the report on every view;
- a cold dashboard: the enrolment and results pages' data and all eight figures, nothing kept;
- a page view at the same audit head (the snapshot is kept);
- a page view after a login (the audit head moved, the content did not: a re-read, no
  re-derivation);
- a page view after a clinical write (new content: a re-derivation).

Printed: each time in seconds, the cold dashboard's ratio to the report, and the kept page
view's ratio to the target (0.2 s: a page that answers at once).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from oncotrial.cli.trial import make_report
from oncotrial.conduct import Study, accounts, dashboards
from oncotrial.conduct import snapshots as snapshot_cache
from oncotrial.protocol import load_protocol
from oncotrial.sim.trial_run import run_virtual_trial
from oncotrial.store import init_db

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
TARGET_KEPT_S = 0.2


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    protocol = load_protocol(PROTOCOL)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "trial.db"
        store = init_db(f"sqlite:///{db}")
        trial = run_virtual_trial(protocol, args.seed, store)
        store.close()
        print(f"virtual trial seed {args.seed}: {len(trial.patients)} patients")
        report_s = timed(lambda: make_report(str(db), protocol, Path(tmp) / "out", pdf=False))
        study = Study.open(f"sqlite:///{db}", PROTOCOL)
        admin = study.system_actor("benchmark")
        accounts.add_user(
            study,
            admin,
            "stat",
            "statistician",
            "benchmark password 2026",
            full_name="Statistician",
        )
        stat = accounts.authenticate(study, "stat", "benchmark password 2026")

        def everything() -> None:
            dashboards.enrolment(study, stat)
            dashboards.results(study, stat)
            for name in dashboards.FIGURES:
                dashboards.figure(study, stat, name)

        def page() -> None:
            dashboards.enrolment(study, stat)
            dashboards.results(study, stat)

        def clear() -> None:
            snapshot_cache._SNAPSHOTS.items.clear()
            snapshot_cache._DERIVATIONS.items.clear()

        clear()
        cold_s = timed(everything)
        kept_s = timed(page, repeat=5)
        accounts.authenticate(study, "stat", "benchmark password 2026")  # moves the audit head
        login_s = timed(page)
        accounts.add_site(study, admin, "99", name="New site")  # new content
        write_s = timed(page)
        study.close()
    print(f"oncotrial report (anchor):            {report_s:6.2f} s")
    print(
        f"cold dashboard (2 pages, 8 figures):  {cold_s:6.2f} s  "
        f"ratio to the report {cold_s / report_s:.2f}"
    )
    print(
        f"page view, same audit head:           {kept_s:6.3f} s  "
        f"ratio to the {TARGET_KEPT_S} s target {kept_s / TARGET_KEPT_S:.2f}"
    )
    print(f"page view after a login:              {login_s:6.3f} s")
    print(f"page view after a clinical write:     {write_s:6.2f} s")


if __name__ == "__main__":
    main()
