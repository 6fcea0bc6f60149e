"""Fixtures: real servers on free ports, each serving its own copy of the demo site.

The demo site is loaded once per session per database kind (`SiteTemplate`); a test's site is a
copy of it. PostgreSQL/Redis tests skip on a laptop without them, and fail under CI=true, where
the machine promises both. The run ends with the time each test file took and the suite's time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.harness import (
    IN_CI,
    POSTGRES_URL,
    REDIS_URL,
    Demo,
    GraphQLClient,
    ServerProcess,
    Site,
    SiteTemplate,
    create_postgres_database,
    drop_postgres_database,
    need_service,
    reap_servers,
)

os.environ.setdefault("GATEHOUSE_TIME_ZONE", "UTC")
T = TypeVar("T")


def _host_port(url: str, default: int) -> tuple[str, int]:
    rest = url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", int(port or default)


def require(name: str, url: str, default_port: int) -> None:
    why = need_service(name, *_host_port(url, default_port))
    if why is None:
        return
    if IN_CI:
        pytest.fail(f"{why}: under CI=true the PostgreSQL and Redis tests must run")
    pytest.skip(f"{why} (these tests run under CI=true, where it must be up)")


@pytest.fixture
def require_postgres() -> None:
    require("PostgreSQL", POSTGRES_URL, 5432)


@pytest.fixture
def require_redis() -> None:
    require("Redis", REDIS_URL, 6379)


# --------------------------------------------------------------------------- the demo, once


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> SiteTemplate:
    """The demo site on SQLite, loaded once per session."""
    return SiteTemplate.build(tmp_path_factory.mktemp("demo-template"))


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to completion from sync code, even inside a running event loop (a session
    fixture may first be asked for by `request.getfixturevalue` in an async test)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteTemplate]:
    """The demo site on a PostgreSQL database of its own, loaded once per session; tests clone it."""
    require("PostgreSQL", POSTGRES_URL, 5432)
    url = _run(create_postgres_database())
    try:
        yield SiteTemplate.build(tmp_path_factory.mktemp("postgres-template"), url)
    finally:
        with contextlib.suppress(Exception):
            _run(drop_postgres_database(url))


# --------------------------------------------------------------------------- a site per test


@pytest.fixture
def sqlite_site(tmp_path: Path, demo_template: SiteTemplate) -> Iterator[Site]:
    """A fresh copy of the demo site on SQLite (no server yet: `server` starts one)."""
    site = demo_template.sqlite_copy(tmp_path)
    try:
        yield site
    finally:
        site.let_go()


@pytest.fixture
def server(sqlite_site: Site) -> ServerProcess:
    return sqlite_site.start_server()


@pytest.fixture
def demo(sqlite_site: Site) -> Demo:
    assert sqlite_site.demo is not None
    return sqlite_site.demo


@pytest.fixture
def api(server: ServerProcess, demo: Demo) -> GraphQLClient:
    return GraphQLClient(server, demo=demo)


@pytest.fixture
async def postgres_url(require_postgres: None) -> AsyncIterator[str]:
    """An empty PostgreSQL database of the test's own."""
    url = await create_postgres_database()
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            await drop_postgres_database(url)


@contextlib.asynccontextmanager
async def _postgres_copy(template: SiteTemplate, tmp: Path, redis_url: str | None = None) -> AsyncIterator[Site]:
    site = await template.postgres_copy(tmp, redis_url)
    try:
        yield site
    finally:
        await asyncio.to_thread(site.stop)
        with contextlib.suppress(Exception):
            await drop_postgres_database(site.database_url)


@pytest.fixture
async def postgres_site(tmp_path: Path, postgres_template: SiteTemplate) -> AsyncIterator[Site]:
    """A fresh copy of the demo site on a PostgreSQL database of its own (no server yet)."""
    async with _postgres_copy(postgres_template, tmp_path) as site:
        yield site


@pytest.fixture
async def scale_site(tmp_path: Path, postgres_template: SiteTemplate, require_redis: None) -> AsyncIterator[Site]:
    """PostgreSQL + Redis, with two server processes sharing them."""
    async with _postgres_copy(postgres_template, tmp_path, REDIS_URL) as site:
        await asyncio.to_thread(site.start_server)
        await asyncio.to_thread(site.start_server)
        yield site


# --------------------------------------------------------------------------- where the time went

_started = time.monotonic()
_seconds_per_file: defaultdict[str, float] = defaultdict(float)


@pytest.fixture(scope="session", autouse=True)
def _reaped_servers() -> Iterator[None]:
    """Servers a test let go of (its teardown does not wait for their shutdown) are collected here."""
    yield
    reap_servers()


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _seconds_per_file[report.nodeid.split("::", 1)[0]] += report.duration


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _seconds_per_file:
        return
    terminalreporter.write_sep("-", "seconds per test file (setup + call + teardown)")
    for name, seconds in sorted(_seconds_per_file.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{seconds:8.1f}  {name}")
    terminalreporter.write_line(f"test suite time: {time.monotonic() - _started:.1f} s")
