"""The ASGI app: GraphQL on /graphql (HTTP and graphql-transport-ws), gate devices on /devices/ws."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from api import db
from api.settings import Settings
from devices.endpoint import device_endpoint
from devices.hub import DeviceHub
from resolvers import sessions
from resolvers.runtime import Runtime
from schema.context import Context
from schema.schema import schema

log = logging.getLogger("gatehouse")


class GatehouseGraphQL(GraphQL[Context, None]):
    def __init__(self, rt: Runtime) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if rt.settings.graphiql else None,
            allow_queries_via_get=False,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        )
        self.rt = rt

    async def get_context(self, request: Request | WebSocket, response: Response | Any = None) -> Context:
        actor = None
        if isinstance(request, Request):
            actor = await sessions.actor_from_bearer(self.rt, request.headers.get("authorization"))
        return Context(request=request, response=response, rt=self.rt, actor=actor)

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        context.actor = await sessions.actor_from_bearer(self.rt, header if isinstance(header, str) else None)
        return await super().on_ws_connect(context)


async def health(request: Request) -> JSONResponse:
    hub: DeviceHub = request.app.state.device_hub
    return JSONResponse({"status": "ok", "devicesConnected": hub.connected})


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    rt = Runtime.create(settings)
    hub = DeviceHub(rt.bus)
    graphql = GatehouseGraphQL(rt)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        applied = await db.start(settings.database_url)
        if applied:
            log.info("database migrated: %s", ", ".join(applied))
        await rt.start()
        await hub.start()
        # Everything imported and loaded: freeze it so the GC does not rescan it on the scan path.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await hub.stop()
            await rt.stop()
            await db.close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            WebSocketRoute("/devices/ws", device_endpoint),
            Route("/healthz", health),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.device_hub = hub
    return app
