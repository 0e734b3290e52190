"""How long `audit verify` takes on a trial's data: ``python benchmarks/audit_verify.py``.

Imports the pharmaverse SDTM (the same files as ``benchmarks/store_import.py``: about 73,000
records, 73,500 audit rows) into a fresh SQLite file — and into a fresh PostgreSQL schema when
``ONCOTRIAL_TEST_PG`` (or ``--postgresql URL``) names a server — then times, once each:

- the chain alone (``verify_audit``), the reconciliation alone, and the whole
  ``check_audit`` with one checkpoint (what ``oncotrial audit verify --checkpoint`` runs);
- taking a checkpoint, and exporting the trail as CSV.

The anchor is reading every SDTM domain back once (``Store.records``): the ratio says what a
full verification costs against one plain read of the data. Target: the whole check in
seconds, within 5× the plain read.
"""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from oncotrial.store import init_db
from oncotrial.store.audit_check import check_audit, take_checkpoint
from oncotrial.store.audit_export import export_audit
from oncotrial.store.chain import verify_audit
from oncotrial.store.checkpoint import generate_key
from oncotrial.store.reconcile import reconcile
from store_import import parse_args, pharmaverse_frames, postgresql_schema

TARGET_RATIO = 5.0


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def bench(url: str, frames: dict[str, pd.DataFrame], work: Path) -> dict[str, Any]:
    store = init_db(url)
    try:
        with store.transaction("benchmark", "pharmaverse reference data loaded as-is"):
            for domain, frame in frames.items():
                store.add_records(
                    domain, frame, "benchmark", "pharmaverse as-is", enforce=domain != "RS"
                )
        engine = store.engine
        read_s, _ = timed(lambda: [store.records(domain) for domain in frames])
        chain_s, chain = timed(lambda: verify_audit(engine))
        reconcile_s, tables = timed(lambda: reconcile(engine))
        assert chain.ok and tables.ok, (str(chain), str(tables))
        keys = generate_key(work / f"key-{uuid.uuid4().hex[:6]}.pem")
        checkpoint = work / f"cp-{uuid.uuid4().hex[:6]}.json"
        take_s, _ = timed(lambda: take_checkpoint(engine, keys.private, checkpoint))
        check_s, result = timed(
            lambda: check_audit(engine, checkpoints=[checkpoint], key=keys.public)
        )
        assert result.ok
        export_s, exported = timed(lambda: export_audit(engine, work / "audit.csv"))
        return {
            "backend": engine.dialect.name,
            "records": sum(len(frame) for frame in frames.values()),
            "audit_rows": chain.rows_checked,
            "read_s": read_s,
            "chain_s": chain_s,
            "reconcile_s": reconcile_s,
            "checkpoint_s": take_s,
            "verify_with_checkpoint_s": check_s,
            "export_csv_s": export_s,
            "export_rows": exported.rows,
            "ratio_to_read": check_s / read_s,
        }
    finally:
        store.close()


def main() -> None:
    args = parse_args(__doc__)
    frames = pharmaverse_frames()
    results = []
    with tempfile.TemporaryDirectory() as directory:
        work = Path(directory)
        results.append(bench(f"sqlite:///{work / 'bench.db'}", frames, work))
        if args.postgresql:
            with postgresql_schema(args.postgresql) as url:
                results.append(bench(url, frames, work))
    if args.format == "json":
        print(json.dumps(results, indent=2))
        return
    for r in results:
        verdict = "meets" if r["ratio_to_read"] <= TARGET_RATIO else "MISSES"
        print(f"{r['backend']}: {r['records']} records, {r['audit_rows']} audit rows")
        print(f"  anchor: read every domain back    {r['read_s']:6.2f} s")
        print(f"  hash chain                        {r['chain_s']:6.2f} s")
        print(f"  reconciliation (replay vs tables) {r['reconcile_s']:6.2f} s")
        print(f"  take a checkpoint (check + sign)  {r['checkpoint_s']:6.2f} s")
        print(
            f"  audit verify --checkpoint         {r['verify_with_checkpoint_s']:6.2f} s  "
            f"= {r['ratio_to_read']:.1f}x the read ({verdict} the {TARGET_RATIO:.0f}x target)"
        )
        print(f"  audit export (CSV)                {r['export_csv_s']:6.2f} s")


if __name__ == "__main__":
    main()
