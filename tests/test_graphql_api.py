"""The contract operations, sent exactly as the apps send them, against a real server.

Every console.graphql and employee.graphql operation is loaded from mobile_contracts/ and
posted with its `operationName` and real variables; the tests check what the answer
means (contracts/README.md "Meaning"), that refused input writes nothing, and the
custodial pass (query and graphql-transport-ws subscription) end to end with a gate.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from gatehouse_gate import passtoken
from gql.transport.exceptions import TransportQueryError
from graphql import OperationDefinitionNode, parse

from api.demo import make_prc_id
from mobile_contracts import documents
from schema.root import schema
from tests import harness
from tests.harness import Demo, Gate, GraphQLClient, Ids, Phone, ServerProcess, Site, SiteTemplate, commission_device

# --------------------------------------------------------------------------- documents

DOCUMENTS = documents()


def _operation_index() -> dict[str, str]:
    """Operation name → the text of the document (file) that holds it."""
    index: dict[str, str] = {}
    for text in DOCUMENTS.values():
        for definition in parse(text).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                index[definition.name.value] = text
    return index


OPERATIONS = _operation_index()
CONSOLE_OPS = (
    "CreateDepartment",
    "CreateZone",
    "CreateGate",
    "RegisterDevice",
    "OnboardEmployee",
    "GrantAccess",
    "OffboardEmployee",
)
EMPLOYEE_OPS = ("Login", "RefreshSession", "BindPhone", "MyPass", "MyAccessLog")

DEPARTMENTS = "query { departments { id name parent { id } head { id } } }"
PERIOD = passtoken.DEFAULT_PERIOD


# --------------------------------------------------------------------------- transport helpers


async def send(
    server: ServerProcess, operation: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """Post the contract document holding `operation`, as written, with `operationName`."""
    return await post(server, OPERATIONS[operation], variables, token, operation)


async def post(
    server: ServerProcess,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    operation: str | None = None,
) -> dict[str, Any]:
    """One request (never a 500, never an internal error); `operation` names the operation to run."""
    client = GraphQLClient(server, operations={operation: query} if operation else None)
    return await client.raw(query, variables, token, op=operation)


async def ok(
    server: ServerProcess, operation: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    answer = await send(server, operation, variables, token)
    assert not answer.get("errors"), answer
    data: dict[str, Any] = answer["data"]
    return data


def error_codes(answer: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]


def user_errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e.get("field")) for e in payload["errors"]]


async def login(server: ServerProcess, username: str, password: str) -> dict[str, Any]:
    data = await ok(server, "Login", {"username": username, "password": password})
    assert data["login"]["errors"] == [], data
    session: dict[str, Any] = data["login"]["session"]
    return session


async def token_of(server: ServerProcess, demo: Demo, username: str) -> str:
    """The demo user's access token (signed in once, on the session's template)."""
    return demo.tokens[username]


async def subscribe_first(
    server: ServerProcess, operation: str, token: str | None, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The first item of a contract subscription over graphql-transport-ws (gql client)."""
    async with harness.gql_subscription(server, token, OPERATIONS[operation], operation, variables) as stream:
        item: dict[str, Any] = await asyncio.wait_for(stream.__anext__(), 10)
        return item


# --------------------------------------------------------------------------- site helpers


SNAPSHOT = """query {
  zones { id name antiPassback parent { id } }
  gates { id name direction zone { id } }
  devices { id name kind firmware retired gates { id } }
  departments { id name parent { id } head { id } }
  people(first: 100) {
    edges { node { id displayName username status roles position idNumberMasked phoneMasked department { id } } }
    pageInfo { hasNextPage }
  }
}"""
GRANT_FIELDS = "id validFrom validUntil revokedAt zone { id } person { id } department { id }"


async def snapshot(server: ServerProcess, admin: str) -> dict[str, Any]:
    """Everything an admin can list: zones, gates, devices, departments, people and their grants."""
    answer = await post(server, SNAPSHOT, token=admin)
    assert not answer.get("errors"), answer
    state: dict[str, Any] = answer["data"]
    assert state["people"]["pageInfo"]["hasNextPage"] is False  # nobody hides past the page
    person_ids = [e["node"]["id"] for e in state["people"]["edges"]]
    state["grants"] = {}
    # In pages of 20 aliases: an operation selects at most 20 root fields (GATEHOUSE limits).
    for start in range(0, len(person_ids), 20):
        page = person_ids[start : start + 20]
        aliased = " ".join(f'p{p}: grants(personId: "{p}") {{ {GRANT_FIELDS} }}' for p in page)
        grants = await post(server, f"query {{ {aliased} }}", token=admin)
        assert not grants.get("errors"), grants
        state["grants"].update(grants["data"])
    return state


_id_sequence = iter(range(200, 999))


def new_prc_id() -> str:
    """A valid PRC ID number no demo person has."""
    return make_prc_id("310104", "19900315", f"{next(_id_sequence):03d}")


def onboard_input(department_id: str, username: str, **extra: Any) -> dict[str, Any]:
    return {
        "displayName": extra.pop("displayName", f"Test {username}"),
        "idNumber": extra.pop("idNumber", None) or new_prc_id(),
        "phone": "+8613912345678",
        "departmentId": department_id,
        "position": "Tester",
        "username": username,
        **extra,
    }


async def onboard(server: ServerProcess, token: str, department_id: str, username: str, **extra: Any) -> Any:
    data = await ok(server, "OnboardEmployee", {"input": onboard_input(department_id, username, **extra)}, token)
    payload = data["onboardEmployee"]
    assert payload["errors"] == [], payload
    return payload


async def create_zone(server: ServerProcess, token: str, name: str, parent_id: str | None = None, **extra: Any) -> Any:
    data = await ok(server, "CreateZone", {"input": {"name": name, "parentId": parent_id, **extra}}, token)
    assert data["createZone"]["errors"] == [], data
    return data["createZone"]["zone"]


