"""The scan path's credential look-up (resolvers/passes/credential_lookup.py): the scans of one
turn of the event loop share one query, and each still gets its own credential's row, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from resolvers.core import clock, db
from resolvers.core.models import Credential, CredentialKind, CredentialStatus, Person
from resolvers.passes import credential_lookup
from resolvers.passes.credential_lookup import credential_row
from tests.harness import PROJECT, create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'gh.sqlite3'}"
    request.getfixturevalue("require_postgres")
    return "postgres"


async def _run(url: str, check: Callable[[], Awaitable[None]]) -> None:
    """`check` on the database `url`; PostgreSQL in a child process (Tortoise keeps per-dialect
    query state in the models, and the other tests of this process use SQLite)."""
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
        f"import asyncio, tests.test_credential_lookup as t; asyncio.run(t._on_postgres(t.{check.__name__}))",
        cwd=PROJECT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 0, out.decode(errors="replace")[-4000:]


async def _on_postgres(check: Callable[[], Awaitable[None]]) -> None:
    url = await create_postgres_database()
    try:
        await db.start(url)
        try:
            await check()
        finally:
            await db.close()
    finally:
        await drop_postgres_database(url)


async def test_lookups_of_one_loop_turn_each_get_their_own_row(database: str) -> None:
    await _run(database, _each_gets_its_own)


async def _each_gets_its_own() -> None:
    alice = await Person.create(display_name="Alice Li", roles=["EMPLOYEE"], position="Engineer")
    bob = await Person.create(display_name="Bob Ng", roles=["EMPLOYEE"])
    until = clock.now() + timedelta(days=3)
    people = {}
    for n in range(12):
        person = alice if n % 2 == 0 else bob
        kind = CredentialKind.BADGE if n == 3 else CredentialKind.PHONE
        status = CredentialStatus.REVOKED if n == 5 else CredentialStatus.ACTIVE
        await Credential.create(
            cid=f"cid{n:013d}",
            person_id=person.id,
            kind=kind,
            public_key=bytes([n]) * 32,
            period=15 + n,
            status=status,
            valid_until=until if n == 7 else None,
        )
        people[f"cid{n:013d}"] = (person, kind, status, 15 + n)
    asked = [*people, "cid0000000000004", "unknown-cid-0001", "cid0000000000004"]

    queries_before = _queries()
    rows = await asyncio.gather(*(credential_row(cid) for cid in asked))
    assert _queries() == queries_before + 1, "the lookups of one turn share one query"

    for cid, row in zip(asked, rows, strict=True):
        if cid not in people:
            assert row is None
            continue
        person, kind, status, period = people[cid]
        assert row is not None
        assert row["person_id"] == person.id and row["person__display_name"] == person.display_name
        assert row["kind"] == kind.value and row["status"] == status.value and row["period"] == period
        assert row["public_key"] == bytes([int(cid[3:])]) * 32
        assert row["person__position"] == person.position
        assert (row["valid_until"] is not None) == (cid == "cid0000000000007")
    # One credential asked twice: the same content, in dicts of their own.
    first, second = rows[len(people)], rows[-1]
    assert first == second and first is not second
    # A later turn asks again.
    assert (await credential_row("cid0000000000001"))["person_id"] == bob.id  # type: ignore[index]


def _queries() -> int:
    return credential_lookup.queries_sent
