"""Findings drawn from the data, proposed to an inspector who confirms or dismisses each.

Every source is a plain async function over a period that returns what it found; sources
register under a name and an area of the policy (POLICY.md §7.2: entry, visitors, items,
devices, data). An inspection asks `propose` for the areas of its checklist; each proposal
carries a `key` that names the same fact across runs, so a fact confirmed or dismissed once is
not proposed again to the same inspection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.supervision")

Area = Literal["entry", "visitors", "items", "devices", "data"]
AREAS: tuple[Area, ...] = ("entry", "visitors", "items", "devices", "data")


@dataclass(frozen=True)
class Period:
    """Half-open: facts at `start` count, facts at `end` do not."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Proposal:
    source: str  # the registered source's name, e.g. "door_forced"
    area: Area
    key: str  # the same fact gives the same key on every run (e.g. "door_forced:gate_event:812")
    summary: str  # one line for the inspector, names in any script
    department_id: int | None = None  # who would answer a rectification notice, when known
    subject_type: str | None = None  # "device", "grant", "person", "asset", "visit", ...
    subject_id: str | None = None
    evidence: dict[str, object] = field(default_factory=dict)  # ids and figures, JSON-ready


Source = Callable[["Runtime", Period], Awaitable[list[Proposal]]]


@dataclass(frozen=True)
class Registered:
    name: str
    area: Area
    title: str  # what the source looks for, for checklists ("Doors forced or held open")
    find: Source


SOURCES: dict[str, Registered] = {}


def source(name: str, area: Area, title: str) -> Callable[[Source], Source]:
    """Register a finding source: `@source("door_forced", "devices", "Doors forced or held open")`."""

    def register(find: Source) -> Source:
        if name in SOURCES:
            raise ValueError(f"finding source {name!r} registered twice")
        SOURCES[name] = Registered(name, area, title, find)
        return find

    return register


async def propose(rt: Runtime, period: Period, areas: set[Area] | None = None) -> list[Proposal]:
    """What every registered source of these areas finds in the period, in a stable order.

    A source that fails is logged and skipped: one broken query must not hide the other areas'
    findings from an inspection."""
    found: list[Proposal] = []
    for registered in sorted(SOURCES.values(), key=lambda r: (AREAS.index(r.area), r.name)):
        if areas is not None and registered.area not in areas:
            continue
        try:
            found.extend(await registered.find(rt, period))
        except Exception:
            log.exception("finding source %s failed", registered.name)
    return found
