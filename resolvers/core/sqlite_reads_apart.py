"""The ORM's SQLite client with its reads apart (a Tortoise engine: `client_class`).

Tortoise gives a SQLite file one connection, taken for each statement in turn on its one
thread. A read of many rows there (the fleet check's quiet devices, the command retries, the
site's topology, a page of people) held the gate events' group commit back: with a campus of
10,000 gates, the commit waited up to 0.1-0.6 s for such reads (bench/stall_watch.py). Here a
SELECT outside a transaction goes to a second, read-only connection with a thread and a lock of
its own. In WAL mode a reader neither waits for the writer nor holds it up, and each of its
statements sees every transaction committed before it began, so a read after a write returns
what was written. Statements in a transaction run on Tortoise's transaction wrapper (a plain
`SqliteClient`, not this class): they stay on the writing connection and see their own writes.
Every other statement (INSERT, UPDATE, DELETE, scripts) is the writer's, as before.

Tortoise's router cannot do this: `Model.filter(...)` picks the read connection before
`.update()` or `.delete()` is called on it.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.sqlite.client import SqliteClient


def _reads(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class ReadsApartSqliteClient(SqliteClient):
    def __init__(self, file_path: str, **kwargs: Any) -> None:
        super().__init__(file_path, **kwargs)
        pragmas = {k: v for k, v in kwargs.items() if k not in ("connection_name", "fetch_inserted")}
        # query_only last: the journal mode (already WAL) is set before it.
        self._reader = SqliteClient(
            file_path,
            connection_name=f"{self.connection_name}-reader",
            **{**pragmas, "journal_mode": "WAL", "query_only": "ON"},
        )

    async def close(self) -> None:
        await self._reader.close()
        await super().close()

    async def execute_query(self, query: str, values: list | None = None) -> tuple[int, list[dict]]:
        if _reads(query):
            return await self._reader.execute_query(query, values)
        return await super().execute_query(query, values)

    async def execute_query_dict(self, query: str, values: list | None = None) -> list[dict]:
        if _reads(query):
            return await self._reader.execute_query_dict(query, values)
        return await super().execute_query_dict(query, values)


client_class = ReadsApartSqliteClient
