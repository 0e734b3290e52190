"""The virtual trial played day by day: ``python benchmarks/live_trial.py [--seed 2026]
[--months 18]``.

Plays the shipped protocol's virtual trial (``--months`` of follow-up) into a fresh SQLite file
through the conduct use cases — every form saved by a virtual site user, every decision
computed from the store — and prints the forms entered, the transactions, the wall and CPU
seconds and the milliseconds per form. Target (issue 9 §3): ``make demo`` under a minute, of
which the trial may take 45 s; the ratio to it is printed. The anchor is the older bulk door
(the same protocol's trial generated in memory and inserted in one transaction).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from oncotrial.conduct import Study
from oncotrial.protocol import load_protocol
from oncotrial.sim.live_trial import play_virtual_trial
from oncotrial.sim.trial_run import run_virtual_trial
from oncotrial.store import Store, init_db
from oncotrial.store.models import FormEntry

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
TARGET_SECONDS = 45.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--months", type=int, default=18, help="follow-up of each patient")
    args = parser.parse_args()
    protocol = load_protocol(PROTOCOL)
    protocol.schedule.followup_months = args.months
    with tempfile.TemporaryDirectory() as folder:
        bulk = init_db(f"sqlite:///{Path(folder) / 'bulk.db'}")
        t0 = time.perf_counter()
        run_virtual_trial(protocol, args.seed, bulk)
        anchor = time.perf_counter() - t0
        bulk.close()
        study = Study.open(f"sqlite:///{Path(folder) / 'live.db'}", protocol)
        wall, cpu = time.perf_counter(), time.process_time()
        trial = play_virtual_trial(study, args.seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        store = Store(study.engine)
        with store.session("benchmark") as session:
            forms = session.scalar(select(func.count()).select_from(FormEntry)) or 0
            versions = session.scalar(select(func.sum(FormEntry.row_version))) or 0
        audit = store.verify_audit()
        study.close()
    print(f"virtual trial, seed {args.seed}, {args.months} months of follow-up:")
    print(f"  {len(trial.patients)} patients, {forms} forms ({versions} saves), {audit}")
    print(f"  wall {wall:.1f} s, CPU {cpu:.1f} s, {1000 * wall / max(versions, 1):.1f} ms per save")
    print(f"  target {TARGET_SECONDS:.0f} s: ratio {wall / TARGET_SECONDS:.2f}")
    print(
        f"  anchor (bulk insert of the generated trial): {anchor:.1f} s, ratio {wall / anchor:.1f}"
    )


if __name__ == "__main__":
    main()
