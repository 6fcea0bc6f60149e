"""Scheduled summaries for leadership (POLICY 6.2 "regular summaries", 定期匯總).

The leading server process's upkeep (resolvers/visits/upkeep.py, every GATEHOUSE_UPKEEP_SECONDS) asks
`run_due`: the previous site-local day (DAILY) and the previous ISO week, Monday to Sunday
(WEEKLY), are summed up shortly after they end: passages granted, denials by reason, visitors
checked in, stock in and out (units), anomalies by kind. A period missed while no server ran
is made when one comes back, up to CATCH_UP_DAYS days and CATCH_UP_WEEKS weeks back, but
never for a period that ended before the site's first record (a new install does not invent
empty weeks). The row is inserted once: UNIQUE (kind, period_start), and a process that loses
the race skips. The figures are kept as JSON, frozen as they stood when produced; the PDF and
CSV are rendered from them on download (so they never change either). Rows older than
RETENTION_DAYS are deleted by the same upkeep.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from resolvers.attendance.reports import STOCK_KINDS
from resolvers.core import clock
from resolvers.core.models import Decision, DeviceAlert, GateEvent, ItemMovement, Person, ScheduledSummary, Visit
from resolvers.notifications import journeys
from resolvers.notifications.channels.registry import channels_of
from resolvers.runtime import Runtime

log = logging.getLogger("gatehouse.summaries")

DAILY, WEEKLY = "DAILY", "WEEKLY"
KINDS = (DAILY, WEEKLY)
CATCH_UP_DAYS = 7
CATCH_UP_WEEKS = 4
RETENTION_DAYS = 400


@dataclass(frozen=True)
class Figures:
    """What a summary says. `denials` and `anomalies` count by reason and by kind."""

    passages: int
    denials: dict[str, int]
    visitors: int
    stock_in: int
    stock_out: int
    anomalies: dict[str, int]

    @property
    def denials_total(self) -> int:
        return sum(self.denials.values())

    @property
    def anomalies_total(self) -> int:
        return sum(self.anomalies.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "passages": self.passages,
            "denials": dict(sorted(self.denials.items())),
            "visitors": self.visitors,
            "stockIn": self.stock_in,
            "stockOut": self.stock_out,
            "anomalies": dict(sorted(self.anomalies.items())),
        }

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> Figures:
        return cls(
            passages=int(data.get("passages", 0)),
            denials={str(k): int(v) for k, v in (data.get("denials") or {}).items()},
            visitors=int(data.get("visitors", 0)),
            stock_in=int(data.get("stockIn", 0)),
            stock_out=int(data.get("stockOut", 0)),
            anomalies={str(k): int(v) for k, v in (data.get("anomalies") or {}).items()},
        )


@dataclass(frozen=True)
class Stored:
    """A kept summary, as readers and files see it."""

    id: int
    kind: str
    first: date
    last: date
    produced_at: datetime
    figures: Figures

    @classmethod
    def of(cls, row: ScheduledSummary) -> Stored:
        return cls(row.id, row.kind, row.period_start, row.period_end, row.produced_at, Figures.of_json(row.figures))


# --- periods ---------------------------------------------------------------------------------


def due_periods(kind: str, today: date) -> list[tuple[date, date]]:
    """The finished periods a summary may still be owed for, oldest first: the days before
    `today` (site-local), or the ISO weeks before the current one."""
    if kind == DAILY:
        return [(today - timedelta(days=k), today - timedelta(days=k)) for k in range(CATCH_UP_DAYS, 0, -1)]
    monday = today - timedelta(days=today.weekday())
    starts = [monday - timedelta(weeks=k) for k in range(CATCH_UP_WEEKS, 0, -1)]
    return [(start, start + timedelta(days=6)) for start in starts]


def bounds(rt: Runtime, first: date, last: date) -> tuple[datetime, datetime]:
    """[start, end) of the site-local days first..last, in UTC (SQLite compares stored UTC text)."""
    tz = rt.settings.tz
    start = datetime.combine(first, time.min, tzinfo=tz).astimezone(UTC)
    return start, datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz).astimezone(UTC)


# --- the figures -----------------------------------------------------------------------------


async def figures(rt: Runtime, first: date, last: date) -> Figures:
    """Counted in the database (grouped), not row by row: a busy site's week is many events."""
    start, end = bounds(rt, first, last)
    events = GateEvent.filter(at__gte=start, at__lt=end)
    passages = await events.filter(decision=Decision.GRANTED).count()
    denials = (
        await events.filter(decision=Decision.DENIED).annotate(n=Count("id")).group_by("reason").values("reason", "n")
    )
    stock = (
        await ItemMovement.filter(at__gte=start, at__lt=end)
        .annotate(units=Sum("quantity"))
        .group_by("kind")
        .values("kind", "units")
    )
    units: Counter[str] = Counter()
    for row in stock:
        units[row["kind"]] += int(row["units"] or 0)
    alerts = (
        await DeviceAlert.filter(at__gte=start, at__lt=end).annotate(n=Count("id")).group_by("kind").values("kind", "n")
    )
    return Figures(
        passages=passages,
        denials={row["reason"]: int(row["n"]) for row in denials},
        visitors=await Visit.filter(checked_in_at__gte=start, checked_in_at__lt=end).count(),
        stock_in=sum(units[k] for k in STOCK_KINDS["in"]),
        stock_out=sum(units[k] for k in STOCK_KINDS["out"]),
        anomalies={row["kind"]: int(row["n"]) for row in alerts},
    )


