"""Batch reads behind the GraphQL loaders: many keys, a constant number of queries, answers in
key order (one per key, None where a row is gone).

A page of 50 people that shows each one's department and hosted visits must not cost a query
per person (netbox#18120: per-row resolvers on a shared type turned 5k queries into 87k), so
every relation of a listed type reads through one of these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

from tortoise import connections

from resolvers.core.models import Department, GateEvent, Person, Visit
from resolvers.scan.event_queries import EVENT_FIELDS
from resolvers.visits import visits as visit_domain


async def people_by_ids(ids: Sequence[int]) -> list[Person | None]:
    found = {p.id: p for p in await Person.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


async def departments_by_ids(ids: Sequence[int]) -> list[Department | None]:
    found = {d.id: d for d in await Department.filter(id__in=set(ids))}
    return [found.get(i) for i in ids]


class HostedPage(NamedTuple):
    """One host's page of hosted visits: newest first, up to `first + 1` rows before `before_id`."""

    host_id: int
    first: int
    before_id: int | None


async def hosted_visit_pages(keys: Sequence[HostedPage]) -> list[list[Visit]]:
    """Each host's page, for many hosts in two queries (the page's ids, then the rows)."""
    pages: dict[HostedPage, list[Visit]] = {k: [] for k in keys}
    by_window: dict[tuple[int, int | None], set[int]] = defaultdict(set)
    for key in keys:
        by_window[(key.first, key.before_id)].add(key.host_id)
    for (first, before_id), hosts in by_window.items():
        ids = await _newest_per_group("visit", "host_id", sorted(hosts), first + 1, before_id)
        for visit in await Visit.filter(id__in=ids).order_by("-id") if ids else []:
            pages[HostedPage(visit.host_id, first, before_id)].append(visit)
    return [pages[k] for k in keys]


class PersonEvents(NamedTuple):
    """One person's page of passages: newest first, up to `first + 1` events before `before_id`."""

    person_id: int
    first: int
    before_id: int | None


async def access_log_pages(keys: Sequence[PersonEvents]) -> list[list[dict[str, Any]]]:
    """Each person's page of the gate event log (rows as event_queries gives them), for many
    people in two queries."""
    pages: dict[PersonEvents, list[dict[str, Any]]] = {k: [] for k in keys}
    by_window: dict[tuple[int, int | None], set[int]] = defaultdict(set)
    for key in keys:
        by_window[(key.first, key.before_id)].add(key.person_id)
    for (first, before_id), persons in by_window.items():
        ids = await _newest_per_group("gate_event", "person_id", sorted(persons), first + 1, before_id)
        rows = await GateEvent.filter(id__in=ids).order_by("-id").values(*EVENT_FIELDS) if ids else []
        for row in rows:
            pages[PersonEvents(row["person_id"], first, before_id)].append(row)
    return [pages[k] for k in keys]


async def visits_of_visitors(person_ids: Sequence[int]) -> list[Visit | None]:
    """A visitor's (latest) visit, brought up to date: one past its end without check-in expires."""
    latest: dict[int, Visit] = {}
    for visit in await Visit.filter(visitor_id__in=set(person_ids)).order_by("-id"):
        if visit.visitor_id is not None:
            latest.setdefault(visit.visitor_id, visit)
    return [await visit_domain.expire_if_due(latest[p]) if p in latest else None for p in person_ids]


# SQLite refuses a compound SELECT of more than 500 parts: a batch reads at most this many
# groups per statement (a page holds at most 100 rows, so one statement in practice).
GROUPS_PER_STATEMENT = 100


async def _newest_per_group(
    table: str, group_column: str, groups: Sequence[int], limit: int, before_id: int | None
) -> list[int]:
    """The ids of the `limit` newest rows of each group (ids below `before_id` only), in one
    statement per GROUPS_PER_STATEMENT groups: a UNION ALL of one small keyset read per group,
    each served by the table's (group, id) index and stopping after `limit` rows, on SQLite and
    PostgreSQL alike. (A window function would number every row of every group first: a
    person's whole log.)"""
    if limit <= 0:
        return []
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    ids: list[int] = []
    for start in range(0, len(groups), GROUPS_PER_STATEMENT):
        chunk = groups[start : start + GROUPS_PER_STATEMENT]
        sql, params = _union_of_pages(table, group_column, chunk, limit, before_id, postgres)
        _, rows = await conn.execute_query(sql, params)
        ids += [int(row[0]) for row in rows]
    return ids


def _union_of_pages(
    table: str, group_column: str, groups: Sequence[int], limit: int, before_id: int | None, postgres: bool
) -> tuple[str, list[int]]:
    params: list[int] = []

    def mark(value: int) -> str:
        params.append(value)
        return f"${len(params)}" if postgres else "?"

    parts = []
    for n, group in enumerate(groups):
        where = f"{group_column} = {mark(group)}"  # marks in the order they appear: SQLite's `?` are positional
        if before_id is not None:
            where += f" AND id < {mark(before_id)}"
        parts.append(f"SELECT id FROM (SELECT id FROM {table} WHERE {where} ORDER BY id DESC LIMIT {mark(limit)}) g{n}")
    return " UNION ALL ".join(parts), params
