"""`/reports/...`: exports and charts, authorised like the queries (bearer token, roles,
department heads limited to their own department)."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.drawing import DrawingBusy, drawer
from resolvers.access import grants
from resolvers.attendance import report_files, reports, summaries
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, is_id
from resolvers.core.models import Role
from resolvers.core.models.people import REPORT_READERS
from resolvers.people import sessions
from resolvers.runtime import Runtime

READERS = REPORT_READERS
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
}
SERIES = {"visitor-flow", "entries", "attendance-rate", "stock-in", "stock-out"}
DEPARTMENT_SCOPED = {"attendance", "entries", "attendance-rate"}


def _error(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "field": field}, status_code=status)


def _day(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    try:
        if raw is None or len(raw) != 10:
            raise ValueError
        return date.fromisoformat(raw)
    except ValueError:
        raise UserError(ErrorCode.INVALID, f"{name} must be a day, YYYY-MM-DD", name) from None


async def _department(request: Request, actor: Actor, report: str) -> int | None:
    raw = request.query_params.get("departmentId")
    if raw is not None and not is_id(raw):
        raise UserError(ErrorCode.INVALID, "departmentId must be an id", "departmentId")
    wanted = int(raw) if raw is not None else None
    if actor.has_any(*READERS):
        return wanted
    if report not in DEPARTMENT_SCOPED:
        raise PermissionError
    headed = await grants.headed_departments(actor)
    if wanted is None and len(headed) == 1:
        return next(iter(headed))
    if wanted not in headed:
        raise PermissionError
    return wanted


async def report_file(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    actor = await sessions.actor_from_bearer(rt, request.headers.get("authorization"))
    if actor is None:
        return _error(401, "UNAUTHENTICATED", "sign in first")
    if not actor.has_any(*READERS, Role.DEPARTMENT_HEAD):
        return _error(403, "FORBIDDEN", "your role may not read reports")
    name, fmt = request.path_params["name"], request.path_params["fmt"]
    allowed = {"attendance": {"csv", "xlsx"}, "summary": {"pdf"}}.get(name, {"csv", "xlsx", "png", "svg"})
    if (name not in SERIES | {"attendance", "summary"}) or fmt not in allowed:
        return _error(404, "NOT_FOUND", f"no report {name}.{fmt}")
    try:
        department = await _department(request, actor, name)
        first, last = _day(request, "from"), _day(request, "to")
        if name == "attendance":
            body = report_files.attendance_table(await reports.attendance_lines(rt, first, last, department), fmt)
        elif name == "summary":
            body = await drawer.draw(report_files.summary_pdf, await reports.summary(rt, first, last))
        else:
            by = request.query_params.get("by", "day")
            if name == "visitor-flow":
                series = await reports.visitor_flow(rt, first, last, by)
            elif name == "entries":
                series = await reports.passages(rt, first, last, by, department)
            elif name in ("stock-in", "stock-out"):
                series = await reports.stock_flow(rt, first, last, by, name.removeprefix("stock-"))
            else:
                series = await reports.attendance_rate(rt, first, last, department)
            if fmt in ("svg", "png"):
                chart = report_files.chart_svg if fmt == "svg" else report_files.chart_png
                body = await drawer.draw(chart, series)
            else:
                body = report_files.series_table(series, fmt)
    except UserError as exc:
        return _error(400, "BAD_USER_INPUT", exc.message, exc.field)
    except PermissionError:
        return _error(403, "FORBIDDEN", "department heads read their own department's reports only")
    except DrawingBusy as exc:
        return exc.response()
    headers = {"Content-Disposition": f'attachment; filename="{name}-{first}-{last}.{fmt}"'}
    return Response(body, media_type=MEDIA[fmt], headers=headers)


async def scheduled_file(request: Request) -> Response:
    """A kept scheduled summary (resolvers/attendance/summaries.py) as PDF or CSV: site-wide
    figures, so for the readers of site-wide reports (as summary.pdf), not department heads."""
    rt: Runtime = request.app.state.runtime
    actor = await sessions.actor_from_bearer(rt, request.headers.get("authorization"))
    if actor is None:
        return _error(401, "UNAUTHENTICATED", "sign in first")
    if not actor.has_any(*READERS):
        return _error(403, "FORBIDDEN", "your role may not read scheduled summaries")
    fmt = request.path_params["fmt"]
    summary = await summaries.get(request.path_params["summary_id"])
    if summary is None or fmt not in ("pdf", "csv"):
        return _error(404, "NOT_FOUND", "no such scheduled summary")
    try:
        body = (
            await drawer.draw(report_files.scheduled_pdf, summary, rt.settings.tz)
            if fmt == "pdf"
            else report_files.scheduled_csv(summary)
        )
    except DrawingBusy as exc:
        return exc.response()
    name = f"{summary.kind.lower()}-summary-{summary.first}"
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return Response(body, media_type=MEDIA[fmt], headers=headers)


routes = [
    Route(summaries.download_path("{summary_id:int}", "{fmt:str}"), scheduled_file),
    Route("/reports/{name:str}.{fmt:str}", report_file),
]
