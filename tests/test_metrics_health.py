"""`/healthz`, `/readyz` and `/metrics` (issue 17) on real servers.

One SQLite server for the module (the demo site): alive, ready, not ready while a migration is
pending, metrics after real scans over the device WebSocket read back with prometheus-client's own
parser, the access rule, and the Grafana dashboard's queries checked against what /metrics serves.
One more server on PostgreSQL with a Redis of its own (started here, so it can be stopped): not
ready while the database refuses connections, ready again after, not ready once Redis is gone.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.conftest import require
from tests.harness import (
    IN_CI,
    POSTGRES_URL,
    Demo,
    Gate,
    GraphQLClient,
    GuardFeed,
    Phone,
    ServerProcess,
    Site,
    SiteTemplate,
    create_postgres_database,
    drop_postgres_database,
    eventually,
    free_port,
    http_client,
    reachable,
)

PROJECT = Path(__file__).resolve().parent.parent
DASHBOARD = PROJECT / "deploy" / "grafana" / "gatehouse.json"
T = TypeVar("T")
TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_template: SiteTemplate) -> Iterator[Site]:
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("metrics"))
    site.start_server(GATEHOUSE_METRICS_TOKEN=TOKEN)
    try:
        yield site
    finally:
        site.let_go()


@pytest.fixture(scope="module")
def server(site: Site) -> ServerProcess:
    return site.servers[0]


async def get(server: ServerProcess, path: str, **headers: str) -> tuple[int, Any, dict[str, str]]:
    async with http_client() as http:
        response = await http.get(server.http + path, headers=headers)
    body: Any = (
        response.json() if response.headers.get("content-type", "").startswith("application/json") else response.text
    )
    return response.status_code, body, dict(response.headers)


def samples(text: str) -> dict[str, list[Sample]]:
    """Family name -> its samples, as prometheus-client's parser reads the exposition."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict[str, list[Sample]], family: str, sample: str, **labels: str) -> float:
    found = [
        s.value for s in families[family] if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (sample, labels, families[family])
    return found[0]


async def scrape(server: ServerProcess) -> dict[str, list[Sample]]:
    status, text, headers = await get(server, "/metrics")
    assert status == 200, text
    assert headers["content-type"].startswith("text/plain"), headers
    return samples(text)


# --------------------------------------------------------------------------- alive and ready


async def test_healthz_says_alive(server: ServerProcess) -> None:
    status, body, _ = await get(server, "/healthz")
    assert status == 200
    assert body["status"] == "ok"


async def test_readyz_is_ready_with_each_check_and_its_latency(server: ServerProcess) -> None:
    status, body, headers = await get(server, "/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations"}  # no Redis on this site
    for check in body["checks"].values():
        assert check["ok"] is True
        assert 0 <= check["latencyMs"] < 2000
    assert headers["cache-control"] == "no-store"
    # The only worker of a SQLite file leads the site-wide loops by its file lock.
    assert body["leadership"]["isLeader"] is True and body["leadership"]["lock"] == "file", body


async def test_readyz_is_unavailable_while_a_migration_is_pending(site: Site, server: ServerProcess) -> None:
    database = site.database_url.removeprefix("sqlite://")
    latest = max(p.name.split(".", 1)[0] for p in (PROJECT / "resolvers/core/migrations").glob("*.sqlite.sql"))
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM gatehouse_migration WHERE name = ?", (latest,))
    try:
        status, body, _ = await get(server, "/readyz")
        assert status == 503, body
        assert body["failing"] == ["migrations"]
        assert latest in body["checks"]["migrations"]["error"]
        assert body["checks"]["database"]["ok"] is True
    finally:
        with sqlite3.connect(database) as db:
            db.execute("INSERT INTO gatehouse_migration (name) VALUES (?)", (latest,))
    status, body, _ = await get(server, "/readyz")
    assert status == 200, body


# --------------------------------------------------------------------------- metrics


async def test_metrics_count_real_scans_by_reason(server: ServerProcess, site: Site) -> None:
    demo = site.demo
    assert isinstance(demo, Demo)
    before = await scrape(server)
    assert value(before, "gatehouse_devices_connected", "gatehouse_devices_connected") == 0
    alice = await GraphQLClient(server, demo=demo).login("alice", demo.passwords["alice"])
    phone = Phone()
    await phone.bind(alice)
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        lobby_in = demo.gates["Lobby turnstile in"]
        token = phone.token()
        granted = await gate.scan(lobby_in, token)
        assert (granted["granted"], granted["reason"]) == (True, "ok"), granted
        again = await gate.scan(lobby_in, token)  # the same token shown twice: a copy
        assert (again["granted"], again["reason"]) == (False, "replayed"), again

        after = await scrape(server)
        scans = {
            (s.labels["result"], s.labels["reason"], s.labels["method"]): s.value
            for s in after["gatehouse_scans"]
            if s.name == "gatehouse_scans_total"
        }
        assert scans == {("granted", "ok", "QR"): 1, ("denied", "replayed", "QR"): 1}
        assert value(after, "gatehouse_decision_seconds", "gatehouse_decision_seconds_count") == 2
        assert value(after, "gatehouse_decision_seconds", "gatehouse_decision_seconds_bucket", le="+Inf") == 2
        assert 0 < value(after, "gatehouse_decision_seconds", "gatehouse_decision_seconds_sum") < 10
        assert value(after, "gatehouse_devices_connected", "gatehouse_devices_connected") == 1
        # Both decisions were stored: group commits carried them (one or two commits).
        rows = value(after, "gatehouse_group_commit_rows", "gatehouse_group_commit_rows_sum")
        commits = value(after, "gatehouse_group_commit_rows", "gatehouse_group_commit_rows_count")
        assert rows - value(before, "gatehouse_group_commit_rows", "gatehouse_group_commit_rows_sum") == 2
        assert commits == value(after, "gatehouse_db_commit_seconds", "gatehouse_db_commit_seconds_count") >= 1
        for queue in ("event_log", "bus_publish", "drawing"):
            assert value(after, "gatehouse_queue_depth", "gatehouse_queue_depth", queue=queue) == 0
        assert value(after, "gatehouse_worker_resident_memory_bytes", "gatehouse_worker_resident_memory_bytes") > 0
        assert "process_cpu_seconds" in after  # the client's own process metrics (one worker)
    finally:
        await gate.close()
    await eventually(lambda: _devices_connected(server, 0), 10, "devices_connected back to 0 after the gate left")
    # Those commits are in the SQLite WAL the server's own thread checkpoints (not the commits).
    await eventually(lambda: _wal_pages_seen(server), 10, "a checkpoint of the WAL shown in gatehouse_sqlite_wal_pages")


async def _wal_pages_seen(server: ServerProcess) -> bool:
    return value(await scrape(server), "gatehouse_sqlite_wal_pages", "gatehouse_sqlite_wal_pages") > 0


async def _devices_connected(server: ServerProcess, expected: float) -> bool:
    return value(await scrape(server), "gatehouse_devices_connected", "gatehouse_devices_connected") == expected


async def test_metrics_count_guard_subscriptions_by_field(server: ServerProcess, site: Site) -> None:
    assert site.demo is not None

    async def subscribers(expected: float) -> bool:
        families = await scrape(server)
        found = [s.value for s in families["gatehouse_graphql_subscribers"] if s.labels.get("field") == "gateEvents"]
        return found == [expected]

    async with GuardFeed(server, site.demo.tokens["guard"]):
        await eventually(lambda: subscribers(1), 10, "one gateEvents subscriber")
    await eventually(lambda: subscribers(0), 10, "no gateEvents subscriber once it ended")


async def test_metrics_are_refused_without_access(server: ServerProcess) -> None:
    # Loopback reads them; a request that came through a proxy (that is not a trusted one) is
    # judged as coming from outside: a token or nothing.
    status, body, headers = await get(server, "/metrics", **{"X-Forwarded-For": "203.0.113.9"})
    assert status == 401, body
    assert headers["www-authenticate"].startswith("Bearer")
    assert "gatehouse_" not in json.dumps(body)
    status, body, _ = await get(
        server, "/metrics", **{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer wrong-token-0123456789"}
    )
    assert status == 403, body
    status, text, _ = await get(
        server, "/metrics", **{"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 200
    assert "gatehouse_scans" in samples(text)


METRIC_NAME = re.compile(r"\b((?:gatehouse|process)_[a-z_]+)\b")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "summary": ("_count", "_sum", ""),
}


async def test_the_grafana_dashboard_queries_only_metrics_the_server_serves(server: ServerProcess) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    status, text, _ = await get(server, "/metrics")
    assert status == 200
    # Every sample name a query may use: the family's name with its type's suffixes.
    served = {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES.get(family.type, ("",))
    }
    queried: dict[str, set[str]] = {}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in METRIC_NAME.findall(target["expr"]):
                queried.setdefault(name, set()).add(panel["title"])
    missing = {name: sorted(panels) for name, panels in queried.items() if name not in served}
    assert not missing, f"the dashboard queries metrics /metrics does not serve: {missing}"
    # What the issue asks the dashboard to show.
    for needed in (
        "gatehouse_scans_total",
        "gatehouse_decision_seconds_bucket",
        "gatehouse_devices_connected",
        "gatehouse_graphql_subscribers",
        "gatehouse_queue_depth",
        "gatehouse_group_commit_rows_bucket",
        "gatehouse_db_commit_seconds_bucket",
        "gatehouse_redis_seconds_bucket",
    ):
        assert needed in queried, needed


# --------------------------------------------------------------------------- PostgreSQL and Redis failing


@dataclass
class OwnRedis:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """A coroutine run to its end from a module fixture (outside the tests' event loops)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedis]:
    """A Redis of the test's own, so that it can be stopped under a running server."""
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is not installed: under CI=true the Redis tests must run")
        pytest.skip("redis-server is not installed (these tests run under CI=true, where it must be)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path_factory.mktemp("redis"),
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not reachable("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.01)  # polling the condition: is it listening?
    try:
        yield OwnRedis(proc, port)
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def scale_server(
    tmp_path_factory: pytest.TempPathFactory, redis_server: OwnRedis
) -> Iterator[tuple[ServerProcess, str]]:
    """A server on an empty PostgreSQL database (it migrates it at start) and the Redis above."""
    require("PostgreSQL", POSTGRES_URL, 5432)
    url = _run(create_postgres_database())
    site = Site(tmp_path_factory.mktemp("scale"), url, redis_server.url)
    try:
        yield site.start_server(), url
    finally:
        site.let_go()  # its Redis is gone: it takes a moment to stop, reaped at the session's end
        _run(_allow_connections(url, True))
        _run(drop_postgres_database(url))


async def _allow_connections(url: str, allowed: bool) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}')
        if not allowed:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
    finally:
        await admin.close()


async def test_readyz_is_unavailable_while_the_database_refuses_then_ready_again(
    scale_server: tuple[ServerProcess, str],
) -> None:
    server, url = scale_server
    status, body, _ = await get(server, "/readyz")
    assert status == 200, body
    assert set(body["checks"]) == {"database", "migrations", "redis"}
    await _allow_connections(url, False)
    try:
        started = time.monotonic()
        status, body, _ = await get(server, "/readyz")
        assert time.monotonic() - started < 5  # bounded, whatever the database does
        assert status == 503, body
        assert "database" in body["failing"] and "redis" not in body["failing"], body
        assert body["checks"]["database"]["ok"] is False
        assert "error" in body["checks"]["database"]
        assert url.rsplit("/", 1)[1] not in json.dumps(body)  # no database name to whoever asks
    finally:
        await _allow_connections(url, True)

    async def ready() -> bool:
        return (await get(server, "/readyz"))[0] == 200

    await eventually(ready, 10, "ready again once the database takes connections")


async def test_readyz_is_unavailable_once_redis_is_gone(
    scale_server: tuple[ServerProcess, str], redis_server: OwnRedis
) -> None:
    server, _ = scale_server
    redis_server.proc.kill()
    redis_server.proc.wait()
    started = time.monotonic()
    status, body, _ = await get(server, "/readyz")
    assert time.monotonic() - started < 5
    assert status == 503, body
    assert body["failing"] == ["redis"], body
    assert body["checks"]["redis"]["error"].startswith("unreachable"), body
    # Alive all the same: a supervisor must not restart a worker for its Redis.
    status, _, _ = await get(server, "/healthz")
    assert status == 200


# --------------------------------------------------------------------------- who may read /metrics


def _request(peer: str, **headers: str) -> Any:
    from starlette.requests import Request

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": (peer, 40000),
    }
    return Request(scope)


def _status(env: dict[str, str], peer: str, **headers: str) -> int:
    from api.health import refusal
    from resolvers.core.settings import Settings

    refused = refusal(Settings.from_env({"GATEHOUSE_METRICS_TOKEN": TOKEN, **env}), _request(peer, **headers))
    return 200 if refused is None else refused.status_code


def test_metrics_access_rule() -> None:
    proxy = {"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.5"}
    office = {"GATEHOUSE_METRICS_ALLOW": "192.168.7.0/24"}
    assert _status({}, "127.0.0.1") == 200
    assert _status({}, "::1") == 200
    assert _status({}, "::ffff:127.0.0.1") == 200  # loopback through a dual-stack socket
    assert _status({}, "198.51.100.4") == 401
    assert _status({}, "198.51.100.4", Authorization=f"Bearer {TOKEN}") == 200
    assert _status({}, "127.0.0.1", Authorization="Bearer not-the-token-at-all") == 403
    # Through a proxy on this host that nobody declared: not loopback any more.
    assert _status({}, "127.0.0.1", **{"X-Forwarded-For": "127.0.0.1"}) == 401
    assert _status({}, "127.0.0.1", Forwarded="for=198.51.100.4") == 401
    # Through a trusted proxy: the address it names is judged.
    assert _status({**proxy, **office}, "10.0.0.5", **{"X-Forwarded-For": "192.168.7.20"}) == 200
    assert _status({**proxy, **office}, "10.0.0.5", **{"X-Forwarded-For": "198.51.100.4"}) == 401
    assert _status({**proxy, **office}, "10.0.0.5") == 401  # the proxy itself is not in the list
    # An empty list: the token only.
    assert _status({"GATEHOUSE_METRICS_ALLOW": ""}, "127.0.0.1") == 401


def test_metrics_settings_refuse_bad_values() -> None:
    from resolvers.core.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="GATEHOUSE_METRICS_TOKEN"):
        Settings.from_env({"GATEHOUSE_METRICS_TOKEN": "short"})
    with pytest.raises(SettingsError, match="GATEHOUSE_METRICS_ALLOW"):
        Settings.from_env({"GATEHOUSE_METRICS_ALLOW": "127.0.0.1, localhost"})
    settings = Settings.from_env({"GATEHOUSE_METRICS_ALLOW": "10.0.0.0/8, fd00::/8"})
    assert settings.metrics_allow == ("10.0.0.0/8", "fd00::/8")


# --------------------------------------------------------------------------- several workers

WORKER = """
import sys
from realtime import metrics
scans, devices = int(sys.argv[1]), int(sys.argv[2])
for _ in range(scans):
    metrics.scan_answered(True, "ok", "QR", 0.0015)
metrics.scan_answered(False, "replayed", "QR", 0.3)
metrics.probe(metrics.DEVICES_CONNECTED, lambda: devices)
metrics.refresh()
"""
SCRAPE = """
from realtime import metrics
print(metrics.exposition().decode())
"""


def test_workers_share_their_metrics_through_the_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `serve --workers N` prepares (api/health.py shared_metrics) and how the workers use it:
    each worker's counts, latencies and gauges are written there, and one scrape in any process
    adds them up. Worker processes here are plain interpreters using realtime/metrics.py (a real
    `serve --workers 2` takes 10 s and more to start on this machine: checked by hand, README)."""
    from api.health import shared_metrics

    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_999999.db").write_bytes(b"left by an earlier run: not this run's counts")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT), str(PROJECT / "devices/gate_agent")])}
    with shared_metrics(2) as directory:
        assert directory == given
        assert not (given / "counter_999999.db").exists()  # emptied before the workers start
        env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
        for scans, devices in ((3, 2), (4, 5)):
            subprocess.run([sys.executable, "-c", WORKER, str(scans), str(devices)], env=env, check=True, timeout=60)
        text = subprocess.run(
            [sys.executable, "-c", SCRAPE], env=env, check=True, timeout=60, capture_output=True, text=True
        ).stdout
    families = samples(text)
    assert value(families, "gatehouse_scans", "gatehouse_scans_total", result="granted", reason="ok") == 7
    assert value(families, "gatehouse_scans", "gatehouse_scans_total", result="denied", reason="replayed") == 2
    assert value(families, "gatehouse_decision_seconds", "gatehouse_decision_seconds_count") == 9
    assert value(families, "gatehouse_decision_seconds", "gatehouse_decision_seconds_bucket", le="0.002") == 7
    assert value(families, "gatehouse_decision_seconds", "gatehouse_decision_seconds_sum") == pytest.approx(0.6105)
    assert value(families, "gatehouse_devices_connected", "gatehouse_devices_connected") == 7  # livesum
    # One per process, by pid: the two workers and the one that answered the scrape.
    assert len({s.labels["pid"] for s in families["gatehouse_worker_resident_memory_bytes"]}) == 3
    assert given.exists()  # the operator's directory is kept; a temporary one is removed:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    with shared_metrics(2) as temporary:
        assert temporary is not None and temporary.exists()
    assert not temporary.exists()
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
