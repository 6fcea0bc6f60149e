"""`/labels.png` and `/labels.pdf?assets=1,2,3`: printable QR label sheets for the warehouse."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api.drawing import DrawingBusy, drawer
from resolvers.core.errors import UserError, is_id
from resolvers.core.models import Role
from resolvers.items import catalogue as items
from resolvers.items import labels
from resolvers.people import sessions
from resolvers.runtime import Runtime

PRINTERS = frozenset({Role.ADMIN, Role.WAREHOUSE, Role.ASSET_MANAGER})
MAX_LABELS = 300


async def label_sheet(request: Request) -> Response:
    if request.path_params["fmt"] not in ("png", "pdf"):
        return JSONResponse({"error": "NOT_FOUND", "message": "labels.png or labels.pdf"}, status_code=404)
    rt: Runtime = request.app.state.runtime
    actor = await sessions.actor_from_bearer(rt, request.headers.get("authorization"))
    if actor is None:
        return JSONResponse({"error": "UNAUTHENTICATED", "message": "sign in first"}, status_code=401)
    if not actor.has_any(*PRINTERS):
        return JSONResponse({"error": "FORBIDDEN", "message": "the warehouse prints labels"}, status_code=403)
    raw = request.query_params.get("assets", "")
    parts = [p for p in raw.split(",") if p]
    if not parts or len(parts) > MAX_LABELS or not all(is_id(p) and len(p) < 12 for p in parts):
        return JSONResponse(
            {"error": "BAD_USER_INPUT", "message": f"assets=1,2,3 (1 to {MAX_LABELS} ids)", "field": "assets"},
            status_code=400,
        )
    try:
        codes = await labels.asset_labels(rt, [int(p) for p in parts])
    except UserError as exc:
        return JSONResponse({"error": exc.code, "message": exc.message, "field": exc.field}, status_code=404)
    png = request.path_params["fmt"] == "png"
    render, media = (items.label_sheet_png, "image/png") if png else (items.label_sheet_pdf, "application/pdf")
    try:
        return Response(await drawer.draw(render, codes), media_type=media)
    except DrawingBusy as exc:
        return exc.response()


routes = [Route("/labels.{fmt:str}", label_sheet)]
