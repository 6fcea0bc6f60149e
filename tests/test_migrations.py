"""Migrations: `api.db.start` brings a database up to date once, and the migrated schema is
exactly what the models want, on SQLite and on PostgreSQL.

The reference is a second, empty database built by Tortoise's own schema generator
(`Tortoise.generate_schemas`) from `resolvers.core.models`. Both are introspected the same way
(SQLite: `PRAGMA table_info` / `index_list` / `foreign_key_list`; PostgreSQL:
`information_schema.columns`, `pg_index`, `pg_constraint`), so a model change that
comes without a migration fails here and says which tables and columns differ.
Tables and columns (type, length, nullability) must match both ways; indexes, unique
constraints and foreign keys the models want must be there. A migration may add more
than the generator can express: plain indexes and CHECK constraints (not UNIQUE ones).

Tortoise 1.1 keeps its connections in a context variable, and `api.db.connect` also
sets the global fallback (which `api.db.close` clears). Each Tortoise session here runs
in a task with a fresh `contextvars.Context` and closes in a `finally`, so nothing
leaks into the next session or the next test.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tortoise import Tortoise

from resolvers.core import db
from tests.harness import PROJECT, create_postgres_database, drop_postgres_database, eventually

T = TypeVar("T")
BOOKKEEPING = "gatehouse_migration"

# table -> column -> description of its type and nullability
Columns = dict[str, dict[str, str]]


class Schema:
    def __init__(self, columns: Columns, indexes: set[tuple[str, ...]], foreign_keys: set[tuple[str, ...]]) -> None:
        self.columns = columns
        self.indexes = indexes
        self.foreign_keys = foreign_keys


def migration_names(dialect: str) -> list[str]:
    return [path.name.split(".", 1)[0] for path in db.migration_files(dialect)]


async def isolated(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work` in a task with a context of its own, so Tortoise's context variable stays there."""
    task: asyncio.Task[T] = asyncio.get_running_loop().create_task(work(), context=contextvars.Context())
    return await task


async def start_once(url: str) -> list[str]:
    """One server start: connect, migrate, close."""

    async def work() -> list[str]:
        try:
            return await db.start(url)
        finally:
            await db.close()

    return await isolated(work)


async def build_from_models(url: str) -> None:
    """The schema the models want, written by Tortoise's generator into an empty database."""

    async def work() -> None:
        try:
            await db.connect(url)
            await Tortoise.generate_schemas(safe=False)
        finally:
            await db.close()

    await isolated(work)


# --- introspection -------------------------------------------------------------------------


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite://")


def sqlite_schema(url: str) -> Schema:
    conn = sqlite3.connect(sqlite_path(url))
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        columns: Columns = {}
        indexes: set[tuple[str, ...]] = set()
        foreign_keys: set[tuple[str, ...]] = set()
        for table in tables:
            columns[table] = {
                name: f"{ctype.upper()} {'NOT NULL' if notnull else 'NULL'}{' PRIMARY KEY' if pk else ''}"
                for _cid, name, ctype, notnull, _default, pk in conn.execute(f"PRAGMA table_info('{table}')")
            }
            for _seq, index, unique, origin, _partial in conn.execute(f"PRAGMA index_list('{table}')"):
                cols = tuple(row[2] for row in conn.execute(f"PRAGMA index_info('{index}')"))
                # A UNIQUE constraint and a CREATE UNIQUE INDEX (all SQLite's ALTER can do) are the same thing.
                indexes.add((table, "UNIQUE" if unique else "INDEX", "pk" if origin == "pk" else "", *cols))
            for row in conn.execute(f"PRAGMA foreign_key_list('{table}')"):
                _id, _seq, ref_table, from_col, to_col, on_update, on_delete, _match = row
                foreign_keys.add((table, from_col, ref_table, to_col, on_update, on_delete))
        return Schema(columns, indexes, foreign_keys)
    finally:
        conn.close()


