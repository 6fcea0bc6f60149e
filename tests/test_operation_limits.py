"""Operation limits on /graphql (issue 11, items 1-2 and 17), through the real HTTP interface.

One client must not stall the server: the body is bounded before it is parsed, each document is
bounded in tokens, depth, aliases and cost, a query runs under a time budget, anonymous callers
may call only what anonymous clients need, and the schema is shown (introspection, "Did you
mean") only to signed-in staff or while GraphiQL is on.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, get_introspection_query, parse

from api.graphql_http import OPEN_ROOT_FIELDS, open_root_fields
from mobile_contracts import documents
from schema.core import limits
from schema.root import schema
from tests.harness import Demo, GraphQLClient, ServerProcess, Site


async def post(server: ServerProcess, body: bytes | dict[str, Any], token: str | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with httpx.AsyncClient(timeout=30) as client:
        if isinstance(body, bytes):
            return await client.post(server.http + "/graphql", content=body, headers=headers)
        return await client.post(server.http + "/graphql", json=body, headers=headers)


def codes(answer: dict[str, Any]) -> list[tuple[str | None, str | None]]:
    return [(e.get("extensions", {}).get("code"), e.get("extensions", {}).get("limit")) for e in answer["errors"]]


def test_every_shipped_document_fits_the_limits() -> None:
    # The limits must never refuse what the apps send, with `first` at its largest.
    for name, text in documents().items():
        verdict = limits.analyse(text)
        assert verdict.refusal is None, (name, verdict.refusal)
        for definition in parse(text).definitions:
            if isinstance(definition, OperationDefinitionNode):
                assert definition.name is not None
                variables = {"first": limits.MAX_FIRST}
                cost = limits.cost(schema._schema, verdict, definition.name.value, variables)
                assert 0 < cost <= limits.MAX_COST, (name, definition.name.value, cost)


async def test_a_huge_body_is_refused_before_it_is_read(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    employee = await api.login("alice", demo.passwords["alice"])
    big = b'{"query":"mutation($u:String!){login(username:$u,password:\\"x\\"){errors{code}}}","variables":{"u":"'
    big += b"a" * (16 * 1024 * 1024) + b'"}}'
    for token in (None, employee.token):
        started = time.monotonic()
        response = await post(server, big, token)
        assert response.status_code == 413
        assert codes(response.json()) == [("BAD_USER_INPUT", "body")]
        assert time.monotonic() - started < 10
    # Just under the limit is still served, and the server is fine after the refusals.
    data = await api.ok("{ __typename }")
    assert data == {"__typename": "Query"}


async def test_documents_past_a_limit_are_refused_with_the_limit_named(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    admin = await api.login("admin", demo.passwords["admin"])
    employee = await api.login("alice", demo.passwords["alice"])

    aliases = "{" + " ".join(f"a{i}: __typename" for i in range(limits.MAX_ALIASES + 1)) + "}"
    assert codes(await api(aliases)) == [("BAD_USER_INPUT", "aliases")]
    fits = "{ me {" + " ".join(f"a{i}: id" for i in range(limits.MAX_ALIASES)) + "} }"
    assert len((await employee.ok(fits))["me"]) == limits.MAX_ALIASES
    roots = "{" + " ".join(f"a{i}: __typename" for i in range(limits.MAX_ROOT_FIELDS + 1)) + "}"
    assert codes(await api(roots)) == [("BAD_USER_INPUT", "rootFields")]

    tokens = "{" + " __typename" * (limits.MAX_TOKENS + 1) + "}"
    assert codes(await api(tokens)) == [("BAD_USER_INPUT", "tokens")]

    # The employee's nested query that stalled every gate (issue 11, item 2), depth 13.
    nested = "id"
    for _ in range(6):
        nested = f"department {{ h0: head {{ {nested} }} h1: head {{ id }} }}"
    deep = "{ me { " + nested + " } }"
    started = time.monotonic()
    assert codes(await employee(deep)) == [("BAD_USER_INPUT", "depth")]
    assert time.monotonic() - started < 5

    # The same depth through fragments is counted the same.
    fragments = "{ me { ...F0 } } " + " ".join(
        f"fragment F{i} on Person {{ department {{ head {{ ...F{i + 1} }} }} }}" for i in range(7)
    )
    fragments += " fragment F7 on Person { id }"
    assert codes(await employee(fragments)) == [("BAD_USER_INPUT", "depth")]

    # Cost: lists multiply by `first` (a variable counts by its value).
    costly = "query($n:Int!){people(first:$n){edges{node{hostedVisits(first:$n){edges{node{id}}}}}}}"
    assert codes(await admin(costly, {"n": 100})) == [("BAD_USER_INPUT", "cost")]
    data = await admin.ok(costly, {"n": 5})
    assert data["people"]["edges"]

    # A mutation with 1,000 fields once ended in "maximum recursion depth": refused up front.
    thousand = "mutation {" + " ".join(f"m{i}: __typename" for i in range(1000)) + "}"
    assert [code for code, _ in codes(await admin(thousand))] == ["BAD_USER_INPUT"]
    plain = "mutation {" + " __typename" * 1000 + "}"  # no aliases: still 1,000 selections
    assert codes(await admin(plain)) == [("BAD_USER_INPUT", "fields")]


def test_anonymous_callers_may_call_only_what_anonymous_clients_need() -> None:
    # Every other root field refuses an anonymous caller before anything below it runs.
    assert (
        open_root_fields()
        == OPEN_ROOT_FIELDS
        == {
            "__typename",
            "login",
            "refreshSession",
            "completeVisitorRegistration",
            "invitation",
        }
    )


async def test_anonymous_callers_get_a_budget_that_fits_signing_in(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    page = "query($n:Int!){people(first:$n){edges{node{id displayName department{name}}}}}"
    # Closed root fields refuse anonymous callers before anything below them runs, whatever they cost.
    assert [c for c, _ in codes(await api(page, {"n": 100}))] == ["UNAUTHENTICATED"]
    # What may run for them (an open root field) has a small budget.
    aliased = (
        "mutation($u:String!,$p:String!){"
        + " ".join(f"l{i}: login(username:$u,password:$p){{errors{{code message field}}}}" for i in range(8))
        + "}"
    )
    assert codes(await api(aliased, {"u": "nobody", "p": "x"})) == [("BAD_USER_INPUT", "cost")]
    admin = await api.login("admin", demo.passwords["admin"])
    assert (await admin.ok(page, {"n": 100}))["people"]["edges"]
    # Refused anonymous fields are answered as before: at their path, nothing below them run.
    answer = await api("{ me { id } }")
    assert [(e["extensions"]["code"], e["path"]) for e in answer["errors"]] == [("UNAUTHENTICATED", ["me"])]


async def test_schema_is_shown_only_to_staff_while_graphiql_is_off(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    introspection = "{ __schema { queryType { name } } }"
    typo = 'mutation { login(usernme: "a", password: "b") { errors { code } } }'

    anonymous = await api(introspection)
    assert anonymous["data"] is None
    assert codes(anonymous) == [("FORBIDDEN", None)]
    hidden_type = await api('{ __type(name: "Person") { fields { name } } }')
    assert codes(hidden_type) == [("FORBIDDEN", None)]
    refused = await api(typo)
    assert refused["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in refused["errors"][0]["message"]
    assert "usernme" in refused["errors"][0]["message"]

    employee = await api.login("alice", demo.passwords["alice"])
    assert (await employee.ok(introspection))["__schema"]["queryType"]["name"] == "Query"
    shown = await employee(typo)
    assert "Did you mean 'username'?" in shown["errors"][0]["message"]

    # GraphiQL is off by default: GET /graphql serves no IDE.
    async with httpx.AsyncClient() as client:
        page = await client.get(server.http + "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 404


async def test_with_graphiql_on_the_schema_is_open(sqlite_site: Site) -> None:
    server = sqlite_site.start_server(GATEHOUSE_GRAPHIQL="1")
    api = GraphQLClient(server)
    data = await api.ok("{ __schema { queryType { name } } }")
    assert data["__schema"]["queryType"]["name"] == "Query"
    # GraphiQL's own schema load: the standard introspection query, 15 levels of `ofType`.
    full = await api.ok(get_introspection_query(descriptions=True))
    assert any(t["name"] == "GateEvent" for t in full["__schema"]["types"])
    shown = await api('mutation { login(usernme: "a", password: "b") { errors { code } } }')
    assert "Did you mean 'username'?" in shown["errors"][0]["message"]
    async with httpx.AsyncClient() as client:
        page = await client.get(server.http + "/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


@pytest.mark.parametrize("budget", ["0.0001"])
async def test_a_query_over_its_time_budget_is_cancelled_with_a_code(sqlite_site: Site, budget: str) -> None:
    assert sqlite_site.demo is not None
    server = sqlite_site.start_server(GATEHOUSE_OPERATION_SECONDS=budget)
    api = GraphQLClient(server)
    # Signing in is a mutation: never cancelled half-way, whatever the budget.
    admin = await api.login("admin", sqlite_site.demo.passwords["admin"])
    answer = await admin("{ people(first: 100) { edges { node { id displayName department { name } } } } }")
    assert answer["data"] is None
    assert codes(answer) == [("BAD_USER_INPUT", "time")]
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.http + "/healthz")).status_code == 200


async def test_trusted_documents_only_the_apps_documents_run(sqlite_site: Site) -> None:
    assert sqlite_site.demo is not None
    server = sqlite_site.start_server(GATEHOUSE_TRUSTED_DOCUMENTS="1")
    api = GraphQLClient(server)
    employee_doc = documents()["employee.graphql"]
    # Signing in with the app's own document (the whole file, as sent, with its operation name).
    body = await post(
        server,
        {
            "query": employee_doc,
            "operationName": "Login",
            "variables": {"username": "alice", "password": sqlite_site.demo.passwords["alice"]},
        },
    )
    token = body.json()["data"]["login"]["session"]["accessToken"]
    employee = GraphQLClient(server, token)
    my_pass = "query MyPass {\n  me { id displayName roles pass { credentialId periodSeconds status } }\n}"
    assert my_pass in employee_doc
    # One operation sent on its own, reformatted: still the app's document.
    assert (await employee.ok(" ".join(my_pass.split())))["me"]["displayName"]
    # By hash (Apollo-style persisted query), no text at all.
    digest = hashlib.sha256(my_pass.encode()).hexdigest()
    hashed = await post(server, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}, token)
    assert hashed.json()["data"]["me"]["displayName"], hashed.text
    unknown = await post(server, {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}, token)
    assert codes(unknown.json()) == [("BAD_USER_INPUT", None)]
    # Anything else is refused, signed in or not; ADMIN may send any document.
    adhoc = "{ me { id username } }"
    assert codes(await employee(adhoc)) == [("FORBIDDEN", None)]
    assert codes(await api("{ __typename }")) == [("FORBIDDEN", None)]
    # (The harness's own login document is not one of the apps': ADMIN signs in with the app's.)
    admin_login = await post(
        server,
        {
            "query": employee_doc,
            "operationName": "Login",
            "variables": {"username": "admin", "password": sqlite_site.demo.passwords["admin"]},
        },
    )
    admin_token = admin_login.json()["data"]["login"]["session"]["accessToken"]
    assert (await GraphQLClient(server, admin_token).ok(adhoc))["me"]["username"] == "admin"


@pytest.mark.parametrize("accept", ['multipart/mixed;subscriptionSpec="1.0",application/json', "text/event-stream"])
async def test_no_operation_streams_over_http_past_the_limits(server: ServerProcess, demo: Demo, accept: str) -> None:
    # Strawberry streams subscriptions over HTTP (multipart, SSE) outside `execute_single`, where
    # the limits are checked: the server offers only the WebSocket, so nothing streams here.
    deep = "subscription { gateEvents { gate { zone { " + "parent { " * 20 + "id" + " }" * 24
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(
            server.http + "/graphql",
            json={"query": deep},
            headers={"Authorization": f"Bearer {demo.tokens['admin']}", "Accept": accept},
        )
    assert not answer.headers.get("content-type", "").startswith(("multipart/", "text/event-stream")), answer.headers
    # Refused by the limits, as the same document over the WebSocket or as a plain POST.
    assert codes(answer.json()) == [("BAD_USER_INPUT", "depth")], answer.text
