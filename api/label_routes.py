"""`/labels.png` and `/labels.pdf?assets=1,2,3`: printable QR label sheets for the warehouse."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from resolvers.core.errors import is_id
from resolvers.core.models import Asset, Item, Role
from resolvers.items import catalogue as items
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
    ids = [int(p) for p in parts]
    assets = {a.id: a for a in await Asset.filter(id__in=ids)}
    if len(assets) != len(set(ids)):
        return JSONResponse({"error": "NOT_FOUND", "message": "no such asset", "field": "assets"}, status_code=404)
    names = {i.id: i.name for i in await Item.filter(id__in={a.item_id for a in assets.values()})}
    codes = [(items.label_code(rt, "A", i), f"{names[assets[i].item_id]} #{i}") for i in ids]
    if request.path_params["fmt"] == "png":
        return Response(items.label_sheet_png(codes), media_type="image/png")
    return Response(items.label_sheet_pdf(codes), media_type="application/pdf")


routes = [Route("/labels.{fmt:str}", label_sheet)]