async def postgres_schema(url: str) -> Schema:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        columns: Columns = {}
        for row in await conn.fetch(
            "SELECT t.table_name FROM information_schema.tables t"
            " WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        ):
            columns[row["table_name"]] = {}
        for row in await conn.fetch(
            "SELECT table_name, column_name, data_type, udt_name, character_maximum_length,"
            " numeric_precision, numeric_scale, is_nullable"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        ):
            kind = row["data_type"] if row["data_type"] != "USER-DEFINED" else row["udt_name"]
            if row["character_maximum_length"] is not None:
                kind += f"({row['character_maximum_length']})"
            elif row["data_type"] == "numeric":
                kind += f"({row['numeric_precision']},{row['numeric_scale']})"
            null = "NULL" if row["is_nullable"] == "YES" else "NOT NULL"
            columns.setdefault(row["table_name"], {})[row["column_name"]] = f"{kind} {null}"
        indexes = {
            (row["tbl"], "UNIQUE" if row["uniq"] else "INDEX", "pk" if row["pk"] else "", *row["cols"])
            for row in await conn.fetch(
                "SELECT t.relname AS tbl, ix.indisunique AS uniq, ix.indisprimary AS pk,"
                "  array_agg(a.attname ORDER BY k.n) AS cols"
                " FROM pg_index ix"
                " JOIN pg_class t ON t.oid = ix.indrelid"
                " JOIN pg_namespace ns ON ns.oid = t.relnamespace"
                " CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)"
                " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum"
                " WHERE ns.nspname = 'public'"
                " GROUP BY t.relname, ix.indexrelid, ix.indisunique, ix.indisprimary"
            )
        }
        foreign_keys: set[tuple[str, ...]] = {
            (row["tbl"], row["definition"])
            for row in await conn.fetch(
                "SELECT c.conrelid::regclass::text AS tbl, pg_get_constraintdef(c.oid) AS definition"
                " FROM pg_constraint c JOIN pg_namespace ns ON ns.oid = c.connamespace"
                " WHERE ns.nspname = 'public' AND c.contype IN ('f', 'c')"
            )
        }
        return Schema(columns, indexes, foreign_keys)
    finally:
        await conn.close()


def relevant(items: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    return {item for item in items if item[0] != BOOKKEEPING}


def schema_differences(migrated: Schema, wanted: Schema) -> list[str]:
    """What a migration would have to change to give the models' schema (empty when none)."""
    out: list[str] = []
    tables = set(migrated.columns) - {BOOKKEEPING}
    for table in sorted(set(wanted.columns) - tables):
        out.append(f"table {table}: the models have it, no migration creates it")
    for table in sorted(tables - set(wanted.columns)):
        out.append(f"table {table}: the migrations create it, no model has it")
    for table in sorted(tables & set(wanted.columns)):
        have, want = migrated.columns[table], wanted.columns[table]
        for column in sorted(set(want) - set(have)):
            out.append(f"column {table}.{column}: the models want {want[column]}, no migration adds it")
        for column in sorted(set(have) - set(want)):
            out.append(f"column {table}.{column}: the migrations give {have[column]}, no model field has it")
        for column in sorted(set(have) & set(want)):
            if have[column] != want[column]:
                out.append(
                    f"column {table}.{column}: the models want {want[column]}, the migrations give {have[column]}"
                )
    for index in sorted(relevant(wanted.indexes) - relevant(migrated.indexes)):
        out.append(f"index/constraint {index}: the models want it, the migrations lack it")
    for index in sorted(relevant(migrated.indexes) - relevant(wanted.indexes)):
        if index[1] == "UNIQUE":  # a plain index only a migration adds (for speed) is fine
            out.append(f"index/constraint {index}: the migrations have it, the models do not")
    for fk in sorted(relevant(wanted.foreign_keys) - relevant(migrated.foreign_keys)):
        out.append(f"foreign key/check {fk}: the models want it, the migrations lack it")
    for fk in sorted(relevant(migrated.foreign_keys) - relevant(wanted.foreign_keys)):
        if not fk[1].startswith("CHECK"):  # a CHECK only a migration adds is database-side hardening
            out.append(f"foreign key/check {fk}: the migrations have it, the models do not")
    return out


def explain(differences: list[str]) -> str:
    return (
        "the migrated schema differs from what resolvers/core/models.py wants; "
        "add a migration in resolvers/core/migrations "
        "(for both dialects) that makes these go away:\n  " + "\n  ".join(differences)
    )


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture
async def second_postgres_url(require_postgres: None) -> AsyncIterator[str]:
    url = await create_postgres_database()
    try:
        yield url
    finally:
        await drop_postgres_database(url)


# --- SQLite --------------------------------------------------------------------------------


async def test_sqlite_start_applies_the_migrations_once(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'gatehouse.sqlite3'}"
    first = await start_once(url)
    assert "0001_initial" in first
    assert first == migration_names("sqlite")
    assert await start_once(url) == [], "a second start applies nothing"
    conn = sqlite3.connect(sqlite_path(url))
    try:
        rows = [row[0] for row in conn.execute(f"SELECT name FROM {BOOKKEEPING} ORDER BY name")]
    finally:
        conn.close()
    assert rows == migration_names("sqlite")


async def test_sqlite_migrated_schema_is_what_the_models_want(tmp_path: Path) -> None:
    migrated_url = f"sqlite://{tmp_path / 'migrated.sqlite3'}"
    reference_url = f"sqlite://{tmp_path / 'reference.sqlite3'}"
    await start_once(migrated_url)
    await build_from_models(reference_url)
    migrated, wanted = sqlite_schema(migrated_url), sqlite_schema(reference_url)
    assert wanted.columns, "the reference schema has tables"
    differences = schema_differences(migrated, wanted)
    assert not differences, explain(differences)


async def test_schema_comparison_names_the_columns_a_migration_misses(tmp_path: Path) -> None:
    """The comparison has teeth: a column the migrations lack (as after a model change) is named."""
    migrated_url = f"sqlite://{tmp_path / 'migrated.sqlite3'}"
    reference_url = f"sqlite://{tmp_path / 'reference.sqlite3'}"
    await start_once(migrated_url)
    await build_from_models(reference_url)
    conn = sqlite3.connect(sqlite_path(migrated_url))
    try:
        conn.execute('ALTER TABLE "device" DROP COLUMN "firmware"')
        conn.execute('ALTER TABLE "gate" ADD COLUMN "colour" VARCHAR(20)')
        conn.commit()
    finally:
        conn.close()
    differences = schema_differences(sqlite_schema(migrated_url), sqlite_schema(reference_url))
    text = explain(differences)
    assert "column device.firmware: the models want VARCHAR(64) NOT NULL, no migration adds it" in text, text
    assert "column gate.colour: the migrations give VARCHAR(20) NULL, no model field has it" in text, text
    assert len(differences) == 2, text


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
async def test_postgres_start_applies_the_migrations_once(postgres_url: str) -> None:
    first = await start_once(postgres_url)
    assert "0001_initial" in first
    assert first == migration_names("postgres")
    assert await start_once(postgres_url) == [], "a second start applies nothing"
    import asyncpg

    conn = await asyncpg.connect(postgres_url.replace("postgres://", "postgresql://", 1))
    try:
        rows = [row["name"] for row in await conn.fetch(f"SELECT name FROM {BOOKKEEPING} ORDER BY name")]
    finally:
        await conn.close()
    assert rows == migration_names("postgres")


@pytest.mark.postgres
async def test_postgres_migrated_schema_is_what_the_models_want(postgres_url: str, second_postgres_url: str) -> None:
    await start_once(postgres_url)
    await build_from_models(second_postgres_url)
    migrated, wanted = await postgres_schema(postgres_url), await postgres_schema(second_postgres_url)
    assert wanted.columns, "the reference schema has tables"
    differences = schema_differences(migrated, wanted)
    assert not differences, explain(differences)


MIGRATION_LOCK = 714022  # the advisory lock resolvers/core/db.py migrates under


async def _migrate_processes_at_once(url: str, count: int) -> list[subprocess.CompletedProcess[str]]:
    """`count` `gatehouse migrate` processes that really meet at the database.

    Started together, processes still reach the database one after the other when the machine
    is busy, and then nothing races. So the test holds the migrations' lock, waits until every
    process is queued for it, and lets go: they all go for the migrations at once, whatever the load."""
    import asyncpg

    dsn = url.replace("postgres://", "postgresql://", 1)
    holder, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    env = {**os.environ, "GATEHOUSE_DATABASE_URL": url}
    procs: list[subprocess.Popen[str]] = []
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)

        def start() -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-m", "api.cli", "migrate"],
                cwd=PROJECT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        procs = [await asyncio.to_thread(start) for _ in range(count)]

        async def all_queued() -> bool:
            exited = [p for p in procs if p.poll() is not None]
            assert not exited, f"gatehouse migrate ended before it waited for the lock: {exited[0].communicate()}"
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted",
                MIGRATION_LOCK,
            )
            return bool(waiting == count)

        await eventually(all_queued, 60, f"{count} migrate processes queued for the migrations' lock")
    finally:
        await holder.close()  # closing the session releases the lock: the processes race from here
        await watcher.close()

    def finish() -> list[subprocess.CompletedProcess[str]]:
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
        return results

    return await asyncio.to_thread(finish)


@pytest.mark.postgres
async def test_two_processes_migrating_one_fresh_postgres_database_both_succeed(
    postgres_url: str, require_postgres: None
) -> None:
    results = await _migrate_processes_at_once(postgres_url, 2)
    for result in results:
        assert result.returncode == 0, f"gatehouse migrate failed on {postgres_url}:\n{result.stderr[-2000:]}"
    outputs = sorted(result.stdout.strip() for result in results)
    applied = "applied: " + ", ".join(migration_names("postgres"))
    assert outputs == [applied, "the database schema is up to date"], outputs
    assert await start_once(postgres_url) == []
