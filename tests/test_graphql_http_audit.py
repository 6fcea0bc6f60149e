"""GraphQL over HTTP: graphql-http's own audit against a real server, and the two media types.

The audit is the reference implementation's conformance suite (npm `graphql-http`, pinned in
tests/graphql_http_audit/package-lock.json), run by Node against a real `gatehouse serve`: every
MUST and every SHOULD passes. The plain tests below pin what the audit does not: clients that send
no Accept header, or only application/json (the shipped apps), get the same answers as before.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.graphql_http import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, response_media_type
from tests.harness import IN_CI, ServerProcess, Site

AUDIT_DIR = Path(__file__).resolve().parent / "graphql_http_audit"
# graphql-http 1.23.1 (locked) has 13 MUST and 23 SHOULD server audits; a new version may add some.
MUST_AUDITS, SHOULD_AUDITS = 13, 23
GRAPHQL_RESPONSE = {"content-type": "application/json", "accept": GRAPHQL_RESPONSE_JSON}
SYNTAX_ERROR = {"query": "query {"}
PAGE = "query($n: Int!) { people(first: $n) { __typename } }"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    # One server for the module: every request here only reads.
    site = Site(tmp_path_factory.mktemp("graphql_http"))
    site.load_demo()
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def server(site: Site) -> ServerProcess:
    # GraphiQL on: the audit probes anonymously with `__type` introspection, which is open to
    # anonymous callers only while GraphiQL is (tests/test_operation_limits.py).
    return site.start_server(GATEHOUSE_GRAPHIQL="1")


async def post(server: ServerProcess, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(server.http + "/graphql", json=body, headers=headers)


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


# --------------------------------------------------------------------------- the audit


def _installed_as_locked() -> bool:
    """node_modules holds exactly the locked versions (a bumped lock file reinstalls)."""
    lock = json.loads((AUDIT_DIR / "package-lock.json").read_text())
    for name in ("graphql-http", "graphql"):
        installed = AUDIT_DIR / "node_modules" / name / "package.json"
        if not installed.exists():
            return False
        if json.loads(installed.read_text())["version"] != lock["packages"][f"node_modules/{name}"]["version"]:
            return False
    return True


def _install(npm: str) -> None:
    if _installed_as_locked():
        return
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=AUDIT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm ci failed in {AUDIT_DIR}:\n{done.stdout}\n{done.stderr}"
    assert _installed_as_locked(), "npm ci did not install the locked graphql-http"


@pytest.fixture(scope="module")
def node() -> str:
    """node, recent enough for graphql-http's audit (global fetch: Node 18+), with the locked
    packages installed; checked before the server starts, so a skip costs nothing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    why = None
    if node is None or npm is None:
        why = "node and npm are needed to run graphql-http's audit"
    else:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        if int(version.lstrip("v").split(".", 1)[0] or 0) < 18:
            why = f"graphql-http's audit needs Node 18 or newer, found {version}"
    if why is not None:
        if IN_CI:
            pytest.fail(f"{why}: under CI=true the audit must run")
        pytest.skip(why)
    assert node is not None and npm is not None
    _install(npm)
    return node


