"""The ASGI app: GraphQL on /graphql (HTTP and graphql-transport-ws), gate devices on /devices/ws."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from api import graphql_ws, health, label_routes, logs, report_routes, sql_log, supervision_routes, web_routes
from api.collector import QuietCollector
from api.drawing import DrawingBusy, drawer
from api.graphql_http import GatehouseGraphQL
from devices.endpoint import DeviceEndpoint, gates_scanning
from devices.hub import DeviceHub
from realtime import metrics
from resolvers.attendance.anomalies import AnomalyDetector
from resolvers.core import db, fonts
from resolvers.core.errors import UserError
from resolvers.core.leadership import Leadership
from resolvers.core.settings import Settings
from resolvers.core.wal_checkpoints import WalCheckpointer
from resolvers.devices import snapshots
from resolvers.devices.fleet import FleetCheck, FleetUpkeep
from resolvers.faces.encoding import encoder as face_encoder
from resolvers.notifications import sender as notification_sender
from resolvers.notifications.channels import registry as notification_channels
from resolvers.ops.schedule import BackupSchedule
from resolvers.people import sessions
from resolvers.runtime import Runtime
from resolvers.supervision.upkeep import SupervisionUpkeep
from resolvers.visits import badges
from resolvers.visits.upkeep import VisitUpkeep
from schema.core.permissions import GATE_STAFF

log = logging.getLogger("gatehouse")


async def badge_file(request: Request) -> Response:
    """A visitor's printed badge (PNG or PDF), for gate staff holding a bearer token."""
    rt: Runtime = request.app.state.runtime
    actor = await sessions.actor_from_bearer(rt, request.headers.get("authorization"))
    if actor is None:
        return JSONResponse({"error": "UNAUTHENTICATED", "message": "sign in first"}, status_code=401)
    if not actor.has_any(*GATE_STAFF):
        return JSONResponse({"error": "FORBIDDEN", "message": "only gate staff print badges"}, status_code=403)
    fmt = request.path_params["fmt"]
    try:
        badge = await badges.current(rt, request.path_params["visit_id"])
    except UserError as exc:
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=404)
    render, media = (badges.render_png, "image/png") if fmt == "png" else (badges.render_pdf, "application/pdf")
    try:
        return Response(await drawer.draw(render, badge, rt.settings.tz), media_type=media)
    except DrawingBusy as exc:
        return exc.response()


# The filter lives with the rest of the logging set-up (api/logs.py), which installs it at start too.
_NoConnectionLines = logs.NoConnectionLines


def quiet_connection_logs() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _NoConnectionLines) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_NoConnectionLines())
    # The same lines when the websockets library logs under its own name.
    logging.getLogger("websockets.server").setLevel(logging.WARNING)


def leadership_logs() -> None:
    """Which worker leads (and when that changes) is a line in the server's log, as uvicorn's own
    lines are: uvicorn configures only its loggers, so without a handler these INFO lines were
    dropped. Left alone when the deployment configures logging itself (a root handler)."""
    lead_log = logging.getLogger("gatehouse.leadership")
    if lead_log.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    lead_log.addHandler(handler)
    lead_log.setLevel(logging.INFO)
    lead_log.propagate = False


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    quiet_connection_logs()
    # Python's warnings as log lines (time, level, JSON when asked), in every worker process.
    logging.captureWarnings(True)
    leadership_logs()
    rt = Runtime.create(settings)
    rt.draw = drawer.draw  # a summary's emailed PDF is drawn where the downloads are
    hub = DeviceHub(rt.bus, lambda device_id, face_key: snapshots.signed_frame(rt, device_id, face_key))
    # Site-wide loops run in the one leading worker (README "Several workers"); the rest in each.
    leadership = Leadership.for_settings(settings)
    upkeep = leadership.only(VisitUpkeep(rt))
    fleet_check = leadership.only(FleetCheck(rt))
    fleet = FleetUpkeep(rt)
    backups = leadership.only(BackupSchedule(rt))  # nothing runs unless GATEHOUSE_BACKUP_DIR is set
    supervision = leadership.only(SupervisionUpkeep(rt))  # periodic inspections, overdue notices
    anomalies = AnomalyDetector(rt)
    # The outbox's sender (README "Notifications"): one worker sends; /readyz shows channels as detail.
    notifications = leadership.only(notification_sender.Sender(rt))
    if notification_channels.channels_of(rt):
        rt.readiness.add("notifications", notification_sender.readiness_check(rt))
    graphql = GatehouseGraphQL(rt)
    # Full collections when no gate has scanned for a few seconds (api/collector.py).
    collector = QuietCollector(lambda: not gates_scanning(5.0))
    # SQLite's WAL checkpoints off the gate events' commits (resolvers/core/wal_checkpoints.py).
    checkpoints = WalCheckpointer()
    # Gauges read from their owners when metrics are rendered (api/health.py), never kept on the scan path.
    metrics.probe(metrics.DEVICES_CONNECTED, lambda: hub.connected)
    metrics.probe(metrics.QUEUE_DEPTH, lambda: rt.events.queued, "event_log")
    metrics.probe(metrics.QUEUE_DEPTH, lambda: rt.bus.queued, "bus_publish")
    metrics.probe(metrics.QUEUE_DEPTH, lambda: drawer.waiting, "drawing")
    metrics.probe(metrics.SQLITE_WAL_PAGES, lambda: checkpoints.pages)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.sql_log is not None:
            sql_log.enable(settings.sql_log)
        # The print font, found now: a wrong GATEHOUSE_FONT stops the start with its reason, and a
        # machine without a CJK font says so in the start-up log rather than at the first badge.
        await asyncio.to_thread(fonts.face)
        applied = await db.start(settings.database_url)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        await checkpoints.start()
        await rt.start()
        rt.events.listeners.append(anomalies.on_events)
        await hub.start()
        await upkeep.start()
        await fleet_check.start()
        await leadership.start()
        await fleet.start()
        await backups.start()
        await supervision.start()
        await notifications.start()
        collector.start()
        # With several workers each writes its gauges for the worker a scrape lands on.
        refresher = asyncio.create_task(metrics.refresh_loop()) if metrics.MULTIPROCESS else None
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
            health.worker_stopped()
            await collector.stop()
            await notifications.stop()
            await supervision.stop()
            await backups.stop()
            await fleet.stop()
            await leadership.stop()  # its loops first, then the lock: another worker takes over now
            await fleet_check.stop()
            await upkeep.stop()
            await hub.stop()
            await rt.stop()
            await checkpoints.stop()
            await db.close()
            drawer.stop()
            face_encoder.stop()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            WebSocketRoute(DeviceEndpoint.PATH, DeviceEndpoint(rt, hub, anomalies).serve),
            Route("/badges/{visit_id:int}.{fmt:str}", badge_file),
            *report_routes.routes,
            *supervision_routes.routes,
            *label_routes.routes,
            Route("/healthz", health.healthz),
            Route("/readyz", health.readyz),
            Route("/metrics", health.metrics_route),
            *web_routes.routes,
        ],
        # Guards' live events are written to their sockets directly (api/graphql_ws.py DirectFrames):
        # outermost, so it keeps the server's own send before anything wraps it. Then request ids
        # for the log lines (api/logs.py), then CORS.
        middleware=[Middleware(graphql_ws.KeepRawSend), Middleware(logs.RequestIds), *web_routes.middleware(settings)],
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.device_hub = hub
    app.state.leadership = leadership  # is_leader, identity, leader (host:pid) for /readyz
    return app