# --- producing them --------------------------------------------------------------------------


# Draws a kept summary's PDF (report_files.scheduled_pdf, passed in by the upkeep: report_files
# imports this module).
PdfOf = Callable[[Stored, ZoneInfo], bytes]


async def produce(
    rt: Runtime, kind: str, first: date, last: date, pdf_of: PdfOf | None = None
) -> ScheduledSummary | None:
    """Insert-or-skip: the new row, or None when another process made this period's first.

    Its readers' notification (summary.daily / summary.weekly, the PDF attached) is written in the
    row's own transaction; the PDF is drawn before it (in the drawing process), from the same
    figures and production time the row keeps, so the download is the same file."""
    if await ScheduledSummary.filter(kind=kind, period_start=first).exists():
        return None
    counted = await figures(rt, first, last)
    now = clock.now()
    pdf = await _pdf(rt, Stored(0, kind, first, last, now, counted), pdf_of) if channels_of(rt) and pdf_of else None
    try:
        async with in_transaction() as conn:
            row = await ScheduledSummary.create(
                kind=kind,
                period_start=first,
                period_end=last,
                figures=counted.to_json(),
                produced_at=now,
                using_db=conn,
            )
            await _tell_readers(rt, row, counted, pdf, conn)
        return row
    except IntegrityError:  # UNIQUE (kind, period_start): another server process got there first
        return None


async def _pdf(rt: Runtime, stored: Stored, pdf_of: PdfOf) -> bytes | None:
    """The summary's PDF for its email; None when it cannot be drawn now (the drawing process busy
    or failing): the summary is kept all the same and its email links to the download instead."""
    try:
        if rt.draw is not None:
            return bytes(await rt.draw(pdf_of, stored, rt.settings.tz))
        return await asyncio.to_thread(pdf_of, stored, rt.settings.tz)
    except Exception:
        log.exception("the %s summary's PDF for its email could not be drawn; the email links to it", stored.kind)
        return None


async def _tell_readers(
    rt: Runtime, row: ScheduledSummary, counted: Figures, pdf: bytes | None, conn: BaseDBAsyncClient
) -> None:
    first, last = row.period_start, row.period_end
    period = first.isoformat() if first == last else f"{first.isoformat()} – {last.isoformat()}"
    context = {
        "day": period,
        "period": period,
        "passages": str(counted.passages),
        "denials": str(counted.denials_total),
        "visitors": str(counted.visitors),
        "stock_in": str(counted.stock_in),
        "stock_out": str(counted.stock_out),
        "anomalies": str(counted.anomalies_total),
    }
    await journeys.summary(
        rt,
        "summary.daily" if row.kind == DAILY else "summary.weekly",
        row.id,
        context,
        pdf,
        f"{row.kind.lower()}-summary-{first}.pdf",
        download_path(row.id, "pdf"),
        conn,
    )


async def _site_began() -> datetime | None:
    """When the site's first record (a person) was made; None on an empty database."""
    first = await Person.all().order_by("id").first().values("created_at")
    return first["created_at"] if first else None


async def run_due(rt: Runtime, pdf_of: PdfOf | None = None) -> list[ScheduledSummary]:
    """Make the summaries owed now (the upkeep's step); the rows made by this call. `pdf_of`
    draws the PDF their readers' email carries (without it, the email links to the download)."""
    today = clock.now().astimezone(rt.settings.tz).date()
    wanted = [(kind, first, last) for kind in KINDS for first, last in due_periods(kind, today)]
    oldest = min(first for _, first, _ in wanted)
    have = {
        (row["kind"], row["period_start"])
        for row in await ScheduledSummary.filter(period_start__gte=oldest).values("kind", "period_start")
    }
    missing = [w for w in wanted if (w[0], w[1]) not in have]
    if not missing:
        return []
    began = await _site_began()
    if began is None:
        return []
    made = []
    for kind, first, last in missing:
        if bounds(rt, first, last)[1] <= began:
            continue  # the period ended before the site existed
        row = await produce(rt, kind, first, last, pdf_of)
        if row is not None:
            log.info("scheduled summary %s %s..%s produced", kind, first, last)
            made.append(row)
    if made:
        await delete_expired(rt, today)
    return made


async def delete_expired(rt: Runtime, today: date) -> int:
    return await ScheduledSummary.filter(period_end__lt=today - timedelta(days=RETENTION_DAYS)).delete()


# --- reading them ----------------------------------------------------------------------------


async def page(kind: str | None, first: int, after: tuple[int, int] | None) -> list[Stored]:
    """Newest period first, up to first + 1 rows after the cursor (period start's ordinal, id)."""
    query = ScheduledSummary.all()
    if kind is not None:
        query = query.filter(kind=kind)
    if after is not None:
        day = date.fromordinal(after[0])
        query = query.filter(Q(period_start__lt=day) | Q(period_start=day, id__lt=after[1]))
    rows = await query.order_by("-period_start", "-id").limit(first + 1)
    return [Stored.of(r) for r in rows]


def download_path(summary_id: object, fmt: str) -> str:
    """Where a summary's file is served (api/report_routes.py), under the report routes."""
    return f"/reports/scheduled/{summary_id}.{fmt}"


async def get(summary_id: int) -> Stored | None:
    row = await ScheduledSummary.get_or_none(id=summary_id)
    return Stored.of(row) if row is not None else None