def test_graphql_http_audit_passes_every_must_and_should(node: str, server: ServerProcess) -> None:
    run = subprocess.run(
        [node, "audit.mjs", server.http + "/graphql"], cwd=AUDIT_DIR, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, f"the audit did not run:\n{run.stderr}\nserver log:\n{server.log()}"
    results = json.loads(run.stdout)["results"]
    by_level = {level: [r for r in results if r["requirement"] == level] for level in ("MUST", "SHOULD")}
    assert (len(by_level["MUST"]), len(by_level["SHOULD"])) == (MUST_AUDITS, SHOULD_AUDITS), (
        "graphql-http's audit list changed: check the new audits, then update MUST_AUDITS/SHOULD_AUDITS"
    )
    failed = [r for level in by_level.values() for r in level if r["status"] != "ok"]
    assert not failed, "graphql-http audits failed:\n" + "\n".join(
        f"  {r['id']} {r['name']}: {r.get('reason')} (got {r.get('responseStatus')}, {r.get('contentType')})"
        for r in failed
    )


# --------------------------------------------------------------------------- application/json, as before


async def test_no_accept_header_gets_application_json_as_before(server: ServerProcess) -> None:
    # httpx would send `Accept: */*`; this client sends no Accept header at all.
    async with httpx.AsyncClient(timeout=30) as client:
        request = client.build_request("POST", server.http + "/graphql", json={"query": "{ __typename }"})
        del request.headers["accept"]
        answer = await client.send(request)
        request = client.build_request("POST", server.http + "/graphql", json=SYNTAX_ERROR)
        del request.headers["accept"]
        broken = await client.send(request)
    assert (answer.status_code, answer.headers["content-type"]) == (200, APPLICATION_JSON)
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert (broken.status_code, broken.headers["content-type"]) == (200, APPLICATION_JSON)
    body = broken.json()
    assert "data" in body and body["data"] is None, body
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"], body


async def test_application_json_answers_a_syntax_error_200_as_before(server: ServerProcess) -> None:
    answer = await post(server, SYNTAX_ERROR, {"accept": APPLICATION_JSON})
    assert (answer.status_code, answer.headers["content-type"]) == (200, APPLICATION_JSON)
    body = answer.json()
    assert "data" in body and body["data"] is None, body
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"], body
    # An unknown field and a variable of the wrong type: still 200 with data null for this media type.
    unknown = await post(server, {"query": "{ secrets }"}, {"accept": APPLICATION_JSON})
    coerced = await post(server, {"query": PAGE, "variables": {"n": "ten"}}, {"accept": APPLICATION_JSON})
    assert [(r.status_code, r.json()["data"], codes(r.json())) for r in (unknown, coerced)] == [
        (200, None, ["GRAPHQL_VALIDATION_FAILED"]),
        (200, None, ["BAD_USER_INPUT"]),
    ]


# --------------------------------------------------------------------------- application/graphql-response+json


async def test_graphql_response_json_answers_a_syntax_error_400_without_data(server: ServerProcess) -> None:
    answer = await post(server, SYNTAX_ERROR, GRAPHQL_RESPONSE)
    assert (answer.status_code, answer.headers["content-type"]) == (400, GRAPHQL_RESPONSE_JSON)
    body = answer.json()
    assert "data" not in body, body
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"], body
    assert "Accept" in answer.headers["vary"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"query": "{ secrets }"}, "GRAPHQL_VALIDATION_FAILED", id="unknown field"),
        pytest.param({"query": PAGE, "variables": {"n": "ten"}}, "BAD_USER_INPUT", id="bad variable"),
        pytest.param({"query": PAGE}, "BAD_USER_INPUT", id="missing variable"),
    ],
)
async def test_graphql_response_json_answers_every_request_error_400(
    server: ServerProcess, body: dict[str, Any], code: str
) -> None:
    answer = await post(server, body, GRAPHQL_RESPONSE)
    assert (answer.status_code, answer.headers["content-type"]) == (400, GRAPHQL_RESPONSE_JSON), answer.text
    assert "data" not in answer.json() and codes(answer.json()) == [code], answer.text


async def test_graphql_response_json_answers_field_errors_200_with_data(server: ServerProcess) -> None:
    # A field error is not a request error: the answer keeps `data`, partial or null, and 200.
    partial = await post(server, {"query": '{ __typename person(id: "1") { id } }'}, GRAPHQL_RESPONSE)
    assert (partial.status_code, partial.headers["content-type"]) == (200, GRAPHQL_RESPONSE_JSON)
    assert partial.json()["data"] == {"__typename": "Query", "person": None}, partial.text
    assert codes(partial.json()) == ["UNAUTHENTICATED"], partial.text
    # `me: Person!` failing nulls the whole `data`, yet its error has a path: still 200.
    nulled = await post(server, {"query": "{ me { id } }"}, GRAPHQL_RESPONSE)
    assert (nulled.status_code, nulled.headers["content-type"]) == (200, GRAPHQL_RESPONSE_JSON)
    assert nulled.json()["data"] is None and "data" in nulled.json(), nulled.text
    assert [(e["extensions"]["code"], e["path"]) for e in nulled.json()["errors"]] == [("UNAUTHENTICATED", ["me"])]
    ok = await post(server, {"query": "{ __typename }"}, GRAPHQL_RESPONSE)
    assert (ok.status_code, ok.headers["content-type"], ok.json()) == (
        200,
        GRAPHQL_RESPONSE_JSON,
        {"data": {"__typename": "Query"}},
    )


async def test_malformed_bodies_stay_400_for_both_media_types(server: ServerProcess) -> None:
    for accept in (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON):
        async with httpx.AsyncClient(timeout=30) as client:
            not_json = await client.post(
                server.http + "/graphql",
                content=b'{ "not a JSON',
                headers={"content-type": "application/json", "accept": accept},
            )
        no_query = await post(server, {"variables": {}}, {"accept": accept})
        assert (not_json.status_code, no_query.status_code) == (400, 400), (accept, not_json.text, no_query.text)


# --------------------------------------------------------------------------- negotiation


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, APPLICATION_JSON),
        ("", APPLICATION_JSON),
        ("*/*", APPLICATION_JSON),
        ("application/*", APPLICATION_JSON),
        ("application/json", APPLICATION_JSON),
        ("text/html", APPLICATION_JSON),  # nothing we speak: answered as always, not 406
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/json;q=0.9, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.5, application/json", APPLICATION_JSON),
        ("application/json, application/graphql-response+json", APPLICATION_JSON),  # a tie: the first named
        ("application/graphql-response+json, application/json", GRAPHQL_RESPONSE_JSON),
        ("*/*, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),  # named beats wildcard
        ("application/graphql-response+json;q=0, */*", APPLICATION_JSON),
        ("application/json;q=0, application/graphql-response+json;q=0.1, */*", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=nope", APPLICATION_JSON),  # unreadable: ignored
        ("application/graphql-response+json;q=2", APPLICATION_JSON),
    ],
)
def test_response_media_type(accept: str | None, expected: str) -> None:
    assert response_media_type(accept) == expected
