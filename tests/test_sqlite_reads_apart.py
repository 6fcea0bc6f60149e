"""The ORM's SQLite reads apart from its writes (resolvers/core/sqlite_reads_apart.py).

A read outside a transaction must not wait for the writing connection (a campus's gate-event
commits waited up to 0.6 s behind reads of many rows); it sees what was committed, a read inside
a transaction sees that transaction's writes, and updates and deletes built from a query still
write. Run on a SQLite file in this process."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tortoise import connections
from tortoise.transactions import in_transaction

from resolvers.core import db
from resolvers.core.models import Department
from resolvers.core.sqlite_reads_apart import ReadsApartSqliteClient


async def test_reads_do_not_wait_for_the_writer_and_writes_still_write(tmp_path: Path) -> None:
    await db.start(f"sqlite://{tmp_path / 'gh.sqlite3'}")
    try:
        assert isinstance(connections.get("default"), ReadsApartSqliteClient)
        await Department.create(name="研发部")
        assert await Department.filter(name="研发部").count() == 1  # a write, then a read: seen

        opened, release = asyncio.Event(), asyncio.Event()

        async def long_transaction() -> None:
            async with in_transaction():
                await Department.create(name="Zoë's team")
                # Inside: its own write is seen (the read stays on the transaction's connection).
                assert await Department.filter(name="Zoë's team").exists()
                opened.set()
                await release.wait()  # holds the writing connection meanwhile

        writer = asyncio.create_task(long_transaction())
        await asyncio.wait_for(opened.wait(), 5)
        # Outside: answered while the writer is held, with what was committed (not the open write).
        names = await asyncio.wait_for(Department.all().values_list("name", flat=True), 5)
        assert sorted(names) == ["研发部"]
        release.set()
        await writer
        assert sorted(await Department.all().values_list("name", flat=True)) == ["Zoë's team", "研发部"]

        # Updates and deletes built from a query go to the writer.
        assert await Department.filter(name="研发部").update(name="研发部 (R&D)") == 1
        assert await Department.filter(name="Zoë's team").delete() == 1
        assert await Department.all().values_list("name", flat=True) == ["研发部 (R&D)"]
    finally:
        await db.close()
