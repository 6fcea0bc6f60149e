"""The permission matrix (schema/core/permission_matrix.py) kept honest three ways.

(a) README.md carries the matrix exactly as the permission classes declare it.
(b) The weekly schedule windows on grants (resolvers/access/schedules.py), unit-tested.
(c) A refusal test generated from the same rows: every role-restricted root field is
    sent, with dummy arguments built from the schema's SDL, signed out (UNAUTHENTICATED)
    and by every role the field does not admit (FORBIDDEN), against one real server.
    A field added without a permission class fails `test_only_sign_in_fields_are_open`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    Undefined,
    get_named_type,
    is_composite_type,
)

from api.demo import make_prc_id
from resolvers.access import schedules
from resolvers.core.errors import UserError
from resolvers.core.models import Role
from schema.core import permission_matrix
from schema.root import schema
from tests.harness import PROJECT, ServerProcess, SiteTemplate, sync_http_client

UTC_TZ = ZoneInfo("UTC")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2024, 1, 1, tzinfo=UTC)  # 2024-01-01 was a Monday


def at(weekday: int, hhmm: str, tz: ZoneInfo = UTC_TZ) -> datetime:
    """An instant on `weekday` (1 = Monday … 7 = Sunday) of the week of 2024-01-01, local time in `tz`."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    day = MONDAY.date() + timedelta(days=weekday - 1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


# =========================================================================== (a) README


def test_readme_carries_the_permission_matrix() -> None:
    readme = (PROJECT / "README.md").read_text()
    m = re.search(r"<!-- permissions:start -->\n(.*?)<!-- permissions:end -->", readme, re.S)
    assert m, "README.md has no <!-- permissions:start --> … <!-- permissions:end --> block"
    assert m.group(1) == permission_matrix.markdown(), (
        "README.md's permission matrix is stale: run `gatehouse print-permissions` and paste its output "
        "between the permissions markers"
    )


def test_matrix_rows_cover_every_root_field_once() -> None:
    graphql_schema = schema._schema
    expected = set()
    for root in ("Query", "Mutation", "Subscription"):
        root_type = graphql_schema.get_type(root)
        assert root_type is not None
        expected |= {(root, name) for name in root_type.fields}  # type: ignore[attr-defined]
    listed = [(r.root, r.field) for r in permission_matrix.rows()]
    assert len(listed) == len(set(listed))
    assert set(listed) == expected


def test_matrix_reads_the_declared_roles() -> None:
    rows = {(r.root, r.field): r for r in permission_matrix.rows()}
    assert rows[("Query", "auditLog")].roles == frozenset({Role.ADMIN, Role.AUDITOR})
    assert rows[("Query", "personalData")].roles == frozenset({Role.ADMIN, Role.HR})
    assert rows[("Mutation", "unlockAccount")].roles == frozenset({Role.ADMIN})
    assert rows[("Mutation", "grantAccess")].roles == frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.DEPARTMENT_HEAD})
    assert rows[("Mutation", "requestZoneAccess")].employees_only is True
    assert rows[("Mutation", "login")].roles is None
    assert rows[("Query", "me")].roles == permission_matrix.EVERY_ROLE
    assert rows[("Query", "me")].who == "signed in"


def test_only_sign_in_fields_are_open() -> None:
    # A new root field without a permission class would be open to anyone signed out.
    open_fields = {(r.root, r.field) for r in permission_matrix.rows() if r.roles is None}
    assert open_fields == {
        ("Mutation", "login"),
        ("Mutation", "refreshSession"),
        ("Mutation", "completeVisitorRegistration"),
        ("Query", "invitation"),  # the invite code is its caller's credential, rate-limited as registering
    }


# =========================================================================== (b) schedules


def test_validate_normalises_windows() -> None:
    assert schedules.validate([]) == []
    out = schedules.validate(
        [{"weekdays": [3, 1, 3], "start": "08:00", "end": "18:00"}, {"weekdays": [7], "start": "22:00", "end": "06:00"}]
    )
    assert out == [
        {"weekdays": [1, 3], "start": "08:00", "end": "18:00"},
        {"weekdays": [7], "start": "22:00", "end": "06:00"},
    ]


