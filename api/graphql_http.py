"""GraphQL over HTTP and graphql-transport-ws on /graphql: Strawberry's ASGI view, the caller's
bearer token, and both response media types of the GraphQL-over-HTTP spec.

`application/json` stays the answer for every client that does not ask otherwise (no `Accept`,
`*/*`, or `application/json`, as the shipped apps send): status 200 and `data: null` on a request
error, exactly as before. A client that prefers `application/graphql-response+json` gets that media
type, and a request error (the document fails to parse or validate, or a variable fails to coerce)
is then answered 400 without a `data` entry, so it can tell "my request is wrong" from "a field
failed" by the status alone. Field errors are 200 with `data` in both media types.

Before anything runs, the edge bounds what one request may cost (issue 11): the body is read up
to GATEHOUSE_MAX_BODY_BYTES and refused (413) past it, before JSON parsing or the token look-up;
each distinct document gets a cached verdict (schema/core/limits.py: tokens, depth, aliases,
root fields), its cost under the request's variables is summed (anonymous callers, who may only
call OPEN_ROOT_FIELDS, get a small budget), introspection is for signed-in staff (or while
GraphiQL is on), with GATEHOUSE_TRUSTED_DOCUMENTS=1 only the apps' documents run (sent in full
or by `persistedQuery.sha256Hash`; schema/core/trusted.py) except for ADMIN, and a query runs
under a time budget (GATEHOUSE_OPERATION_SECONDS). Every refusal is a GraphQL error with
`extensions.code` (BAD_USER_INPUT plus `extensions.limit` naming the limit, or FORBIDDEN), never
a 500. What may run is decided in api/admission.py, for this and for the WebSocket
(api/graphql_ws.py, which also bounds what one connection may cost).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections import Counter
from typing import Any

from cross_web import AsyncHTTPRequestAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.execution import ExecutionResult
from strawberry.types.unset import UNSET

from api import graphql_ws, heavy_pacing, web_routes
from api.admission import OPEN_ROOT_FIELDS as OPEN_ROOT_FIELDS
from api.admission import Admission, admit, over_time, shows_schema, without_suggestions
from api.admission import open_root_fields as open_root_fields
from resolvers.core.addresses import client_address
from resolvers.core.errors import ErrorCode
from resolvers.faces.encoding import MAX_PHOTO_BYTES
from resolvers.people import sessions
from resolvers.runtime import Runtime
from schema.core import limits
from schema.core.context import Context
from schema.root import schema

# A photo's base64 (4/3 of 512 KiB) and the rest of the request around it.
PHOTO_BODY_BYTES = MAX_PHOTO_BYTES * 4 // 3 + 16 * 1024

log = logging.getLogger("gatehouse.graphql")

APPLICATION_JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

# Media ranges that application/json satisfies, by specificity: the most specific one present sets
# its quality (RFC 9110 §12.5.1). Wildcards never select graphql-response+json: the spec keeps
# application/json the default for them until its "watershed".
_JSON_RANGES = {APPLICATION_JSON: 2, "application/*": 1, "*/*": 0}


def _quality(params: str) -> float | None:
    """The `q` of one Accept entry (1 when absent); None when it cannot be read."""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
            return q if 0 <= q <= 1 else None
    return 1.0


def response_media_type(accept: str | None) -> str:
    """The media type to answer with, given the request's `Accept` header.

    graphql-response+json when the client names it with a quality above zero and ranks it above
    whatever application/json would satisfy (higher q, then a named type over a wildcard, then
    the earlier entry); application/json otherwise — also when nothing listed is one we speak,
    which the spec allows instead of a 406 and which is how this server has always answered.
    """
    graphql: tuple[float, int, int] | None = None
    json: tuple[float, int, int] | None = None
    for index, entry in enumerate((accept or "").split(",")):
        media_range, _, params = entry.partition(";")
        media_range = media_range.strip().lower()
        q = _quality(params)
        if q is None:
            continue
        if media_range == GRAPHQL_RESPONSE_JSON:
            if graphql is None:
                graphql = (q, 2, -index)
        elif media_range in _JSON_RANGES:
            specificity = _JSON_RANGES[media_range]
            if json is None or specificity > json[1]:
                json = (q, specificity, -index)
    if graphql is not None and graphql[0] > 0 and (json is None or graphql > json):
        return GRAPHQL_RESPONSE_JSON
    return APPLICATION_JSON


def is_request_error(body: GraphQLHTTPResponse) -> bool:
    """A request error in the spec's sense: raised before execution, so no `data` and no error
    has a `path`. (A non-null root field that fails also nulls `data`, but its error has a path:
    that is a field error, answered 200.)"""
    errors = body.get("errors") or []
    return body.get("data") is None and bool(errors) and not any(isinstance(e, dict) and "path" in e for e in errors)


def _refusal_response(status: int, message: str, limit: str, hang_up: bool = False) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": ErrorCode.BAD_USER_INPUT.value, "limit": limit}}]}
    headers = {"Connection": "close"} if hang_up else None
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


# An oversized body is answered 413 and the rest of it read and dropped (so the client can read the
# answer: it is still sending). An address that keeps sending them is hung up on instead (RFC 9110
# 15.5.14): reading 16 MiB per request in a loop cost the server more than anything else it refused.
# The hang-up waits a moment first: reading nothing meanwhile, so the client's upload stalls instead of
# starting over at once on a new connection (measured: ~150 uploads of megabytes a second otherwise).
DRAINED_PER_ADDRESS, DRAINED_WINDOW_SECONDS, HANG_UP_HOLD_SECONDS = 10, 10.0, 1.0
_oversized: dict[str, list[float]] = {}  # client address -> times of its oversized bodies in the window


def _hang_up_on(request: Request, trusted_proxies: frozenset[str]) -> bool:
    """Note one more oversized body from the request's address; True when it is past the drained ones.
    Behind a trusted proxy the address is the client's (X-Forwarded-For): counting the proxy would
    hang up on every client because of one."""
    peer = request.client.host if request.client is not None else "unknown"
    address = client_address(peer, request.headers.get("x-forwarded-for"), trusted_proxies)
    now = time.monotonic()
    recent = [t for t in _oversized.get(address, ()) if now - t < DRAINED_WINDOW_SECONDS][-DRAINED_PER_ADDRESS:]
    recent.append(now)
    if len(_oversized) > 10_000:
        _oversized.clear()
    _oversized[address] = recent
    return len(recent) > DRAINED_PER_ADDRESS


def _refused_document(body: bytes) -> bool:
    """The body is one operation whose document limits.analyse refuses (checked again, and answered,
    in execute_single). Small bodies are not looked at: too small to be worth a second parse."""
    if len(body) < 1024:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    query = data.get("query") if isinstance(data, dict) else None
    return isinstance(query, str) and limits.analyse(query).refusal is not None


class GatehouseGraphQL(GraphQL[Context, None]):
    """/graphql over HTTP and graphql-transport-ws, the caller taken from its bearer token."""

    # The WebSocket side checks what the HTTP side checks (api/graphql_ws.py).
    websocket_adapter_class = graphql_ws.LimitedWebSocketAdapter
    graphql_transport_ws_handler_class = graphql_ws.LimitedTransportWSHandler

    def __init__(self, rt: Runtime) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if rt.settings.graphiql else None,
            allow_queries_via_get=False,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            connection_init_wait_timeout=graphql_ws.connection_init_timeout(),
            max_subscriptions_per_connection=graphql_ws.MAX_SUBSCRIPTIONS,
        )
        self.rt = rt
        self.ws_holders: Counter[str] = Counter()  # session or address -> its GraphQL WebSockets (this worker)
        self._pacer = heavy_pacing.HeavyPacer()

    async def render_graphql_ide(self, request: Request) -> Response:
        # GraphiQL from web/dist (bundled from npm), not Strawberry's page, which loads it from a CDN.
        return web_routes.graphiql_page(request)

    async def run(self, request: Request | WebSocket, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        if isinstance(request, Request) and request.method == "POST":
            refusal = await self._read_capped_body(request)
            if refusal is not None:
                return refusal
            request.state.gatehouse_refused_document = _refused_document(request._body)
        return await super().run(request, context, root_value)

    async def _read_capped_body(self, request: Request) -> Response | None:
        """Read the body up to the limit, refusing (413) as soon as it is exceeded: a 16 MiB variable
        is never buffered, parsed or even looked at, signed in or not."""
        limit = self.rt.settings.max_body_bytes
        raised = False
        message = f"the request body is larger than {limit} bytes"
        declared = request.headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            limit, raised = await self._photo_limit(request, limit), True
            if int(declared) > limit:
                return await self._oversized(request, message)
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit and not raised:
                limit, raised = await self._photo_limit(request, limit), True
            if size > limit:
                return await self._oversized(request, message)
            chunks.append(chunk)
        # Starlette's Request.body() answers from `_body` once set: Strawberry reads this copy.
        request._body = b"".join(chunks)
        return None

    async def _photo_limit(self, request: Request, limit: int) -> int:
        """A face photo (enrolMyFace, enrolFace: up to 512 KiB, ~700 KiB as base64) needs a larger
        body than any other request: allowed to a signed-in caller only, asked only past `limit`."""
        if await sessions.actor_from_bearer(self.rt, request.headers.get("authorization")) is None:
            return limit
        return max(limit, PHOTO_BODY_BYTES)

    async def _oversized(self, request: Request, message: str) -> Response:
        hang_up = _hang_up_on(request, self.rt.settings.trusted_proxies)
        if hang_up:
            await asyncio.sleep(HANG_UP_HOLD_SECONDS)
        return _refusal_response(413, message, "body", hang_up)

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        actor = context.actor
        request.state.gatehouse_show_schema = shows_schema(self.rt.settings, actor)
        admission = admit(
            self.rt.settings,
            actor,
            request_data.query,
            request_data.operation_name,
            request_data.variables,
            request_data.extensions,
        )
        if admission.refusal is not None:
            return ExecutionResult(data=None, errors=[admission.refusal])
        if admission.query is not None and admission.query != request_data.query:
            request_data = dataclasses.replace(request_data, query=admission.query)  # a persisted query's text
        try:
            async with self._pacer.turn(admission.cost):  # gates first (api/heavy_pacing.py)
                return await self._run(
                    request, request_adapter, sub_response, context, root_value, request_data, admission
                )
        except heavy_pacing.Busy as busy:
            return ExecutionResult(data=None, errors=[busy.error()])

    async def _run(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
        admission: Admission,
    ) -> ExecutionResult:
        """The operation, a query under its time budget."""
        if admission.kind != "query":
            # Mutations are not cancelled half-way (their writes are bounded by the limits above).
            return await super().execute_single(
                request, request_adapter, sub_response, context, root_value, request_data
            )
        seconds = self.rt.settings.operation_seconds
        try:
            async with asyncio.timeout(seconds):
                return await super().execute_single(
                    request, request_adapter, sub_response, context, root_value, request_data
                )
        except TimeoutError:
            log.warning("a query ran over its %s s budget and was cancelled", seconds)
            return ExecutionResult(data=None, errors=[over_time(seconds)])

    async def get_context(self, request: Request | WebSocket, response: Response | Any = None) -> Context:
        actor = None
        # A document the limits refuse is answered without the caller (no session look-up on the
        # database the gates' scans use: issue 11's abusive documents come in loops).
        if isinstance(request, Request) and not getattr(request.state, "gatehouse_refused_document", False):
            actor = await sessions.actor_from_bearer(self.rt, request.headers.get("authorization"))
        return Context(request=request, response=response, rt=self.rt, actor=actor)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        # Negotiated once per request; the sub-response's media type is the one the answer will carry.
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    async def process_result(self, request: Request, result: Any) -> Any:
        data = await super().process_result(request, result)
        show_schema = bool(getattr(request.state, "gatehouse_show_schema", False))
        # Errors raised before execution (a syntax error) skip the schema's extensions: code them here.
        for error in (data.get("errors") or []) if isinstance(data, dict) else []:
            if isinstance(error, dict) and not (error.get("extensions") or {}).get("code"):
                error.setdefault("extensions", {})["code"] = "GRAPHQL_PARSE_FAILED"
            if isinstance(error, dict) and not show_schema and isinstance(error.get("message"), str):
                error["message"] = without_suggestions(error["message"])
        return data

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        graphql_response = sub_response.media_type == GRAPHQL_RESPONSE_JSON
        request_error = isinstance(response_data, dict) and is_request_error(response_data)
        if graphql_response and request_error and isinstance(response_data, dict):
            # The GraphQL spec leaves `data` out when execution never started; application/json
            # clients have always read `data: null`, so only this media type drops it.
            response_data.pop("data", None)
        response = super().create_response(response_data, sub_response)
        # The body depends on Accept: a cache between client and server must key on it.
        response.headers.add_vary_header("Accept")
        if graphql_response:
            response.headers["content-type"] = GRAPHQL_RESPONSE_JSON
            if request_error:
                response.status_code = 400
        return response

    async def on_ws_connect(self, context: Context) -> Any:
        params = context.connection_params or {}
        header = params.get("authorization") or params.get("Authorization")
        context.actor = await sessions.actor_from_bearer(self.rt, header if isinstance(header, str) else None)
        return await super().on_ws_connect(context)
