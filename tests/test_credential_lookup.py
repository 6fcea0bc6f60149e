"""The scan path's credential look-up (resolvers/passes/credential_lookup.py): the scans of one
turn of the event loop share one query, and each still gets its own credential's row, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from resolvers.core import clock
from resolvers.core.models import Credential, CredentialKind, CredentialStatus, Person
from resolvers.passes import credential_lookup
from resolvers.passes.credential_lookup import credential_row
from tests.dialects import database_param, run_on


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def test_lookups_of_one_loop_turn_each_get_their_own_row(database: str) -> None:
    await run_on(database, _each_gets_its_own)


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
