"""Tests of the domain's SQL on both databases, without a server: a check runs on SQLite in this
process and on PostgreSQL in a child process (Tortoise keeps per-dialect query state in the
models, and the other tests of this process use SQLite).

A module uses it with its own `database` fixture (SQLite URL or "postgres") and
`await run_on(database, check)`, `check` a module-level coroutine function."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from resolvers.core import db
from tests.harness import PROJECT, create_postgres_database, drop_postgres_database

# The URL of the PostgreSQL database a check is running on (in the child), for checks that open
# a connection of their own.
postgres_url: list[str] = []


def database_param(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """For a fixture with params ["sqlite", "postgres"]: where the check runs."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'gh.sqlite3'}"
    request.getfixturevalue("require_postgres")
    return "postgres"


async def run_on(url: str, check: Callable[[], Awaitable[None]]) -> None:
    if url != "postgres":
        await db.start(url)
        try:
            await check()
        finally:
            await db.close()
        return
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        f"import asyncio, tests.dialects as d; asyncio.run(d.in_child({check.__module__!r}, {check.__name__!r}))",
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 0, out.decode(errors="replace")[-4000:]


async def in_child(module: str, name: str) -> None:
    check = getattr(importlib.import_module(module), name)
    url = await create_postgres_database()
    postgres_url.append(url)
    try:
        await db.start(url)
        try:
            await check()
        finally:
            await db.close()
    finally:
        await drop_postgres_database(url)
