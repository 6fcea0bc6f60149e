"""`/supervision/inspections/{id}.pdf`: a reported inspection's report, authorised as the
supervision queries are (bearer token; the team, admins, auditors, security and executives, and
the inspection's own lead and members)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.drawing import DrawingBusy, drawer
from resolvers.core.models import Inspection, InspectionStatus, Role
from resolvers.people import sessions
from resolvers.runtime import Runtime
from resolvers.supervision import inspections, report

READERS = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR, Role.SECURITY_ADMIN, Role.EXECUTIVE})


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "field": None}, status_code=status)


def path(inspection_id: int | str) -> str:
    return f"/supervision/inspections/{inspection_id}.pdf"


async def report_file(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    actor = await sessions.actor_from_bearer(rt, request.headers.get("authorization"))
    if actor is None:
        return _error(401, "UNAUTHENTICATED", "sign in first")
    inspection = await Inspection.get_or_none(id=request.path_params["inspection_id"])
    if inspection is None:
        # Told apart from a refusal only for those who may read reports at all.
        if actor.has_any(*READERS):
            return _error(404, "NOT_FOUND", "no such inspection")
        return _error(403, "FORBIDDEN", "your role may not read inspection reports")
    if not (actor.has_any(*READERS) or inspections.may_work_on(actor, inspection)):
        return _error(403, "FORBIDDEN", "your role may not read inspection reports")
    if inspection.status != InspectionStatus.REPORTED:
        return _error(409, "CONFLICT", "this inspection is not reported yet")
    try:
        body = await drawer.draw(report.pdf, await report.contents(inspection))
    except DrawingBusy as exc:
        return exc.response()
    headers = {"Content-Disposition": f'attachment; filename="inspection-{inspection.id}.pdf"'}
    return Response(body, media_type="application/pdf", headers=headers)


routes = [Route(path("{inspection_id:int}"), report_file)]