@pytest.mark.parametrize(
    "window",
    [
        {"weekdays": [], "start": "08:00", "end": "18:00"},
        {"weekdays": [0], "start": "08:00", "end": "18:00"},
        {"weekdays": [8], "start": "08:00", "end": "18:00"},
        {"weekdays": ["1"], "start": "08:00", "end": "18:00"},
        {"weekdays": 1, "start": "08:00", "end": "18:00"},
        {"start": "08:00", "end": "18:00"},
        {"weekdays": [1], "start": "24:00", "end": "18:00"},
        {"weekdays": [1], "start": "8:00", "end": "18:00"},
        {"weekdays": [1], "start": "08:60", "end": "18:00"},
        {"weekdays": [1], "start": "08:00", "end": "18:00:00"},
        {"weekdays": [1], "start": "08:00", "end": None},
        {"weekdays": [1], "start": "08:00"},
        {"weekdays": [1], "start": "08:00", "end": "08:00"},
        {"weekdays": [1], "start": " 08:00", "end": "09:00"},
    ],
)
def test_validate_refuses_bad_windows(window: dict[str, Any]) -> None:
    with pytest.raises(UserError) as caught:
        schedules.validate([window])
    assert (caught.value.code, caught.value.field) == ("INVALID", "schedule")


def test_validate_refuses_too_many_windows() -> None:
    window = {"weekdays": [1], "start": "08:00", "end": "09:00"}
    assert len(schedules.validate([window] * schedules.MAX_WINDOWS)) == schedules.MAX_WINDOWS
    with pytest.raises(UserError) as caught:
        schedules.validate([window] * (schedules.MAX_WINDOWS + 1))
    assert (caught.value.code, caught.value.field) == ("INVALID", "schedule")


def test_no_windows_means_any_time() -> None:
    assert schedules.allows([], at(3, "03:17"), UTC_TZ) is True


