"""The operation limits, trusted documents and introspection rules hold on the GraphQL WebSocket
too (graphql-transport-ws on /graphql), and one connection's cost is bounded (issue 11).

Raw `websockets` clients speak the protocol here so that every message and close code is seen
as sent; the guard's contract subscription also runs through the `gql` client the apps'
tests use. A refusal is an `error` message for the operation's id, with the `extensions.code`
(and `extensions.limit`) HTTP gives for the same document, and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections import defaultdict
from types import TracebackType
from typing import Any

import pytest
import websockets
from graphql import OperationDefinitionNode, parse

from api import graphql_ws
from mobile_contracts import documents
from schema.core import limits
from tests.harness import Demo, GraphQLClient, GuardFeed, ServerProcess, Site, eventually
from tests.test_scan_e2e import MAINTENANCE, connected

PROTOCOL = "graphql-transport-ws"


def written(file: str, name: str) -> str:
    """One operation of a contract file, exactly as written there."""
    text = documents()[file]
    for definition in parse(text).definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.name and definition.name.value == name:
            assert definition.loc is not None
            return text[definition.loc.start : definition.loc.end]
    raise AssertionError(f"{name} is not in {file}")


def codes(errors: list[dict[str, Any]]) -> list[tuple[str | None, str | None]]:
    return [((e.get("extensions") or {}).get("code"), (e.get("extensions") or {}).get("limit")) for e in errors]


class Socket:
    """One graphql-transport-ws connection; messages for each operation id kept apart."""

    def __init__(self, server: ServerProcess, token: str | None = None, init: bool = True) -> None:
        self.server = server
        self.token = token
        self.init = init
        self.by_id: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.pongs = 0
        self.ws: Any = None
        self._ids = 0

    async def __aenter__(self) -> Socket:
        self.ws = await websockets.connect(self.server.ws + "/graphql", subprotocols=[PROTOCOL], max_size=None)
        if self.init:
            payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
            await self.send({"type": "connection_init", "payload": payload})
            ack = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
            assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.ws.close()

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.ws.send(message if isinstance(message, str) else json.dumps(message))

    async def _read(self, timeout: float = 10) -> None:
        message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if message["type"] == "pong":
            self.pongs += 1
        elif "id" in message:
            self.by_id[message["id"]].append(message)

    async def subscribe(self, query: str | None = None, **payload: Any) -> str:
        self._ids += 1
        operation_id = str(self._ids)
        if query is not None:
            payload["query"] = query
        await self.send({"id": operation_id, "type": "subscribe", "payload": payload})
        return operation_id

    async def first(self, operation_id: str, timeout: float = 10) -> dict[str, Any]:
        """The first message for the operation (`next` or `error`)."""
        async with asyncio.timeout(timeout):
            while not self.by_id[operation_id]:
                await self._read()
        return self.by_id[operation_id][0]

    async def refused(self, query: str | None = None, **payload: Any) -> list[tuple[str | None, str | None]]:
        message = await self.first(await self.subscribe(query, **payload))
        assert message["type"] == "error", message
        return codes(message["payload"])

    async def data(self, query: str | None = None, **payload: Any) -> Any:
        message = await self.first(await self.subscribe(query, **payload))
        assert message["type"] == "next" and not message["payload"].get("errors"), message
        return message["payload"]["data"]

    async def admitted(self, *operation_ids: str) -> None:
        """Nothing was refused: a refusal is sent while the `subscribe` is handled, before the
        server reads the next message, so it would precede the answer to this ping."""
        pongs = self.pongs
        await self.send({"type": "ping"})
        async with asyncio.timeout(10):
            while self.pongs == pongs:
                await self._read()
        for operation_id in operation_ids:
            assert all(m["type"] != "error" for m in self.by_id[operation_id]), self.by_id[operation_id]

    async def closed(self, timeout: float = 15) -> int | None:
        """The close code the server ends the connection with (other messages are skipped)."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    await self.ws.recv()
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None


def deep_subscription(levels: int) -> str:
    nested = "id"
    for _ in range(levels):
        nested = f"department {{ head {{ {nested} }} }}"
    return "subscription { gateEvents { person { " + nested + " } } }"


