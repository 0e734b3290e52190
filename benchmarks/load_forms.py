"""Form saves under load: ``python benchmarks/load_forms.py [--seconds 30] [--think 5]``.

Starts ``oncotrial serve`` on a free loopback port (only 127.0.0.1 is ever contacted), on a
fresh SQLite file and — when ``ONCOTRIAL_TEST_PG`` (or ``--postgresql URL``) names a server — on a
fresh PostgreSQL schema (dropped afterwards). 50 simulated site users (coordinators at 5
sites), each signed in with its own session, save adverse-event forms through the JSON API for
a fixed time, each waiting a random time between saves (exponential, mean ``--think`` seconds;
users start at random moments of the first interval, so saves arrive as a Poisson stream;
``--think 0``: every user saves again as soon as the server answers, the saturation test).
Every save goes through the whole path: session, CSRF-free bearer token, permission table,
the store's edit checks, the audit trail, the protocol's DLT judgement and the form entry.

Printed: throughput (saves/s), p50/p95/p99 latency of a save, refused or failed requests, records
lost or duplicated (every save carries a unique term: the stored AE records must be exactly the
acknowledged saves), and the audit chain's verification afterwards. Target (issue 8): p95 below
150 ms per form save on this 2-core machine; the ratio to it is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, make_url, text

from oncotrial.conduct import Study, accounts, entry, passwords
from oncotrial.store import Store

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
PASSWORD = "benchmark password 2026"
TARGET_P95_MS = 150.0
SITES = 5
USERS = 50


@contextmanager
def postgres_schema(base: str) -> Iterator[str]:
    schema = f"oncotrial_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def prepare(url: str, users: int) -> list[tuple[str, str]]:
    """Sites, coordinators and one enrolled, dosed subject per coordinator: (user, subject)."""
    passwords.set_cost(time_cost=1, memory_kib=8192, parallelism=1)  # set-up speed only
    study = Study.open(url, PROTOCOL)
    admin = study.system_actor("benchmark")
    try:
        for s in range(1, SITES + 1):
            accounts.add_site(study, admin, f"{s:02d}", name=f"Site {s}")
        Store(study.engine).add_cohort(1, "L1", "benchmark", slots=users + 10)
        criteria = study.protocol.eligibility
        answers = {}
        if criteria is not None:
            answers = {f"crit_{c.id}": "Y" for c in criteria.inclusion}
            answers |= {f"crit_{c.id}": "N" for c in criteria.exclusion}
        pairs = []
        for u in range(users):
            site = f"{u % SITES + 1:02d}"
            name = f"crc{u:02d}"
            accounts.add_user(
                study, admin, name, "coordinator", PASSWORD, full_name=name, sites=[site]
            )
            who = accounts.authenticate(study, name, PASSWORD)
            screened = entry.screen(
                study, who, {"site": site, "consent_date": "2025-01-06", **answers}
            )
            entry.save_form(study, who, screened.usubjid, "ENROL", {"enrol_date": "2025-01-07"})
            entry.save_form(
                study,
                who,
                screened.usubjid,
                "EX-DONAFENIB",
                {"cycle": "1", "start": "2025-01-13", "dose": "100", "frequency": "BID"},
            )
            pairs.append((name, screened.usubjid))
        return pairs
    finally:
        study.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    program = Path(sys.executable).parent / "oncotrial"
    command = [
        str(program),
        "serve",
        "--db",
        url,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--protocol",
        str(PROTOCOL),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError((process.stderr.read() if process.stderr else b"").decode())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise TimeoutError("the server did not start")


async def simulate(
    base: str, pairs: list[tuple[str, str]], seconds: float, think: float
) -> dict[str, Any]:
    """Every user saves AE forms until the time is up; latencies and what was acknowledged."""
    latencies: list[float] = []
    acknowledged: list[str] = []
    failures: list[str] = []
    limits = httpx.Limits(max_connections=len(pairs) + 5)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        tokens = []
        for name, _ in pairs:
            response = await client.post(
                "/api/session", json={"username": name, "password": PASSWORD}
            )
            response.raise_for_status()
            tokens.append(response.json()["token"])
        stop = time.monotonic() + seconds

        async def user(index: int) -> None:
            name, usubjid = pairs[index]
            headers = {"Authorization": f"Bearer {tokens[index]}"}
            rng = random.Random(index)
            n = 0
            if think:
                await asyncio.sleep(rng.uniform(0, think))  # users do not start in step
            while time.monotonic() < stop:
                term = f"Fatigue {name}-{n}"
                values = {
                    "term": term,
                    "grade": "1",
                    "start": "2025-01-20",
                    "serious": "N",
                    "rel_donafenib": "POSSIBLY RELATED",
                    "rel_toripalimab": "NOT RELATED",
                    "dlt": "N",
                }
                started = time.perf_counter()
                response = await client.post(
                    f"/api/subjects/{usubjid}/forms/AE", headers=headers, json={"values": values}
                )
                elapsed = time.perf_counter() - started
                if response.status_code == 201:
                    latencies.append(elapsed)
                    acknowledged.append(term)
                else:
                    failures.append(f"{response.status_code} {response.text[:200]}")
                n += 1
                if think:
                    pause = min(rng.expovariate(1 / think), stop - time.monotonic())
                    await asyncio.sleep(max(pause, 0.0))

        started = time.monotonic()
        await asyncio.gather(*(user(i) for i in range(len(pairs))))
        wall = time.monotonic() - started
    return {
        "latencies": latencies,
        "acknowledged": acknowledged,
        "failures": failures,
        "wall": wall,
    }


def run(url: str, seconds: float, think: float, workers: int, users: int) -> dict[str, Any]:
    pairs = prepare(url, users)
    port = free_port()
    server = start_server(url, port, workers)
    try:
        result = asyncio.run(simulate(f"http://127.0.0.1:{port}", pairs, seconds, think))
    finally:
        server.terminate()
        server.wait(timeout=30)
    store = Store.open(url)
    try:
        stored = store.records("AE")["AEDECOD"].tolist()
        audit = store.verify_audit()
        backend = store.engine.dialect.name
    finally:
        store.close()
    lat = sorted(result["latencies"])

    def pct(p: float) -> float:
        return 1000 * lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))] if lat else 0

    acknowledged = result["acknowledged"]
    return {
        "backend": backend,
        "users": users,
        "workers": workers,
        "think_s": think,
        "seconds": round(result["wall"], 1),
        "saves": len(acknowledged),
        "throughput_per_s": round(len(acknowledged) / result["wall"], 1),
        "p50_ms": round(pct(50), 1),
        "p95_ms": round(pct(95), 1),
        "p99_ms": round(pct(99), 1),
        "mean_ms": round(1000 * statistics.fmean(lat), 1) if lat else 0,
        "failed": len(result["failures"]),
        "failures_sample": result["failures"][:3],
        "lost": len(set(acknowledged) - set(stored)),
        "duplicated": len(stored) - len(set(stored)),
        "unacknowledged_stored": len(set(stored) - set(acknowledged)),
        "audit": str(audit),
        "audit_ok": bool(audit.ok),
        "p95_ratio_to_target": round(pct(95) / TARGET_P95_MS, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="Duration of the load.")
    parser.add_argument(
        "--think", type=float, default=5.0, help="Mean seconds between a user's saves (0: none)."
    )
    parser.add_argument("--workers", type=int, default=2, help="Server processes.")
    parser.add_argument("--users", type=int, default=USERS, help="Simulated site users.")
    parser.add_argument(
        "--postgresql",
        default=os.environ.get("ONCOTRIAL_TEST_PG"),
        help="PostgreSQL server URL (default: $ONCOTRIAL_TEST_PG).",
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--format", choices=["text", "json"], default="text")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="oncotrial-load-") as folder:
        url = f"sqlite:///{Path(folder) / 'load.db'}"
        results.append(run(url, args.seconds, args.think, args.workers, args.users))
    if args.postgresql and not args.sqlite_only:
        with postgres_schema(args.postgresql) as url:
            results.append(run(url, args.seconds, args.think, args.workers, args.users))
    if args.format == "json":
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(
            f"{r['backend']:10} {r['users']} users, {r['workers']} workers, think {r['think_s']} s,"
            f" {r['seconds']} s: {r['saves']} saves, {r['throughput_per_s']} saves/s;"
            f" latency p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms"
            f" (p95 / target 150 ms = {r['p95_ratio_to_target']});"
            f" failed {r['failed']}, lost {r['lost']}, duplicated {r['duplicated']};"
            f" {r['audit']}"
        )


if __name__ == "__main__":
    main()