async def create_gate(server: ServerProcess, token: str, name: str, zone_id: str, direction: str = "IN") -> Any:
    data = await ok(server, "CreateGate", {"input": {"name": name, "zoneId": zone_id, "direction": direction}}, token)
    assert data["createGate"]["errors"] == [], data
    return data["createGate"]["gate"]


async def register_device(server: ServerProcess, token: str, name: str, gate_ids: list[str]) -> Any:
    data = await ok(
        server, "RegisterDevice", {"input": {"name": name, "kind": "QR_SCANNER", "gateIds": gate_ids}}, token
    )
    assert data["registerDevice"]["errors"] == [], data
    return data["registerDevice"]


async def new_gate_with_device(server: ServerProcess, admin: str, zone_name: str) -> tuple[str, str, Gate]:
    """A fresh root zone with one IN gate and a connected device: (zone id, gate id, device)."""
    zone = await create_zone(server, admin, zone_name)
    gate = await create_gate(server, admin, f"{zone_name} door", zone["id"])
    registered = await register_device(server, admin, f"{zone_name} scanner", [gate["id"]])
    device_id, secret = registered["device"]["id"], registered["deviceSecret"]
    await commission_device(GraphQLClient(server, admin), device_id, secret, gate["id"])
    device = await Gate(server, registered["device"]["id"], registered["deviceSecret"]).connect()
    return zone["id"], gate["id"], device


async def at_least_seconds_left_in_step(server: ServerProcess, seconds: float) -> float:
    """Move the server's clock to the start of a step, so tokens of step-1..step+1 stay valid for
    more than `seconds` however slow the machine is; the server's time."""
    assert server.clock is not None and seconds < PERIOD
    return server.clock.start_of_step(PERIOD)


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, f"{text!r} has no offset"
    return value


def assert_masked(masked: str, full: str) -> None:
    """At most the first 3 and the last 4 characters show; every other one is masked."""
    assert len(masked) == len(full), (masked, full)
    assert masked[-4:] == full[-4:], masked
    for i, (shown, real) in enumerate(zip(masked[:-4], full[:-4], strict=True)):
        assert shown == "*" or (i < 3 and shown == real), f"{masked!r} reveals character {i} of {full!r}"
    assert "*" in masked, masked


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def admin(server: ServerProcess, demo: Demo) -> str:
    return await token_of(server, demo, "admin")


@pytest.fixture
def ids(sqlite_site: Site) -> Ids:
    assert sqlite_site.ids is not None
    return sqlite_site.ids


class Shared(harness.World):
    """The module's shared demo site, with an admin token and its ids."""

    @property
    def admin(self) -> str:
        return self.demo.tokens["admin"]


@pytest.fixture(scope="module")
def shared(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """One server for the tests that leave the site as they found it (refusals compare before and after)."""
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("refusals"))
    site.start_server()
    try:
        yield Shared(site)
    finally:
        site.stop()


def test_every_console_and_employee_operation_is_covered() -> None:
    # A new operation in these documents needs a test here first.
    for name, covered in (("console.graphql", CONSOLE_OPS), ("employee.graphql", EMPLOYEE_OPS)):
        ops = {d.name.value for d in parse(DOCUMENTS[name]).definitions if isinstance(d, OperationDefinitionNode)}
        assert ops == set(covered), f"{name}: untested operations {ops - set(covered)}"


# --------------------------------------------------------------------------- console: site shape


async def test_create_department(server: ServerProcess, demo: Demo, admin: str) -> None:
    hr = await token_of(server, demo, "hr")
    data = await ok(server, "CreateDepartment", {"input": {"name": "Legal"}}, hr)
    payload = data["createDepartment"]
    assert payload["errors"] == []
    legal = payload["department"]
    assert legal["name"] == "Legal" and legal["id"]

    eng = (await Ids.read(server, admin)).departments["Engineering"]
    data = await ok(server, "CreateDepartment", {"input": {"name": "Platform", "parentId": eng}}, admin)
    platform = data["createDepartment"]["department"]
    listed = {d["name"]: d for d in (await post(server, DEPARTMENTS, token=admin))["data"]["departments"]}
    assert listed["Legal"] == {"id": legal["id"], "name": "Legal", "parent": None, "head": None}
    assert listed["Platform"]["parent"] == {"id": eng}
    assert listed["Platform"]["id"] == platform["id"]

    again = (await ok(server, "CreateDepartment", {"input": {"name": "Legal"}}, admin))["createDepartment"]
    assert again["department"] is None
    assert user_errors(again) == [("CONFLICT", "name")]


async def test_create_zone_builds_a_tree_with_anti_passback_off_by_default(server: ServerProcess, admin: str) -> None:
    data = await ok(server, "CreateZone", {"input": {"name": "Warehouse"}}, admin)
    root = data["createZone"]["zone"]
    assert data["createZone"]["errors"] == []
    assert root["name"] == "Warehouse" and root["antiPassback"] == "OFF"

    data = await ok(
        server, "CreateZone", {"input": {"name": "Cold room", "parentId": root["id"], "antiPassback": "HARD"}}, admin
    )
    child = data["createZone"]["zone"]
    assert child["antiPassback"] == "HARD"
    grandchild = await create_zone(server, admin, "Freezer", child["id"])
    assert grandchild["antiPassback"] == "OFF"

    zones = {z["id"]: z for z in (await ok(server, "Site", token=admin))["zones"]}
    assert zones[root["id"]] == {"id": root["id"], "name": "Warehouse", "antiPassback": "OFF", "parent": None}
    assert zones[child["id"]]["parent"] == {"id": root["id"]}
    assert zones[grandchild["id"]]["parent"] == {"id": child["id"]}