async def test_a_refused_operation_gets_the_http_code_and_the_connection_stays(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    guard = demo.tokens["guard"]
    aliased = "subscription { gateEvents { " + " ".join(f"a{i}: id" for i in range(limits.MAX_ALIASES + 1)) + " } }"
    deep = deep_subscription(6)
    roots = "{" + " ".join(f"a{i}: __typename" for i in range(limits.MAX_ROOT_FIELDS + 1)) + "}"
    tokens = "{" + " __typename" * (limits.MAX_TOKENS + 1) + "}"
    fields = "mutation {" + " __typename" * (limits.MAX_FIELDS + 1) + "}"
    costly = "query($n:Int!){people(first:$n){edges{node{hostedVisits(first:$n){edges{node{id}}}}}}}"
    # Over HTTP first: the WebSocket must give the same answers.
    assert codes((await api(deep, as_="guard"))["errors"]) == [("BAD_USER_INPUT", "depth")]
    assert codes((await api(costly, {"n": 100}, as_="admin"))["errors"]) == [("BAD_USER_INPUT", "cost")]

    async with Socket(server, guard) as ws:
        assert await ws.refused(aliased) == [("BAD_USER_INPUT", "aliases")]
        assert await ws.refused(deep) == [("BAD_USER_INPUT", "depth")]
        # Queries and mutations over the socket are held to the same limits.
        assert await ws.refused(roots) == [("BAD_USER_INPUT", "rootFields")]
        assert await ws.refused(tokens) == [("BAD_USER_INPUT", "tokens")]
        assert await ws.refused(fields) == [("BAD_USER_INPUT", "fields")]
        # The connection is still usable: a plain query and the guard's own subscription run.
        assert await ws.data("{ __typename }") == {"__typename": "Query"}
        feed = await ws.subscribe(written("guard.graphql", "GateEvents"))
        await ws.admitted(feed)
    async with Socket(server, demo.tokens["admin"]) as ws:
        assert await ws.refused(costly, variables={"n": 100}) == [("BAD_USER_INPUT", "cost")]
        assert (await ws.data(costly, variables={"n": 2}))["people"]["edges"]


async def test_introspection_and_suggestions_over_the_websocket_are_for_staff(
    server: ServerProcess, demo: Demo
) -> None:
    introspection = "{ __schema { queryType { name } } }"
    typo = 'mutation { login(usernme: "a", password: "b") { errors { code } } }'
    async with Socket(server) as anonymous:
        assert await anonymous.refused(introspection) == [("FORBIDDEN", None)]
        assert await anonymous.refused('{ __type(name: "Person") { fields { name } } }') == [("FORBIDDEN", None)]
        answer = await anonymous.first(await anonymous.subscribe(typo))
        assert answer["type"] == "error"
        assert "usernme" in answer["payload"][0]["message"]
        assert "Did you mean" not in answer["payload"][0]["message"]
        # Anonymous callers run only what anonymous clients need, on a small budget.
        aliased = (
            "mutation($u:String!,$p:String!){"
            + " ".join(f"l{i}: login(username:$u,password:$p){{errors{{code message field}}}}" for i in range(8))
            + "}"
        )
        assert await anonymous.refused(aliased, variables={"u": "nobody", "p": "x"}) == [("BAD_USER_INPUT", "cost")]
        assert await anonymous.data("{ __typename }") == {"__typename": "Query"}
    async with Socket(server, demo.tokens["alice"]) as employee:
        assert (await employee.data(introspection))["__schema"]["queryType"]["name"] == "Query"
        answer = await employee.first(await employee.subscribe(typo))
        assert "Did you mean 'username'?" in answer["payload"][0]["message"]


async def test_trusted_documents_over_the_websocket(sqlite_site: Site) -> None:
    demo = sqlite_site.demo
    assert demo is not None
    server = sqlite_site.start_server(GATEHOUSE_TRUSTED_DOCUMENTS="1")
    pass_tokens = written("visitor.graphql", "PassTokens")
    async with Socket(server, demo.tokens["dave"]) as dave:
        # The app's subscription in full (the whole file, with its operation name), or by hash.
        whole = await dave.data(documents()["visitor.graphql"], operationName="PassTokens")
        assert whole["passTokens"]["token"]
        digest = hashlib.sha256(pass_tokens.encode()).hexdigest()
        by_hash = await dave.data(extensions={"persistedQuery": {"version": 1, "sha256Hash": digest}})
        assert by_hash["passTokens"]["token"]
        unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
        assert await dave.refused(extensions=unknown) == [("BAD_USER_INPUT", None)]
        # Anything else is refused, subscription or query.
        assert await dave.refused("subscription { passTokens { token } }") == [("FORBIDDEN", None)]
        assert await dave.refused("{ me { id username } }") == [("FORBIDDEN", None)]
    async with Socket(server) as anonymous:
        assert await anonymous.refused("{ __typename }") == [("FORBIDDEN", None)]
    # ADMIN may run any document.
    async with Socket(server, demo.tokens["admin"]) as admin:
        assert (await admin.data("{ me { username } }"))["me"]["username"] == "admin"
        adhoc = await admin.subscribe("subscription { gateEvents { id reason } }")
        await admin.admitted(adhoc)
    # The guard's own gateEvents document delivers through the apps' client (gql), in full.
    async with (
        connected(server, demo.device_id, demo.device_secret) as gate,
        GuardFeed(server, demo.tokens["guard"], written("guard.graphql", "GateEvents")) as feed,
    ):
        await feed.ready(gate, demo.gates[MAINTENANCE])


async def test_one_connection_is_bounded(server: ServerProcess, demo: Demo) -> None:
    limit = 64 * 1024  # GATEHOUSE_MAX_BODY_BYTES, as for an HTTP body
    # A message just under the limit is served (one long comment is one token).
    async with Socket(server, demo.tokens["alice"]) as ws:
        envelope = len(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename } #"}}))
        padded = "{ __typename } #" + "x" * (limit - envelope)
        assert await ws.data(padded) == {"__typename": "Query"}
        await ws.send({"id": "2", "type": "subscribe", "payload": {"query": padded + "xx"}})
        assert await ws.closed() == graphql_ws.CLOSE_TOO_BIG
    # Past the transport's own cap (the device protocol's 1 MiB) uvicorn closes before the app reads it.
    async with Socket(server, demo.tokens["alice"]) as ws:
        with contextlib.suppress(websockets.ConnectionClosed):
            await ws.send({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename } #" + "x" * 2**21}})
        assert await ws.closed() == 1009

    # At most MAX_SUBSCRIPTIONS operations at once; completing one makes room.
    feed = written("guard.graphql", "GateEvents")
    async with Socket(server, demo.tokens["guard"]) as ws:
        running = [await ws.subscribe(feed) for _ in range(graphql_ws.MAX_SUBSCRIPTIONS)]
        await ws.admitted(*running)
        assert await ws.refused(feed) == [("BAD_USER_INPUT", "subscriptions")]
        await ws.send({"id": running[0], "type": "complete"})
        again = await ws.subscribe(feed)
        await ws.admitted(*running[1:], again)


async def test_a_silent_or_flooding_connection_is_closed_and_others_carry_on(server: ServerProcess, demo: Demo) -> None:
    # No connection_init: closed after CONNECTION_INIT_SECONDS.
    async with Socket(server, init=False) as silent:
        assert await silent.closed(graphql_ws.CONNECTION_INIT_SECONDS + 10) == 4408

    async with Socket(server, demo.tokens["guard"]) as calm, Socket(server, demo.tokens["alice"]) as flood:
        for _ in range(int(graphql_ws.MESSAGES_BURST) * 3):
            try:
                await flood.send({"type": "ping"})
            except websockets.ConnectionClosed:
                break
        assert await flood.closed() == 4429
        assert await calm.data("{ __typename }") == {"__typename": "Query"}

    # An id that is not a string is a broken message (it once escaped as an unhashable-key error).
    async with Socket(server, demo.tokens["alice"]) as broken:
        await broken.send({"id": ["1"], "type": "subscribe", "payload": {"query": "{ __typename }"}})
        assert await broken.closed() == 4400

    # Refused operations in a loop are cut sooner than any other message.
    async with Socket(server, demo.tokens["alice"]) as looping:
        tokens = "{" + " __typename" * (limits.MAX_TOKENS + 1) + "}"
        for i in range(int(graphql_ws.REFUSED_BURST) * 2):
            try:
                await looping.send({"id": str(i), "type": "subscribe", "payload": {"query": tokens}})
            except websockets.ConnectionClosed:
                break
        assert await looping.closed() == 4429


@pytest.mark.parametrize(
    ("caller", "cap"),
    [("carol", graphql_ws.MAX_CONNECTIONS_PER_SESSION), (None, graphql_ws.MAX_ANONYMOUS_CONNECTIONS_PER_ADDRESS)],
    ids=["per-session", "anonymous-per-address"],
)
async def test_sockets_per_session_or_anonymous_address_are_capped(
    server: ServerProcess, demo: Demo, caller: str | None, cap: int
) -> None:
    token = demo.tokens[caller] if caller else None
    sockets = [Socket(server, token) for _ in range(cap)]
    try:
        for socket in sockets:
            await socket.__aenter__()
        async with Socket(server, token) as one_too_many:
            assert await one_too_many.closed() == 4429
        # Another session (from the same address) is not affected; a socket closed frees its place.
        async with Socket(server, demo.tokens["bob"]) as other:
            assert await other.data("{ __typename }") == {"__typename": "Query"}
        await sockets.pop().__aexit__(None, None, None)

        async def freed() -> bool:
            async with Socket(server, token) as again:
                try:
                    return bool(await again.data("{ __typename }"))
                except websockets.ConnectionClosed:
                    return False

        await eventually(freed, 10, "a closed socket frees its place")
    finally:
        for socket in sockets:
            if socket.ws is not None:
                await socket.__aexit__(None, None, None)


@pytest.mark.parametrize("budget", ["0.0001"])
async def test_a_query_over_the_websocket_has_the_time_budget(sqlite_site: Site, budget: str) -> None:
    demo = sqlite_site.demo
    assert demo is not None
    server = sqlite_site.start_server(GATEHOUSE_OPERATION_SECONDS=budget)
    async with Socket(server, demo.tokens["admin"]) as admin:
        query = "{ people(first: 100) { edges { node { id displayName department { name } } } } }"
        assert await admin.refused(query) == [("BAD_USER_INPUT", "time")]
        # A subscription is not a query: it lives on.
        feed = await admin.subscribe(written("guard.graphql", "GateEvents"))
        await admin.admitted(feed)