def test_day_window_includes_its_start_and_excludes_its_end() -> None:
    windows = [{"weekdays": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"}]
    assert schedules.allows(windows, at(1, "08:00"), UTC_TZ) is True
    assert schedules.allows(windows, at(1, "17:59"), UTC_TZ) is True
    assert schedules.allows(windows, at(1, "18:00"), UTC_TZ) is False
    assert schedules.allows(windows, at(1, "07:59"), UTC_TZ) is False
    assert schedules.allows(windows, at(5, "12:00"), UTC_TZ) is True
    assert schedules.allows(windows, at(6, "12:00"), UTC_TZ) is False  # Saturday


def test_night_window_belongs_to_the_day_it_starts() -> None:
    friday_nights = [{"weekdays": [5], "start": "22:00", "end": "06:00"}]
    assert schedules.allows(friday_nights, at(5, "22:00"), UTC_TZ) is True
    assert schedules.allows(friday_nights, at(5, "23:59"), UTC_TZ) is True
    assert schedules.allows(friday_nights, at(6, "00:00"), UTC_TZ) is True  # Saturday morning: Friday's night
    assert schedules.allows(friday_nights, at(6, "05:59"), UTC_TZ) is True
    assert schedules.allows(friday_nights, at(6, "06:00"), UTC_TZ) is False
    assert schedules.allows(friday_nights, at(5, "05:00"), UTC_TZ) is False  # Friday morning: Thursday's night
    assert schedules.allows(friday_nights, at(5, "21:59"), UTC_TZ) is False
    assert schedules.allows(friday_nights, at(6, "22:00"), UTC_TZ) is False
    assert schedules.allows(friday_nights, at(4, "23:00"), UTC_TZ) is False


def test_weekday_seven_is_sunday() -> None:
    sundays = [{"weekdays": [7], "start": "10:00", "end": "12:00"}]
    assert at(7, "11:00").isoweekday() == 7
    assert schedules.allows(sundays, at(7, "11:00"), UTC_TZ) is True
    assert schedules.allows(sundays, at(1, "11:00"), UTC_TZ) is False
    assert schedules.allows(sundays, at(6, "11:00"), UTC_TZ) is False
    sunday_nights = [{"weekdays": [7], "start": "22:00", "end": "06:00"}]
    # Monday 03:00 is still Sunday's night (the week wraps from 7 to 1).
    assert schedules.allows(sunday_nights, at(1, "03:00"), UTC_TZ) is True
    assert schedules.allows(sunday_nights, at(7, "03:00"), UTC_TZ) is False


def test_windows_are_read_in_the_site_time_zone() -> None:
    office = [{"weekdays": [1], "start": "08:00", "end": "18:00"}]
    monday_0100_utc = at(1, "01:00")  # 09:00 in Shanghai
    assert schedules.allows(office, monday_0100_utc, SHANGHAI) is True
    assert schedules.allows(office, monday_0100_utc, UTC_TZ) is False
    # Sunday 23:00 UTC is Monday 07:00 in Shanghai: not yet open.
    assert schedules.allows(office, at(7, "23:00"), SHANGHAI) is False
    # Monday 10:30 UTC is 18:30 in Shanghai: closed; in UTC it is open.
    assert schedules.allows(office, at(1, "10:30"), SHANGHAI) is False
    assert schedules.allows(office, at(1, "10:30"), UTC_TZ) is True


def test_any_window_suffices() -> None:
    windows = [
        {"weekdays": [1], "start": "08:00", "end": "09:00"},
        {"weekdays": [1], "start": "17:00", "end": "18:00"},
    ]
    assert schedules.allows(windows, at(1, "08:30"), UTC_TZ) is True
    assert schedules.allows(windows, at(1, "17:30"), UTC_TZ) is True
    assert schedules.allows(windows, at(1, "12:00"), UTC_TZ) is False


# =========================================================================== (c) generated refusals


def dummy(t: GraphQLInputType) -> Any:
    """A value of the right type for an argument or input field."""
    if isinstance(t, GraphQLNonNull):
        return dummy(t.of_type)
    if isinstance(t, GraphQLList):
        return [dummy(t.of_type)]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLInputObjectType):
        return {
            name: dummy(f.type)
            for name, f in t.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        }
    assert isinstance(t, GraphQLScalarType), t
    values = {
        "ID": "1",
        "String": "x",
        "Int": 1,
        "Float": 1.0,
        "Boolean": False,
        "DateTime": "2030-01-01T00:00:00Z",
        "Date": "2030-01-01",
        "JSON": {},
    }
    assert t.name in values, f"no dummy value for scalar {t.name}: add one"
    return values[t.name]


def operation_for(root: str, name: str) -> tuple[str, dict[str, Any]]:
    """A minimal valid operation for a root field: required arguments as variables, `__typename` selected."""
    root_type = schema._schema.get_type(root)
    field: GraphQLField = root_type.fields[name]  # type: ignore[union-attr]
    required = {
        arg_name: arg
        for arg_name, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
    }
    variables = {arg_name: dummy(arg.type) for arg_name, arg in required.items()}
    declared = ", ".join(f"${a}: {arg.type}" for a, arg in required.items())
    passed = ", ".join(f"{a}: ${a}" for a in required)
    selection = " { __typename }" if is_composite_type(get_named_type(field.type)) else ""
    keyword = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}[root]
    head = f"{keyword} Probe({declared})" if declared else f"{keyword} Probe"
    call = f"{name}({passed})" if passed else name
    return f"{head} {{ {call}{selection} }}", variables


def test_operation_builder() -> None:
    query, variables = operation_for("Mutation", "grantAccess")
    assert query == "mutation Probe($input: GrantAccessInput!) { grantAccess(input: $input) { __typename } }"
    assert variables == {"input": {"zoneId": "1"}}
    query, variables = operation_for("Query", "expectedVisitors")
    assert query == "query Probe($day: Date!) { expectedVisitors(day: $day) { __typename } }"
    assert variables == {"day": "2030-01-01"}
    query, variables = operation_for("Mutation", "recordManualEntry")
    assert variables["input"] == {
        "personId": "1",
        "gateId": "1",
        "direction": "IN",
        "documentType": "WORK_BADGE",
        "documentNumberLast4": "x",
    }
    assert operation_for("Query", "grantsDueForReview") == ("query Probe { grantsDueForReview { __typename } }", {})