async def test_create_gate(server: ServerProcess, admin: str) -> None:
    zone = await create_zone(server, admin, "Loading dock")
    data = await ok(
        server, "CreateGate", {"input": {"name": "Dock door", "zoneId": zone["id"], "direction": "BOTH"}}, admin
    )
    payload = data["createGate"]
    assert payload["errors"] == []
    gate = payload["gate"]
    assert gate["name"] == "Dock door" and gate["direction"] == "BOTH" and gate["zone"] == {"id": zone["id"]}
    listed = {g["id"]: g for g in (await ok(server, "Site", token=admin))["gates"]}
    assert listed[gate["id"]]["zone"] == {"id": zone["id"], "name": "Loading dock"}


async def test_register_device_returns_its_secret_once(server: ServerProcess, admin: str) -> None:
    zone = await create_zone(server, admin, "Server room")
    gate = await create_gate(server, admin, "Server room door", zone["id"])
    data = await ok(
        server,
        "RegisterDevice",
        {"input": {"name": "Rack scanner", "kind": "FACE_TERMINAL", "gateIds": [gate["id"]]}},
        admin,
    )
    payload = data["registerDevice"]
    assert payload["errors"] == []
    device, secret = payload["device"], payload["deviceSecret"]
    assert device["name"] == "Rack scanner" and device["kind"] == "FACE_TERMINAL"
    assert isinstance(secret, str) and len(secret) >= 16

    # The device connects with it, and is told its gate.
    gate_device = await Gate(server, device["id"], secret).connect()
    try:
        assert [g["id"] for g in gate_device.welcome["gates"]] == [gate["id"]]
    finally:
        await gate_device.close()
    # Only that secret: another is refused with 4401.
    async with websockets.connect(server.ws + "/devices/ws") as ws:
        await ws.send(json.dumps({"type": "hello", "deviceId": device["id"], "secret": secret + "x", "firmware": "t"}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    # Never again: no list shows it, and the schema has nowhere to put it.
    answer = await send(server, "Site", token=admin)
    listed = {d["id"]: d for d in answer["data"]["devices"]}
    assert listed[device["id"]]["gates"] == [{"id": gate["id"], "name": "Server room door"}]
    assert secret not in json.dumps(answer)
    device_fields = schema._schema.get_type("Device").fields  # type: ignore[union-attr]
    assert not [f for f in device_fields if "secret" in f.lower()]


# --------------------------------------------------------------------------- console: people


async def test_onboard_employee_gives_a_working_password_and_masks_the_id(
    server: ServerProcess, demo: Demo, admin: str, ids: Ids
) -> None:
    hr = await token_of(server, demo, "hr")
    id_number = new_prc_id()
    variables = {"input": onboard_input(ids.departments["Finance"], "erin", displayName="Erin Xu", idNumber=id_number)}
    answer = await send(server, "OnboardEmployee", variables, hr)
    assert not answer.get("errors"), answer
    payload = answer["data"]["onboardEmployee"]
    assert payload["errors"] == []
    employee = payload["employee"]
    assert employee["displayName"] == "Erin Xu"
    assert employee["position"] == "Tester"
    assert employee["department"] == {"id": ids.departments["Finance"], "name": "Finance"}
    assert employee["idNumberMasked"] == id_number[:3] + "*" * 11 + id_number[-4:]
    assert_masked(employee["idNumberMasked"], id_number)

    session = await login(server, "erin", payload["initialPassword"])
    me = (await ok(server, "MyPass", token=session["accessToken"]))["me"]
    assert me["id"] == employee["id"] and me["roles"] == ["EMPLOYEE"]

    # The full number is never returned again.
    listing = await send(server, "People", {"first": 100}, admin)
    assert id_number not in json.dumps(listing)
    assert id_number not in json.dumps(await send(server, "MyPass", token=session["accessToken"]))


async def test_onboard_refuses_an_invalid_prc_id(shared: Shared) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    valid = new_prc_id()
    wrong_check = valid[:17] + ("0" if valid[17] != "0" else "1")
    bad_birthday = make_prc_id("310104", "19901341", "123")
    before = await snapshot(server, admin)
    for bad in (wrong_check, bad_birthday, valid[:17], "ABCDEFGHIJKLMNOPQR"):
        variables = {"input": onboard_input(ids.departments["Finance"], "frank", idNumber=bad)}
        payload = (await ok(server, "OnboardEmployee", variables, admin))["onboardEmployee"]
        assert user_errors(payload) == [("INVALID", "idNumber")], bad
        assert payload["employee"] is None and payload["initialPassword"] is None
    assert await snapshot(server, admin) == before


async def test_onboard_refuses_a_taken_username(shared: Shared) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    before = await snapshot(server, admin)
    for taken in ("alice", "Alice"):
        variables = {"input": onboard_input(ids.departments["Finance"], taken)}
        payload = (await ok(server, "OnboardEmployee", variables, admin))["onboardEmployee"]
        assert user_errors(payload) == [("CONFLICT", "username")], taken
        assert payload["employee"] is None and payload["initialPassword"] is None
    assert await snapshot(server, admin) == before


async def test_only_admin_gives_privileged_roles(shared: Shared) -> None:
    server, demo, admin, ids = shared.server, shared.demo, shared.admin, shared.ids
    hr = await token_of(server, demo, "hr")
    before = await snapshot(server, admin)
    for role in ("ADMIN", "SECURITY_ADMIN", "AUDITOR", "GUARD"):
        variables = {"input": onboard_input(ids.departments["Security"], f"new{role.lower()}", roles=[role])}
        answer = await send(server, "OnboardEmployee", variables, hr)
        assert error_codes(answer) == ["FORBIDDEN"], (role, answer)
        assert answer["data"] is None
    assert await snapshot(server, admin) == before

    # ADMIN may; HR may give the other roles.
    payload = await onboard(server, admin, ids.departments["Security"], "newsec", roles=["SECURITY_ADMIN"])
    session = await login(server, "newsec", payload["initialPassword"])
    me = (await ok(server, "MyPass", token=session["accessToken"]))["me"]
    assert sorted(me["roles"]) == ["EMPLOYEE", "SECURITY_ADMIN"]
    payload = await onboard(server, admin, ids.departments["Security"], "newguard", roles=["GUARD"])
    assert payload["employee"]["id"]
    payload = await onboard(server, hr, ids.departments["Facilities"], "newkeeper", roles=["WAREHOUSE"])
    assert payload["employee"]["id"]


async def test_onboard_with_a_passport_stores_the_number_as_given(
    server: ServerProcess, demo: Demo, admin: str, ids: Ids
) -> None:
    passport = "E12345678"  # not a PRC ID: stored as given, not checked as one
    payload = await onboard(
        server, admin, ids.departments["Finance"], "grace", idNumber=passport, documentType="PASSPORT"
    )
    employee = payload["employee"]
    assert employee["idNumberMasked"] == "E12**5678"
    assert_masked(employee["idNumberMasked"], passport)

    # The stored number is the one given: a guard's manual check compares its last 4.
    guard = await token_of(server, demo, "guard")
    manual = OPERATIONS["RecordManualEntry"]
    entry = {
        "personId": employee["id"],
        "gateId": demo.gates["Lobby turnstile out"],
        "direction": "OUT",
        "documentType": "PASSPORT",
        "documentNumberLast4": "1234",
    }
    wrong = (await post(server, manual, {"input": entry}, guard, "RecordManualEntry"))["data"]["recordManualEntry"]
    assert user_errors(wrong) == [("MISMATCH", "documentNumberLast4")]
    right = await post(server, manual, {"input": {**entry, "documentNumberLast4": "5678"}}, guard, "RecordManualEntry")
    assert right["data"]["recordManualEntry"]["errors"] == []
    assert right["data"]["recordManualEntry"]["event"]["person"]["id"] == employee["id"]


async def test_offboard_employee_ends_everything_at_once(
    server: ServerProcess, demo: Demo, admin: str, ids: Ids
) -> None:
    hr = await token_of(server, demo, "hr")
    payload = await onboard(server, admin, ids.departments["Engineering"], "henry")
    person_id, password = payload["employee"]["id"], payload["initialPassword"]
    session = await login(server, "henry", password)
    phone = Phone()
    await phone.bind(GraphQLClient(server, session["accessToken"]))

    data = await ok(server, "OffboardEmployee", {"id": person_id}, hr)
    assert data["offboardEmployee"] == {"employee": {"id": person_id, "status": "OFFBOARDED"}, "errors": []}
    # Idempotent: again changes nothing and returns them.
    again = await ok(server, "OffboardEmployee", {"id": person_id}, hr)
    assert again["offboardEmployee"] == {"employee": {"id": person_id, "status": "OFFBOARDED"}, "errors": []}

    refused = (await ok(server, "Login", {"username": "henry", "password": password}))["login"]
    assert refused["session"] is None and refused["errors"]
    old = await send(server, "MyPass", token=session["accessToken"])
    assert error_codes(old) == ["UNAUTHENTICATED"]
    renewed = (await ok(server, "RefreshSession", {"refreshToken": session["refreshToken"]}))["refreshSession"]
    assert renewed["session"] is None and renewed["errors"]

    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        reply = await gate.scan(demo.gates["Lobby turnstile in"], phone.token())
    finally:
        await gate.close()
    assert (reply["granted"], reply["reason"]) == (False, "revoked")


async def test_hr_may_not_offboard_an_admin(shared: Shared) -> None:
    server, demo, admin, ids = shared.server, shared.demo, shared.admin, shared.ids
    hr = await token_of(server, demo, "hr")
    before = await snapshot(server, admin)
    for username in ("admin", "security"):
        answer = await send(server, "OffboardEmployee", {"id": ids.people[username]}, hr)
        assert error_codes(answer) == ["FORBIDDEN"], (username, answer)
        assert answer["data"] is None
    assert await snapshot(server, admin) == before
    assert (await ok(server, "MyPass", token=admin))["me"]["displayName"] == "Ada Admin"


# --------------------------------------------------------------------------- console: grants


async def test_grant_access_takes_exactly_one_holder(shared: Shared) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    before = await snapshot(server, admin)
    zone = ids.zones["Management area"]
    for holder in ({}, {"personId": ids.people["bob"], "departmentId": ids.departments["Finance"]}):
        payload = (await ok(server, "GrantAccess", {"input": {"zoneId": zone, **holder}}, admin))["grantAccess"]
        assert payload["grant"] is None
        assert [code for code, _ in user_errors(payload)] == ["INVALID"], holder
    assert await snapshot(server, admin) == before


async def test_grant_access_refuses_a_window_ending_before_it_starts(shared: Shared) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    before = await snapshot(server, admin)
    start = datetime.now(UTC) + timedelta(days=2)
    grant = {
        "zoneId": ids.zones["Management area"],
        "personId": ids.people["bob"],
        "validFrom": start.isoformat(),
        "validUntil": (start - timedelta(hours=1)).isoformat(),
    }
    payload = (await ok(server, "GrantAccess", {"input": grant}, admin))["grantAccess"]
    assert payload["grant"] is None
    assert user_errors(payload) == [("INVALID", "validUntil")]
    assert await snapshot(server, admin) == before


async def test_grant_access_to_an_unknown_zone(shared: Shared) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    before = await snapshot(server, admin)
    for zone in ("999999", "abc"):
        grant = {"zoneId": zone, "personId": ids.people["bob"]}
        payload = (await ok(server, "GrantAccess", {"input": grant}, admin))["grantAccess"]
        assert payload["grant"] is None
        assert user_errors(payload) == [("NOT_FOUND", "zoneId")], zone
    assert await snapshot(server, admin) == before


async def test_a_grant_opens_the_gate(server: ServerProcess, demo: Demo, admin: str, ids: Ids) -> None:
    zone_id, gate_id, device = await new_gate_with_device(server, admin, "Archive")
    try:
        bob = await token_of(server, demo, "bob")
        phone = Phone()
        await phone.bind(GraphQLClient(server, bob))
        denied = await device.scan(gate_id, phone.token())
        assert (denied["granted"], denied["reason"]) == (False, "no_access")

        start = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
        end = start + timedelta(days=1)
        grant = {
            "zoneId": zone_id,
            "personId": ids.people["bob"],
            "validFrom": start.astimezone().isoformat(),
            "validUntil": end.isoformat().replace("+00:00", "Z"),
        }
        payload = (await ok(server, "GrantAccess", {"input": grant}, admin))["grantAccess"]
        assert payload["errors"] == []
        assert payload["grant"]["zone"] == {"id": zone_id}
        assert parse_instant(payload["grant"]["validFrom"]) == start
        assert parse_instant(payload["grant"]["validUntil"]) == end

        granted = await device.scan(gate_id, phone.token(step_offset=1))
        assert (granted["granted"], granted["reason"]) == (True, "ok")
        assert granted["person"] == {"displayName": "Bob Wang"}
        assert granted["open"]["gateId"] == gate_id
    finally:
        await device.close()


async def test_a_department_grant_opens_the_gate_for_its_members(
    server: ServerProcess, demo: Demo, admin: str, ids: Ids
) -> None:
    zone_id, gate_id, device = await new_gate_with_device(server, admin, "Vault")
    try:
        grant = {"zoneId": zone_id, "departmentId": ids.departments["Finance"]}
        payload = (await ok(server, "GrantAccess", {"input": grant}, admin))["grantAccess"]
        assert payload["errors"] == [] and payload["grant"]["validFrom"] is None
        for username, expected in (("bob", (True, "ok")), ("alice", (False, "no_access"))):
            phone = Phone()
            await phone.bind(GraphQLClient(server, await token_of(server, demo, username)))
            reply = await device.scan(gate_id, phone.token())
            assert (reply["granted"], reply["reason"]) == expected, username
    finally:
        await device.close()


# --------------------------------------------------------------------------- employee app


async def test_login(shared: Shared) -> None:
    server, demo = shared.server, shared.demo
    data = await ok(server, "Login", {"username": "carol", "password": demo.passwords["carol"]})
    assert data["login"]["errors"] == []
    session = data["login"]["session"]
    assert session["accessToken"] and session["refreshToken"]
    assert parse_instant(session["expiresAt"]) > datetime.now(UTC)
    me = (await ok(server, "MyPass", token=session["accessToken"]))["me"]
    assert me["displayName"] == "Carol Chen"
    assert sorted(me["roles"]) == ["DEPARTMENT_HEAD", "EMPLOYEE"]


async def test_login_with_a_wrong_password(shared: Shared) -> None:
    server, demo = shared.server, shared.demo
    for username, password in (("carol", demo.passwords["carol"] + "x"), ("nobody", "whatever"), ("carol", "")):
        data = await ok(server, "Login", {"username": username, "password": password})
        assert data["login"]["session"] is None
        assert [e["code"] for e in data["login"]["errors"]] == ["INVALID"], username


async def test_refresh_session_rotates(shared: Shared) -> None:
    server, demo = shared.server, shared.demo
    first = await login(server, "carol", demo.passwords["carol"])
    data = await ok(server, "RefreshSession", {"refreshToken": first["refreshToken"]})
    assert data["refreshSession"]["errors"] == []
    second = data["refreshSession"]["session"]
    assert second["refreshToken"] != first["refreshToken"]
    assert (await ok(server, "MyPass", token=second["accessToken"]))["me"]["displayName"] == "Carol Chen"

    # The new one works once more; the old one is spent.
    third = (await ok(server, "RefreshSession", {"refreshToken": second["refreshToken"]}))["refreshSession"]
    assert third["errors"] == [] and third["session"]["refreshToken"] not in (first["refreshToken"],)
    old = (await ok(server, "RefreshSession", {"refreshToken": first["refreshToken"]}))["refreshSession"]
    assert old["session"] is None
    assert [e["code"] for e in old["errors"]] == ["INVALID"]
    garbage = (await ok(server, "RefreshSession", {"refreshToken": "not-a-token"}))["refreshSession"]
    assert [e["code"] for e in garbage["errors"]] == ["INVALID"]


async def test_bind_phone_refuses_a_bad_key(shared: Shared) -> None:
    server, demo = shared.server, shared.demo
    alice = await token_of(server, demo, "alice")
    held = (await ok(server, "MyPass", token=alice))["me"]["pass"]
    raw = Phone().public_key
    bad_keys = (
        "not a key",
        raw.rstrip("="),  # unpadded
        base64.b64encode(b"\x01" * 31).decode(),  # 31 bytes
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # URL-safe alphabet
        "",
    )
    for key in bad_keys:
        payload = (await ok(server, "BindPhone", {"publicKey": key, "deviceName": "Pixel"}, alice))["bindPhone"]
        assert payload["credential"] is None
        assert user_errors(payload) == [("INVALID", "publicKey")], key
    assert (await ok(server, "MyPass", token=alice))["me"]["pass"] == held


async def test_bind_phone_supersedes_the_earlier_phone(server: ServerProcess, demo: Demo) -> None:
    alice = await token_of(server, demo, "alice")
    me = (await ok(server, "MyPass", token=alice))["me"]
    assert me["displayName"] == "Alice Li" and me["roles"] == ["EMPLOYEE"] and me["pass"] is None

    old_phone, new_phone = Phone(), Phone()
    first = await ok(server, "BindPhone", {"publicKey": old_phone.public_key, "deviceName": "Old phone"}, alice)
    credential = first["bindPhone"]["credential"]
    assert first["bindPhone"]["errors"] == []
    assert credential["status"] == "ACTIVE" and credential["periodSeconds"] == PERIOD
    old_phone.cid = credential["id"]
    assert (await ok(server, "MyPass", token=alice))["me"]["pass"] == {
        "credentialId": credential["id"],
        "periodSeconds": PERIOD,
        "status": "ACTIVE",
    }

    second = await ok(server, "BindPhone", {"publicKey": new_phone.public_key, "deviceName": "New phone"}, alice)
    new_credential = second["bindPhone"]["credential"]
    new_phone.cid = new_credential["id"]
    assert new_credential["id"] != credential["id"]
    assert (await ok(server, "MyPass", token=alice))["me"]["pass"] == {
        "credentialId": new_credential["id"],
        "periodSeconds": PERIOD,
        "status": "ACTIVE",
    }

    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        lobby_out = demo.gates["Lobby turnstile out"]
        stale = await gate.scan(lobby_out, old_phone.token())
        fresh = await gate.scan(lobby_out, new_phone.token())
    finally:
        await gate.close()
    assert (stale["granted"], stale["reason"]) == (False, "revoked")
    assert (fresh["granted"], fresh["reason"]) == (True, "ok")


async def test_my_access_log_pages(server: ServerProcess, demo: Demo) -> None:
    alice = await token_of(server, demo, "alice")
    phone = Phone()
    await phone.bind(GraphQLClient(server, alice))
    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        now = await at_least_seconds_left_in_step(server, 5)
        step = passtoken.current_step(now, PERIOD)
        passages = [
            (demo.gates["Lobby turnstile in"], step - 1),
            (demo.gates["Lobby turnstile out"], step),
            (demo.gates["Lobby turnstile in"], step + 1),
        ]
        for gate_id, s in passages:
            assert phone.cid is not None
            reply = await gate.scan(gate_id, passtoken.sign(phone.cid, s, phone.key))
            assert (reply["granted"], reply["reason"]) == (True, "ok"), reply
    finally:
        await gate.close()

    page1 = (await ok(server, "MyAccessLog", {"first": 2}, alice))["me"]["accessLog"]
    assert len(page1["edges"]) == 2
    assert page1["pageInfo"]["hasNextPage"] is True
    assert page1["pageInfo"]["endCursor"] == page1["edges"][-1]["cursor"]
    page2 = (await ok(server, "MyAccessLog", {"first": 2, "after": page1["pageInfo"]["endCursor"]}, alice))["me"]
    page2 = page2["accessLog"]
    assert len(page2["edges"]) == 1
    assert page2["pageInfo"]["hasNextPage"] is False

    nodes = [e["node"] for e in page1["edges"] + page2["edges"]]
    # Newest first: the three passages, in reverse.
    expected = list(reversed(passages))
    assert [n["gate"]["id"] for n in nodes] == [g for g, _ in expected]
    assert [n["direction"] for n in nodes] == ["IN", "OUT", "IN"]
    assert {(n["decision"], n["reason"]) for n in nodes} == {("GRANTED", "ok")}
    assert len({n["id"] for n in nodes}) == 3
    assert nodes[0]["gate"]["name"] == "Lobby turnstile in"
    times = [parse_instant(n["at"]) for n in nodes]
    assert times == sorted(times, reverse=True)

    everything = (await ok(server, "MyAccessLog", {"first": 100}, alice))["me"]["accessLog"]
    assert [e["node"]["id"] for e in everything["edges"]] == [n["id"] for n in nodes]


async def test_my_access_log_caps_first_at_100(shared: Shared) -> None:
    server, demo = shared.server, shared.demo
    alice = await token_of(server, demo, "alice")
    answer = await send(server, "MyAccessLog", {"first": 101}, alice)
    assert error_codes(answer) == ["BAD_USER_INPUT"]
    assert (await send(server, "MyAccessLog", {"first": 100}, alice)).get("errors") is None
    answer = await send(server, "MyAccessLog", {"first": 2, "after": "not-a-cursor"}, alice)
    assert error_codes(answer) == ["BAD_USER_INPUT"]


# --------------------------------------------------------------------------- bad input writes nothing

Vars = Callable[[Ids], dict[str, Any]]
REFUSED: list[tuple[str, str, Vars, tuple[str, str | None]]] = [
    # (case, operation, variables from the demo's ids, expected user error)
    ("department blank name", "CreateDepartment", lambda i: {"input": {"name": "   "}}, ("INVALID", "name")),
    (
        "department unknown parent",
        "CreateDepartment",
        lambda i: {"input": {"name": "Legal", "parentId": "999999"}},
        ("NOT_FOUND", "parentId"),
    ),
    (
        "department malformed parent",
        "CreateDepartment",
        lambda i: {"input": {"name": "Legal", "parentId": "abc"}},
        ("NOT_FOUND", "parentId"),
    ),
    (
        "department unknown head",
        "CreateDepartment",
        lambda i: {"input": {"name": "Legal", "headId": "999999"}},
        ("NOT_FOUND", "headId"),
    ),
    ("zone blank name", "CreateZone", lambda i: {"input": {"name": "   "}}, ("INVALID", "name")),
    (
        "zone unknown parent",
        "CreateZone",
        lambda i: {"input": {"name": "Attic", "parentId": "999999"}},
        ("NOT_FOUND", "parentId"),
    ),
    (
        "zone malformed parent",
        "CreateZone",
        lambda i: {"input": {"name": "Attic", "parentId": "abc"}},
        ("NOT_FOUND", "parentId"),
    ),
    (
        "gate blank name",
        "CreateGate",
        lambda i: {"input": {"name": "   ", "zoneId": i.zones["Lobby"], "direction": "IN"}},
        ("INVALID", "name"),
    ),
    (
        "gate on a missing zone",
        "CreateGate",
        lambda i: {"input": {"name": "Side door", "zoneId": "999999", "direction": "IN"}},
        ("NOT_FOUND", "zoneId"),
    ),
    (
        "gate on a malformed zone id",
        "CreateGate",
        lambda i: {"input": {"name": "Side door", "zoneId": "abc", "direction": "IN"}},
        ("NOT_FOUND", "zoneId"),
    ),
    (
        "device blank name",
        "RegisterDevice",
        lambda i: {"input": {"name": "   ", "kind": "QR_SCANNER", "gateIds": ["1"]}},
        ("INVALID", "name"),
    ),
    (
        "device unknown gate",
        "RegisterDevice",
        lambda i: {"input": {"name": "Spare", "kind": "QR_SCANNER", "gateIds": ["999999"]}},
        ("NOT_FOUND", "gateIds"),
    ),
    (
        "device malformed gate",
        "RegisterDevice",
        lambda i: {"input": {"name": "Spare", "kind": "QR_SCANNER", "gateIds": ["abc"]}},
        ("NOT_FOUND", "gateIds"),
    ),
    (
        "device without gates",
        "RegisterDevice",
        lambda i: {"input": {"name": "Spare", "kind": "QR_SCANNER", "gateIds": []}},
        ("INVALID", "gateIds"),
    ),
    (
        "employee blank name",
        "OnboardEmployee",
        lambda i: {"input": onboard_input(i.departments["Finance"], "ivy", displayName="   ")},
        ("INVALID", "displayName"),
    ),
    (
        "employee unknown department",
        "OnboardEmployee",
        lambda i: {"input": onboard_input("999999", "ivy")},
        ("NOT_FOUND", "departmentId"),
    ),
    (
        "employee malformed department",
        "OnboardEmployee",
        lambda i: {"input": onboard_input("abc", "ivy")},
        ("NOT_FOUND", "departmentId"),
    ),
    (
        "grant ending before it starts",
        "GrantAccess",
        lambda i: {
            "input": {
                "zoneId": i.zones["Lobby"],
                "personId": i.people["dave"],
                "validFrom": "2030-01-02T00:00:00+00:00",
                "validUntil": "2030-01-01T00:00:00+00:00",
            }
        },
        ("INVALID", "validUntil"),
    ),
    (
        "grant to an unknown person",
        "GrantAccess",
        lambda i: {"input": {"zoneId": i.zones["Lobby"], "personId": "999999"}},
        ("NOT_FOUND", "personId"),
    ),
    (
        "grant to a malformed department id",
        "GrantAccess",
        lambda i: {"input": {"zoneId": i.zones["Lobby"], "departmentId": "abc"}},
        ("NOT_FOUND", "departmentId"),
    ),
    ("offboard unknown person", "OffboardEmployee", lambda i: {"id": "999999"}, ("NOT_FOUND", "id")),
    ("offboard malformed id", "OffboardEmployee", lambda i: {"id": "abc"}, ("NOT_FOUND", "id")),
    (
        "zone moved under its own descendant",
        "UpdateZone",
        lambda i: {"id": i.zones["Lobby"], "input": {"parentId": i.zones["Engineering office"]}},
        ("INVALID", "parentId"),
    ),
    (
        "zone moved under itself",
        "UpdateZone",
        lambda i: {"id": i.zones["Finance office"], "input": {"parentId": i.zones["Finance office"]}},
        ("INVALID", "parentId"),
    ),
    (
        "zone renamed blank",
        "UpdateZone",
        lambda i: {"id": i.zones["Finance office"], "input": {"name": "   "}},
        ("INVALID", "name"),
    ),
    ("update unknown zone", "UpdateZone", lambda i: {"id": "999999", "input": {"name": "X"}}, ("NOT_FOUND", "id")),
    ("update malformed zone id", "UpdateZone", lambda i: {"id": "abc", "input": {"name": "X"}}, ("NOT_FOUND", "id")),
]


@pytest.mark.parametrize(("operation", "variables", "expected"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_refused_input_writes_nothing(
    shared: Shared, operation: str, variables: Vars, expected: tuple[str, str | None]
) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    before = await snapshot(server, admin)
    answer = await send(server, operation, variables(ids), admin)
    assert not answer.get("errors"), answer
    (payload,) = answer["data"].values()
    assert user_errors(payload) == [expected]
    assert [v for k, v in payload.items() if k != "errors"] == [None] * (len(payload) - 1), payload
    assert await snapshot(server, admin) == before


async def test_a_zone_cannot_become_its_own_ancestor(server: ServerProcess, admin: str) -> None:
    a = await create_zone(server, admin, "Campus")
    b = await create_zone(server, admin, "Building", a["id"])
    c = await create_zone(server, admin, "Floor", b["id"])
    before = await snapshot(server, admin)
    for zone, parent in ((a, c), (a, b), (b, c), (c, c)):
        payload = (await ok(server, "UpdateZone", {"id": zone["id"], "input": {"parentId": parent["id"]}}, admin))[
            "updateZone"
        ]
        assert payload["zone"] is None
        assert user_errors(payload) == [("INVALID", "parentId")], (zone["name"], parent["name"])
    assert await snapshot(server, admin) == before

    # A legal move still works: the floor becomes a root and the campus may then go under it.
    moved = (await ok(server, "UpdateZone", {"id": c["id"], "input": {"moveToRoot": True}}, admin))["updateZone"]
    assert moved["errors"] == [] and moved["zone"]["parent"] is None
    moved = (await ok(server, "UpdateZone", {"id": a["id"], "input": {"parentId": c["id"]}}, admin))["updateZone"]
    assert moved["errors"] == [] and moved["zone"]["parent"] == {"id": c["id"]}


# --------------------------------------------------------------------------- DateTime needs an offset


@pytest.mark.parametrize("value", ["2026-11-27T10:00:00", "2026-11-27"], ids=["no offset", "bare date"])
async def test_a_datetime_without_offset_is_bad_user_input(shared: Shared, value: str) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    before = await snapshot(server, admin)
    grant = {"zoneId": ids.zones["Management area"], "personId": ids.people["bob"], "validFrom": value}
    answer = await post(server, OPERATIONS["GrantAccess"], {"input": grant}, admin, "GrantAccess")
    assert await snapshot(server, admin) == before
    assert error_codes(answer) == ["BAD_USER_INPUT"], answer
    assert answer.get("data") is None


async def test_a_datetime_with_an_offset_is_the_same_instant(shared: Shared) -> None:
    server, admin, ids = shared.server, shared.admin, shared.ids
    grant = {
        "zoneId": ids.zones["Maintenance area"],
        "personId": ids.people["carol"],
        "validFrom": "2026-11-27T10:00:00+08:00",
        "validUntil": "2099-01-01T00:00:00Z",
    }
    payload = (await ok(server, "GrantAccess", {"input": grant}, admin))["grantAccess"]
    assert payload["errors"] == []
    assert parse_instant(payload["grant"]["validFrom"]) == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert parse_instant(payload["grant"]["validUntil"]) == datetime(2099, 1, 1, tzinfo=UTC)
    revoked = await post(server, OPERATIONS["RevokeGrant"], {"id": payload["grant"]["id"]}, admin, "RevokeGrant")
    assert revoked["data"]["revokeGrant"]["errors"] == []


# --------------------------------------------------------------------------- custodial pass


def assert_custodial_token(item: dict[str, Any], before: float) -> passtoken.ParsedToken:
    parsed = passtoken.parse(item["token"])
    assert parsed is not None, item["token"]
    now_step = passtoken.current_step(time.time(), PERIOD)
    assert passtoken.current_step(before, PERIOD) <= parsed.step <= now_step
    # validUntil is the last instant a gate accepts the token: the end of step + 1.
    until = parse_instant(item["validUntil"]).timestamp()
    end_of_next_step = (parsed.step + 2) * PERIOD
    assert end_of_next_step - 1 <= until <= end_of_next_step, (item, parsed.step)
    return parsed


async def test_pass_token_for_someone_without_a_phone(server: ServerProcess, demo: Demo) -> None:
    bob = await token_of(server, demo, "bob")
    before = time.time()
    answer = await post(server, OPERATIONS["CurrentPassToken"], None, bob, "CurrentPassToken")
    assert not answer.get("errors"), answer
    item = answer["data"]["passToken"]
    parsed = assert_custodial_token(item, before)

    me = (await ok(server, "MyPass", token=bob))["me"]
    assert me["pass"] == {"credentialId": parsed.cid, "periodSeconds": PERIOD, "status": "ACTIVE"}

    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        reply = await gate.scan(demo.gates["Lobby turnstile in"], item["token"])
    finally:
        await gate.close()
    assert (reply["granted"], reply["reason"]) == (True, "ok")
    assert reply["person"] == {"displayName": "Bob Wang"}


async def test_pass_tokens_subscription_yields_a_token_at_once(server: ServerProcess, demo: Demo) -> None:
    dave = await token_of(server, demo, "dave")
    before = time.time()
    started = time.monotonic()
    item = (await subscribe_first(server, "PassTokens", dave))["passTokens"]
    assert time.monotonic() - started < 5
    parsed = assert_custodial_token(item, before)
    # The same custodial credential the query uses.
    queried = (await post(server, OPERATIONS["CurrentPassToken"], None, dave, "CurrentPassToken"))["data"]
    assert passtoken.parse(queried["passToken"]["token"]).cid == parsed.cid  # type: ignore[union-attr]

    gate = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        reply = await gate.scan(demo.gates["Maintenance door"], item["token"])
    finally:
        await gate.close()
    assert (reply["granted"], reply["reason"]) == (True, "ok")


async def test_first_pass_tokens_at_once_share_one_pass(server: ServerProcess, demo: Demo) -> None:
    # An app that asks for its first token by query and subscription together must not get a
    # pass that the other request supersedes a moment later ("this pass has been revoked").
    dave = await token_of(server, demo, "dave")
    queries = [post(server, OPERATIONS["CurrentPassToken"], None, dave, "CurrentPassToken") for _ in range(8)]
    subscriptions = [subscribe_first(server, "PassTokens", dave) for _ in range(2)]
    answers = await asyncio.gather(*queries, *subscriptions)
    tokens = [a["data"]["passToken"]["token"] for a in answers[:8]] + [a["passTokens"]["token"] for a in answers[8:]]
    cids = {passtoken.parse(t).cid for t in tokens}  # type: ignore[union-attr]
    assert len(cids) == 1, cids
    me = (await ok(server, "MyPass", token=dave))["me"]
    assert me["pass"]["credentialId"] in cids and me["pass"]["status"] == "ACTIVE"


async def test_pass_token_is_not_for_a_phone_pass(server: ServerProcess, demo: Demo) -> None:
    alice = await token_of(server, demo, "alice")
    await Phone().bind(GraphQLClient(server, alice))
    answer = await post(server, OPERATIONS["CurrentPassToken"], None, alice, "CurrentPassToken")
    assert error_codes(answer) == ["NOT_ALLOWED"]
    assert answer["data"] is None
    with pytest.raises(TransportQueryError) as caught:
        await subscribe_first(server, "PassTokens", alice)
    assert [e["extensions"]["code"] for e in caught.value.errors or []] == ["NOT_ALLOWED"]
