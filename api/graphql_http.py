"""GraphQL over HTTP and graphql-transport-ws on /graphql: Strawberry's ASGI view and the caller's
bearer token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from resolvers.people import sessions
from resolvers.runtime import Runtime
from schema.core.context import Context
from schema.root import schema


class GatehouseGraphQL(GraphQL[Context, None]):
    """/graphql over HTTP and graphql-transport-ws, the caller taken from its bearer token."""

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

    async def process_result(self, request: Request, result: Any) -> Any:
        data = await super().process_result(request, result)
        # Errors raised before execution (a syntax error) skip the schema's extensions: code them here.
        for error in (data.get("errors") or []) if isinstance(data, dict) else []:
            if isinstance(error, dict) and not (error.get("extensions") or {}).get("code"):
                error.setdefault("extensions", {})["code"] = "GRAPHQL_PARSE_FAILED"
        return data

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        context.actor = await sessions.actor_from_bearer(self.rt, header if isinstance(header, str) else None)
        return await super().on_ws_connect(context)