@dataclass(frozen=True)
class Caller:
    name: str
    token: str
    roles: frozenset[Role]
    visitor: bool = False


@dataclass
class Probe:
    server: ServerProcess
    callers: list[Caller]


# One connection pool for the module.
_http = sync_http_client()


def _post(server: ServerProcess, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = _http.post(server.http + "/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code in (200, 400), (r.status_code, r.text)
    return r.json()


def _ok(server: ServerProcess, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
    body = _post(server, query, variables or {}, token)
    assert not body.get("errors"), body
    return body["data"]


def _login(server: ServerProcess, username: str, password: str) -> str:
    data = _ok(
        server,
        "mutation($u: String!, $p: String!) { login(username: $u, password: $p) "
        "{ session { accessToken } errors { code } } }",
        {"u": username, "p": password},
    )
    assert data["login"]["errors"] == [], data
    return str(data["login"]["session"]["accessToken"])


def _me(server: ServerProcess, token: str) -> tuple[frozenset[Role], str]:
    me = _ok(server, "{ me { roles kind } }", token=token)["me"]
    return frozenset(Role(r) for r in me["roles"]), me["kind"]


@pytest.fixture(scope="module")
def probe(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Probe]:
    """One demo server; a signed-in caller for every role, and a visitor."""
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("matrix"))
    demo = demo_template.demo
    server = site.start_server()
    try:
        callers = []
        for username in demo.passwords:  # every demo user, signed in on the template
            token = demo.tokens[username]
            roles, kind = _me(server, token)
            assert kind == "EMPLOYEE"
            callers.append(Caller(username, token, roles))
        admin = next(c.token for c in callers if c.name == "admin")
        departments = {
            d["name"]: d["id"] for d in _ok(server, "{ departments { id name } }", token=admin)["departments"]
        }
        # A role no demo user holds gets one onboarded user, so every role is tried.
        missing = sorted(set(Role) - {r for c in callers for r in c.roles}, key=lambda r: r.value)
        for n, role in enumerate(missing):
            payload = _ok(
                server,
                "mutation($input: OnboardEmployeeInput!) { onboardEmployee(input: $input) "
                "{ employee { id roles } initialPassword errors { code field } } }",
                {
                    "input": {
                        "displayName": f"Role {role.value}",
                        "idNumber": make_prc_id("310104", "19900315", f"{500 + n:03d}"),
                        "phone": f"+861390000{n:04d}",
                        "departmentId": departments["Security"],
                        "position": role.value.title(),
                        "username": f"role-{role.value.lower()}",
                        "roles": [role.value],
                    }
                },
                admin,
            )["onboardEmployee"]
            assert payload["errors"] == [], payload
            token = _login(server, f"role-{role.value.lower()}", payload["initialPassword"])
            roles, _ = _me(server, token)
            assert roles == {role, Role.EMPLOYEE}
            callers.append(Caller(f"role-{role.value.lower()}", token, roles))
        # A visitor: alice invites, the visitor registers with the code and is signed in.
        zones = {z["name"]: z["id"] for z in _ok(server, "{ zones { id name } }", token=admin)["zones"]}
        alice = next(c for c in callers if c.name == "alice")
        start = datetime.now(UTC) + timedelta(hours=1)
        invite = _ok(
            server,
            "mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input) "
            "{ visit { id inviteCode } errors { code field } } }",
            {
                "input": {
                    "visitorName": "Vera Visitor",
                    "phone": "+8613700000001",
                    "purpose": "permission probe",
                    "expectedStart": start.isoformat(),
                    "expectedEnd": (start + timedelta(hours=2)).isoformat(),
                    "zoneIds": [zones["Engineering office"]],
                }
            },
            alice.token,
        )["inviteVisitor"]
        assert invite["errors"] == [], invite
        registered = _ok(
            server,
            "mutation($code: String!, $input: VisitorDetailsInput!) { completeVisitorRegistration("
            "inviteCode: $code, input: $input) { session { accessToken } errors { code field } } }",
            {"code": invite["visit"]["inviteCode"], "input": {"idNumber": make_prc_id("310104", "19920101", "777")}},
        )["completeVisitorRegistration"]
        assert registered["errors"] == [], registered
        visitor_token = registered["session"]["accessToken"]
        roles, kind = _me(server, visitor_token)
        assert kind == "VISITOR"
        callers.append(Caller("visitor", visitor_token, roles, visitor=True))
        assert {r for c in callers for r in c.roles} == set(Role), "every role has a caller"
        yield Probe(server, callers)
    finally:
        _http.close()
        site.stop()


def refused_callers(row: permission_matrix.Row, callers: list[Caller]) -> list[Caller]:
    """Callers the row's permission classes turn away."""
    restricted = row.roles is not None and row.roles != permission_matrix.EVERY_ROLE
    out = []
    for caller in callers:
        if (restricted and not (caller.roles & row.roles)) or (row.employees_only and caller.visitor):  # type: ignore[operator]
            out.append(caller)
    return out


def admitted_caller(row: permission_matrix.Row, callers: list[Caller]) -> Caller:
    refused = {c.name for c in refused_callers(row, callers)}
    admitted = [c for c in callers if c.name not in refused]
    return next((c for c in admitted if Role.ADMIN in c.roles), admitted[0])


async def send(server: ServerProcess, root: str, query: str, variables: dict[str, Any], token: str | None) -> Any:
    """The answer's errors (or [] and the data) for a query/mutation over HTTP or a subscription over WebSocket."""
    if root != "Subscription":
        return _post(server, query, variables, token)
    transport = WebsocketsTransport(
        url=server.ws + "/graphql",
        init_payload={"authorization": f"Bearer {token}"} if token else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    request = GraphQLRequest(gql(query), variable_values=variables)
    async with Client(transport=transport) as session:
        stream = session.subscribe(request)
        try:
            item = await asyncio.wait_for(stream.__anext__(), 10)
            return {"data": item}
        except TransportQueryError as exc:
            return {"data": exc.data, "errors": exc.errors}
        finally:
            await stream.aclose()


def codes(answer: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]


RESTRICTED_ROWS = [r for r in permission_matrix.rows() if r.roles is not None]


@pytest.mark.parametrize("row", RESTRICTED_ROWS, ids=[f"{r.root}.{r.field}" for r in RESTRICTED_ROWS])
async def test_restricted_field_refuses_callers_it_does_not_admit(probe: Probe, row: permission_matrix.Row) -> None:
    query, variables = operation_for(row.root, row.field)

    anonymous = await send(probe.server, row.root, query, variables, None)
    assert codes(anonymous) == ["UNAUTHENTICATED"], (query, anonymous)
    assert anonymous["errors"][0]["path"] == [row.field]
    assert not (anonymous.get("data") or {}).get(row.field)

    refused = refused_callers(row, probe.callers)
    restricted = row.roles != permission_matrix.EVERY_ROLE
    if restricted or row.employees_only:
        assert refused, f"{row.field}: no caller outside {row.who}; add one to the probe fixture"
    for caller in refused:
        answer = await send(probe.server, row.root, query, variables, caller.token)
        assert codes(answer) == ["FORBIDDEN"], (caller.name, query, answer)
        assert answer["errors"][0]["path"] == [row.field]
        assert not (answer.get("data") or {}).get(row.field)

    if row.root == "Query":
        # The probe itself is sound: a caller the field admits is not refused.
        caller = admitted_caller(row, probe.callers)
        answer = await send(probe.server, row.root, query, variables, caller.token)
        assert not {"UNAUTHENTICATED", "FORBIDDEN", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT"} & set(
            codes(answer)
        ), (caller.name, query, answer)


def test_every_subscription_is_probed() -> None:
    subscriptions = {r.field for r in RESTRICTED_ROWS if r.root == "Subscription"}
    root = schema._schema.subscription_type
    assert root is not None
    assert subscriptions == set(root.fields)
