"""How long reading phase I from the store takes: ``python benchmarks/phase1_snapshot.py
[--cohorts 20] [--aes 10]``.

Builds a fresh SQLite trial (and a PostgreSQL one when ``ONCOTRIAL_TEST_PG`` names a server)
with ``--cohorts`` cohorts of 3 patients — each dosed (EX) and with ``--aes`` adverse events,
one patient in six with a DLT, the last cohort still inside its DLT window — through the
store's API (edit checks and audit trail included). Then times, median of 5 runs:

- ``phase1_snapshot`` (one read snapshot, per-patient DLT-window rows, the design's state and
  the SHA-256 of the canonical content) plus the design's ``decide``;
- ``oncotrial decide --db`` end to end (in-process: open the store, snapshot, decide, JSON).

The anchor is ``oncotrial decide --patients`` on the snapshot's own CSV export (the design on
the same patients without the store): the ratio is what reading the store costs on top. Target:
the board's read under 1 s for a full-size phase I (60 patients), within 20× the anchor.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, make_url, text
from typer.testing import CliRunner

from oncotrial.cli.main import app
from oncotrial.conduct.phase1 import phase1_snapshot
from oncotrial.protocol import load_protocol
from oncotrial.store import init_db

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"
START = date(2025, 1, 6)
TARGET_S = 1.0
TARGET_RATIO = 20.0
LEVELS = ("L1", "L2", "L3")
DONAFENIB = {"L1": "100", "L2": "200", "L3": "300"}


def median_time(run: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def build(url: str, cohorts: int, aes: int) -> date:
    """The trial; returns the as-of date (the last cohort's patients pending)."""
    store = init_db(url)
    ex, ae = [], []
    with store.transaction("benchmark"):
        for number in range(1, cohorts + 1):
            level = LEVELS[min((number - 1) // 3, len(LEVELS) - 1)]
            store.add_cohort(number, level, "benchmark", slots=3)
            for k in range(1, 4):
                usubjid = f"B-{number:03d}{k}"
                first = START + timedelta(days=35 * (number - 1) + k)
                store.add_subject(
                    usubjid,
                    "01",
                    "benchmark",
                    consent_date=(START - timedelta(days=7)).isoformat(),
                    first_dose_date=first.isoformat(),
                    status="on_treatment",
                )
                store.assign_slot(number, usubjid, "benchmark")
                ex.append(
                    {
                        "STUDYID": "BENCH",
                        "DOMAIN": "EX",
                        "USUBJID": usubjid,
                        "EXSEQ": "1",
                        "EXTRT": "DONAFENIB",
                        "EXDOSE": DONAFENIB[level],
                        "EXDOSU": "mg",
                        "EXDOSFRQ": "BID",
                        "EXSTDTC": first.isoformat(),
                        "EXENDTC": first.isoformat(),
                    }
                )
                for seq in range(1, aes + 1):
                    dlt = seq == 1 and (number * 3 + k) % 6 == 0
                    onset = first + timedelta(days=seq * 2)
                    ae.append(
                        {
                            "STUDYID": "BENCH",
                            "DOMAIN": "AE",
                            "USUBJID": usubjid,
                            "AESEQ": str(seq),
                            "AETERM": "Platelet count decreased" if dlt else "Fatigue",
                            "AEDECOD": "Platelet count decreased" if dlt else "Fatigue",
                            "AETOXGR": "4" if dlt else "1",
                            "AESTDTC": onset.isoformat(),
                            "AEENDTC": (onset + timedelta(days=10)).isoformat(),
                            "AEREL": "RELATED",
                            "AEDLT": "Y" if dlt else "N",
                        }
                    )
        store.add_records("EX", pd.DataFrame(ex), "benchmark")
        store.add_records("AE", pd.DataFrame(ae), "benchmark")
    store.close()
    return START + timedelta(days=35 * (cohorts - 1) + 10)


def bench(url: str, cohorts: int, aes: int, work: Path) -> dict[str, Any]:
    as_of = build(url, cohorts, aes)
    protocol = load_protocol(PROTOCOL)
    store = init_db(url)
    try:
        snap = phase1_snapshot(store, protocol, as_of)
        snapshot_s = median_time(lambda: phase1_snapshot(store, protocol, as_of).decide())
    finally:
        store.close()
    export = work / f"patients-{uuid.uuid4().hex[:6]}.csv"
    export.write_text(snap.patients_csv(), encoding="utf-8")
    runner = CliRunner()
    common = ["--protocol", str(PROTOCOL), "--format", "json"]

    def cli(*args: str) -> dict[str, Any]:
        with redirect_stdout(io.StringIO()):
            result = runner.invoke(app, ["decide", *args, *common])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    db_args = ("--db", url, "--as-of", as_of.isoformat())
    stored, by_file = cli(*db_args), cli("--patients", str(export))
    stored.pop("snapshot")
    assert stored == by_file, "decide --db and decide --patients disagree"
    db_s = median_time(lambda: cli(*db_args))
    file_s = median_time(lambda: cli("--patients", str(export)))
    counts = snap.counts()
    return {
        "patients": len(snap.rows),
        "adverse_events": len(snap.rows) * aes,
        "pending": sum(counts["pending"]),
        "dlts": sum(counts["dlts"]),
        "snapshot_and_decide_s": round(snapshot_s, 4),
        "decide_db_s": round(db_s, 4),
        "anchor_decide_patients_s": round(file_s, 4),
        "ratio_to_anchor": round(db_s / file_s, 2),
        "target_s": TARGET_S,
        "within_target": snapshot_s < TARGET_S and db_s / file_s < TARGET_RATIO,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohorts", type=int, default=20, help="cohorts of 3 patients")
    parser.add_argument("--aes", type=int, default=10, help="adverse events per patient")
    parser.add_argument("--postgresql", default=os.environ.get("ONCOTRIAL_TEST_PG"))
    args = parser.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out["sqlite"] = bench(f"sqlite:///{work / 'trial.db'}", args.cohorts, args.aes, work)
        if args.postgresql:
            schema = f"oncotrial_bench_{uuid.uuid4().hex[:12]}"
            admin = create_engine(args.postgresql, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                url = make_url(args.postgresql).update_query_dict(
                    {"options": f"-csearch_path={schema}"}
                )
                out["postgresql"] = bench(
                    url.render_as_string(hide_password=False), args.cohorts, args.aes, work
                )
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
