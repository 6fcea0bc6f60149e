"""Fixtures: real servers on free ports. PostgreSQL/Redis tests skip on a laptop without
them, and fail under CI=true, where the machine promises both."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.harness import (
    IN_CI,
    POSTGRES_URL,
    REDIS_URL,
    Demo,
    GraphQLClient,
    ServerProcess,
    Site,
    create_postgres_database,
    drop_postgres_database,
    need_service,
)


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


@pytest.fixture
def sqlite_site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path)
    site.load_demo()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture
def server(sqlite_site: Site) -> ServerProcess:
    return sqlite_site.start_server()


@pytest.fixture
def demo(sqlite_site: Site) -> Demo:
    assert sqlite_site.demo is not None
    return sqlite_site.demo


@pytest.fixture
def api(server: ServerProcess) -> GraphQLClient:
    return GraphQLClient(server)


@pytest.fixture
async def postgres_url(require_postgres: None) -> AsyncIterator[str]:
    url = await create_postgres_database()
    try:
        yield url
    finally:
        with contextlib.suppress(Exception):
            await drop_postgres_database(url)


@pytest.fixture
def scale_site(tmp_path: Path, postgres_url: str, require_redis: None) -> Iterator[Site]:
    """PostgreSQL + Redis, with two server processes sharing them."""
    site = Site(tmp_path, database_url=postgres_url, redis_url=REDIS_URL)
    site.load_demo()
    site.start_server()
    site.start_server()
    try:
        yield site
    finally:
        site.stop()


os.environ.setdefault("GATEHOUSE_TIME_ZONE", "UTC")
