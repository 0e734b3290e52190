"""Bulk import into the trial store with its audit trail: ``python benchmarks/store_import.py``.

Imports the pharmaverse SDTM (``../shared/reference/pharmaverse/sdtm``: DM, EX, AE, DS, IS, TU,
RS, TR — 55,995 TR rows) into a fresh SQLite file and, when ``ONCOTRIAL_TEST_PG`` (or
``--postgresql URL``) names a server, into a fresh PostgreSQL schema (dropped afterwards), then
times ``records()`` and ``verify_audit``. Target: the TR domain in seconds on both backends.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, make_url, text

from oncotrial.store import init_db, verify_audit

SDTM = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pharmaverse" / "sdtm"
FILES = [
    ("DM", "dm"),
    ("EX", "ex"),
    ("AE", "ae"),
    ("DS", "ds"),
    ("IS", "is_ada"),
    ("TU", "tu_onco"),
    ("RS", "rs_onco"),
    ("TR", "tr_onco"),
]

#: The edit-check rules the reference data break, overridden with a reason.
BROKEN_RULES = {"RS": ("controlled_term",), "TR": ("duplicate_result", "date_partial")}


def run(url: str, frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Import every frame into the store at ``url``; timings in seconds."""
    store = init_db(url)
    out: dict[str, Any] = {"backend": store.engine.dialect.name, "domains": {}}
    try:
        for domain, frame in frames.items():
            started = time.perf_counter()
            # rs_onco holds three non-RECIST 'CHECK' responses, tr_onco partial scan dates and
            # one reused VISITNUM: loaded as-is with a reason (tests/test_store_import.py)
            store.add_records(
                domain,
                frame,
                "benchmark",
                "pharmaverse reference data loaded as-is",
                overrides=BROKEN_RULES.get(domain, ()),
            )
            imported = time.perf_counter() - started
            started = time.perf_counter()
            back = store.records(domain)
            read = time.perf_counter() - started
            assert back.reset_index(drop=True).equals(frame.astype(object)), domain
            out["domains"][domain] = {"rows": len(frame), "import_s": imported, "read_s": read}
        started = time.perf_counter()
        report = verify_audit(store.engine)
        out["verify_s"] = time.perf_counter() - started
        out["audit_rows"] = report.rows_checked
        assert report.ok, str(report)
    finally:
        store.close()
    return out


@contextmanager
def postgresql_schema(base: str) -> Iterator[str]:
    """The URL of a new schema on the server ``base`` names; dropped on exit."""
    schema = f"oncotrial_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def parse_args(description: str | None) -> argparse.Namespace:
    """``--postgresql URL`` (default ``$ONCOTRIAL_TEST_PG``) and ``--format text|json``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("ONCOTRIAL_TEST_PG"),
        help="PostgreSQL URL (default: $ONCOTRIAL_TEST_PG)",
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    return parser.parse_args()


def pharmaverse_frames() -> dict[str, pd.DataFrame]:
    """The pharmaverse SDTM domains of :data:`FILES`, every cell as text."""
    return {
        domain: pd.read_csv(SDTM / f"{name}.csv.gz", dtype=str, keep_default_na=False)
        for domain, name in FILES
    }


def main() -> None:
    args = parse_args(__doc__)
    frames = pharmaverse_frames()
    results = []
    with tempfile.TemporaryDirectory() as directory:
        results.append(run(f"sqlite:///{Path(directory) / 'bench.db'}", frames))
    if args.postgresql:
        with postgresql_schema(args.postgresql) as url:
            results.append(run(url, frames))
    if args.format == "json":
        print(json.dumps(results, indent=2))
        return
    for result in results:
        print(f"{result['backend']}:")
        for domain, timing in result["domains"].items():
            rate = timing["rows"] / timing["import_s"]
            print(
                f"  {domain} {timing['rows']:>6} rows  import {timing['import_s']:6.2f} s "
                f"({rate:>7,.0f} rows/s)  read back {timing['read_s']:5.2f} s"
            )
        print(f"  verify_audit {result['audit_rows']} audit rows {result['verify_s']:.2f} s")


if __name__ == "__main__":
    main()
