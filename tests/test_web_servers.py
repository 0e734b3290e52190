"""Several server processes serve one study: two ``oncotrial serve`` processes on two ports of
the loopback, one PostgreSQL database; a session opened on one is used on the other, forms
saved through both at once all arrive, and the audit chain stays intact."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from conduct_fixtures import AE_VALUES, PASSWORD, PROTOCOL, actor, enrolled_subject, make_study
from oncotrial.store import Store
from store_fixtures import PG_ENV, PG_SKIP_REASON, fresh_database

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    program = Path(sys.executable).parent / "oncotrial"
    command = [str(program), "serve", "--db", url, "--port", str(port), "--protocol", str(PROTOCOL)]
    return subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )


def wait_until_up(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise TimeoutError(f"server on port {port} did not start")


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    if not os.environ.get(PG_ENV):
        pytest.skip(PG_SKIP_REASON)
    with fresh_database("postgresql", tmp_path_factory.mktemp("servers")) as url:
        make_study(url).close()
        ports = [free_port(), free_port()]
        processes = [start_server(url, port) for port in ports]
        try:
            for port, process in zip(ports, processes, strict=True):
                wait_until_up(port, process)
            yield url, ports
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_two_processes_share_sessions_and_data(two_servers: tuple[str, list[int]]) -> None:
    url, (a, b) = two_servers
    first = httpx.post(
        f"http://127.0.0.1:{a}/api/session", json={"username": "crc01", "password": PASSWORD}
    )
    assert first.status_code == 200
    headers = {"Authorization": f"Bearer {first.json()['token']}"}
    assert httpx.get(f"http://127.0.0.1:{b}/api/me", headers=headers).json()["username"] == (
        "crc01"
    )
    from oncotrial.conduct import Study

    study = Study.open(url, PROTOCOL, migrate=False)
    try:
        subjects = [enrolled_subject(study, actor(study, "crc01")) for _ in range(2)]
    finally:
        study.close()

    def save(i: int) -> int:
        port = (a, b)[i % 2]
        usubjid = subjects[i % 2]
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/subjects/{usubjid}/forms/AE",
            headers=headers,
            json={"values": AE_VALUES | {"term": f"Fatigue {i}", "grade": "1", "dlt": "N"}},
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(save, range(12)))
    assert codes == [201] * 12
    store = Store.open(url)
    try:
        terms = store.records("AE")["AEDECOD"].tolist()
        assert sorted(terms) == sorted(f"Fatigue {i}" for i in range(12))
        assert store.verify_audit().ok
    finally:
        store.close()
    out = httpx.delete(f"http://127.0.0.1:{b}/api/session", headers=headers)
    assert out.status_code == 204
    assert httpx.get(f"http://127.0.0.1:{a}/api/me", headers=headers).status_code == 401
