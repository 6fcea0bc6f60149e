"""Refusals that matter, generated from one table: who may call each contract operation.

`TABLE` names every operation in mobile_contracts/ (a new one fails
`test_every_operation_is_in_the_table` until it gets a row) with the callers allowed to
run it (contracts/README.md "Who may call what"; the project's own staff queries by their
declared permission classes). Every operation is then sent as written, over HTTP or
graphql-transport-ws, by each caller: no token → UNAUTHENTICATED, a caller outside the
row → FORBIDDEN with no data, a caller inside the row → neither. Ownership, bad bearers
and malformed requests follow. No answer may be an HTTP 500 or INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from graphql import OperationDefinitionNode, OperationType, parse

from api.demo import make_prc_id
from mobile_contracts import documents
from resolvers.core.crypto import Keys
from resolvers.people.auth_tokens import issue_access_token
from tests.harness import (
    Demo,
    Gate,
    GraphQLClient,
    Phone,
    ServerProcess,
    Site,
    SiteTemplate,
    http_client,
    sync_http_client,
)

# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Document:
    file: str
    text: str
    kind: OperationType


def _index() -> dict[str, Document]:
    out: dict[str, Document] = {}
    for file, text in documents().items():
        for d in parse(text).definitions:
            if isinstance(d, OperationDefinitionNode) and d.name:
                out[d.name.value] = Document(file, text, d.operation)
    return out


OPERATIONS = _index()

# --------------------------------------------------------------------------- callers

ANONYMOUS = "anonymous"
USERS = ("alice", "hr", "guard", "security", "admin")  # EMPLOYEE, HR, GUARD, SECURITY_ADMIN, ADMIN
CALLERS = (ANONYMOUS, *USERS)

SIGNED_IN = frozenset(USERS)
ANYONE = frozenset(CALLERS)
EMPLOYEES = frozenset(USERS)  # everyone in the demo is an employee
PEOPLE_ADMINS = frozenset({"admin", "hr"})
SITE_ADMINS = frozenset({"admin", "security"})
GATE_STAFF = frozenset({"admin", "security", "guard"})
STAFF = frozenset({"admin", "security", "hr", "guard"})


@dataclass
class Ctx:
    """The shared site, signed-in tokens and a few of its ids."""

    site: Site
    server: ServerProcess
    demo: Demo
    tokens: dict[str, str]
    refresh_tokens: dict[str, str]
    people: dict[str, str]


Vars = Callable[[Ctx], dict[str, Any]]
Trigger = Callable[[Ctx], Awaitable[None]]


async def malformed_scan(ctx: Ctx) -> None:
    """A gate event for guards: a scan nobody could decode (a fresh `ref`, or the device's answer is replayed)."""
    gate = await Gate(ctx.server, ctx.demo.device_id, ctx.demo.device_secret).connect()
    try:
        await gate.scan(ctx.demo.gates["Lobby turnstile in"], "NOT-A-PASS", ref=uuid.uuid4().hex)
    finally:
        await gate.close()


async def scan_at_unknown_gate(ctx: Ctx) -> None:
    """A device alert for guards: a device names a gate the server does not know.

    A fresh device each time: alerts are throttled per (kind, device, gate).
    """
    register = "mutation($i: RegisterDeviceInput!) { registerDevice(input: $i) { device { id } deviceSecret } }"
    variables = {
        "i": {
            "name": f"alert {uuid.uuid4().hex[:8]}",
            "kind": "QR_SCANNER",
            "gateIds": [ctx.demo.gates["Lobby turnstile in"]],
        }
    }
    r = await post(ctx.server, {"query": register, "variables": variables}, ctx.tokens["admin"])
    registered = r.json()["data"]["registerDevice"]
    gate = await Gate(ctx.server, registered["device"]["id"], registered["deviceSecret"]).connect()
    try:
        await gate.scan("999999", "NOT-A-PASS", ref=uuid.uuid4().hex)
    finally:
        await gate.close()


_visitor_numbers = itertools.count(600)
_hosts_may_invite: set[int] = set()  # servers where hr holds a grant to invite into


async def visitors_arrive(ctx: Ctx) -> None:
    """A visitor arrives for every employee who may subscribe: invited by them, registered,
    approved, checked in at the desk (each host's VisitorArrivals hears of their own)."""
    client = GraphQLClient(ctx.server)
    zones = {z["name"]: z["id"] for z in (await client.ok("{ zones { id name } }", token=ctx.tokens["admin"]))["zones"]}
    if ctx.server.port not in _hosts_may_invite:  # a host invites only into a zone they may enter themselves
        granted = await client.ok(
            "mutation($i: GrantAccessInput!) { grantAccess(input: $i) { errors { code } } }",
            {"i": {"zoneId": zones["Lobby"], "personId": ctx.people["hr"]}},
            token=ctx.tokens["admin"],
        )
        assert granted["grantAccess"]["errors"] == [], granted
        _hosts_may_invite.add(ctx.server.port)
    start = datetime.now(UTC).replace(microsecond=0)
    for host in sorted(EMPLOYEES):
        zone = zones["Engineering office" if host == "alice" else "Lobby"]
        invited = (
            await client.ok(
                "mutation($i: InviteVisitorInput!)"
                " { inviteVisitor(input: $i) { visit { id inviteCode } errors { code } } }",
                {
                    "i": {
                        "visitorName": f"Visitor of {host}",
                        "phone": "+8613900000001",
                        "purpose": "refusals table",
                        "expectedStart": start.isoformat(),
                        "expectedEnd": (start + timedelta(hours=2)).isoformat(),
                        "zoneIds": [zone],
                    }
                },
                token=ctx.tokens[host],
            )
        )["inviteVisitor"]
        assert invited["errors"] == [], invited
        visit, id_number = invited["visit"]["id"], make_prc_id("310101", "19910303", f"{next(_visitor_numbers):03d}")
        registered = await client.ok(
            "mutation($c: String!, $i: VisitorDetailsInput!) { completeVisitorRegistration(inviteCode: $c, input: $i)"
            " { errors { code } } }",
            {"c": invited["visit"]["inviteCode"], "i": {"idNumber": id_number}},
        )
        assert registered["completeVisitorRegistration"]["errors"] == [], registered
        approved = await client.ok(
            "mutation($id: ID!) { approveVisit(id: $id) { errors { code } } }", {"id": visit}, token=ctx.tokens[host]
        )
        assert approved["approveVisit"]["errors"] == [], approved
        checked_in = await client.ok(
            "mutation($id: ID!, $l: String!) { checkInVisitor(id: $id, idNumberLast4: $l) { errors { code } } }",
            {"id": visit, "l": id_number[-4:]},
            token=ctx.tokens["guard"],
        )
        assert checked_in["checkInVisitor"]["errors"] == [], checked_in


_invite_codes: dict[int, str] = {}  # server port → an unused invite code alice made


def unused_invite_code(ctx: Ctx) -> str:
    """One live invitation per site (looking it up does not use it): VisitInvitation's callers
    get data back, not null, and add no failed guess to the address's invite-code budget."""
    if ctx.server.port not in _invite_codes:
        ids = ctx.site.ids
        assert ids is not None
        start = datetime.now(UTC).replace(microsecond=0)
        variables = {
            "i": {
                "visitorName": "Looked Up",
                "phone": "+8613900000002",
                "purpose": "refusals table",
                "expectedStart": start.isoformat(),
                "expectedEnd": (start + timedelta(hours=2)).isoformat(),
                "zoneIds": [ids.zones["Engineering office"]],
            }
        }
        query = (
            "mutation($i: InviteVisitorInput!) { inviteVisitor(input: $i) { visit { inviteCode } errors { code } } }"
        )
        with sync_http_client() as http:
            body = http.post(
                ctx.server.http + "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {ctx.tokens['alice']}"},
            ).json()
        assert body["data"]["inviteVisitor"]["errors"] == [], body
        _invite_codes[ctx.server.port] = body["data"]["inviteVisitor"]["visit"]["inviteCode"]
    return _invite_codes[ctx.server.port]


_stocktakes: dict[int, str] = {}


def a_stocktake(ctx: Ctx) -> str:
    """One open stocktake of every location per site, opened by the admin: StocktakeReport's
    callers get it back, not null (counting nothing, it changes no record)."""
    if ctx.server.port not in _stocktakes:
        query = "mutation { openStocktake { stocktake { id } errors { code } } }"
        with sync_http_client() as http:
            body = http.post(
                ctx.server.http + "/graphql",
                json={"query": query},
                headers={"Authorization": f"Bearer {ctx.tokens['admin']}"},
            ).json()
        assert body["data"]["openStocktake"]["errors"] == [], body
        _stocktakes[ctx.server.port] = body["data"]["openStocktake"]["stocktake"]["id"]
    return _stocktakes[ctx.server.port]


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    variables: Vars = field(default=lambda ctx: {})
    trigger: Trigger | None = None  # subscriptions: makes the first item arrive for an allowed caller
    # Ends the session it is sent with: sent with a session of its own, not the shared one.
    own_session: bool = False


TOMORROW = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
# A throwaway VAPID key (32 bytes, base64url) for the table's server.
VAPID_KEY = "rJ7B3w0uJ0m9m8w5yG7m2Jr0oQy3xXk8e9D3vT6hQ2A"
NOWHERE = "999999"

# Allowed callers get variables that reach the resolver but write nothing (unknown ids, blank names).
TABLE: dict[str, Row] = {
    # console.graphql: ADMIN and HR for people, ADMIN and SECURITY_ADMIN for the site.
    "CreateDepartment": Row(PEOPLE_ADMINS, lambda c: {"input": {"name": "   "}}),
    "CreateZone": Row(SITE_ADMINS, lambda c: {"input": {"name": "   "}}),
    "CreateGate": Row(SITE_ADMINS, lambda c: {"input": {"name": "X", "zoneId": NOWHERE, "direction": "IN"}}),
    "RegisterDevice": Row(SITE_ADMINS, lambda c: {"input": {"name": "X", "kind": "QR_SCANNER", "gateIds": [NOWHERE]}}),
    "OnboardEmployee": Row(
        PEOPLE_ADMINS,
        lambda c: {
            "input": {
                "displayName": "Nobody",
                "idNumber": "11010119900101100X",
                "phone": "+8613900000000",
                "departmentId": NOWHERE,
                "position": "None",
                "username": "nobody",
            }
        },
    ),
    "GrantAccess": Row(SITE_ADMINS, lambda c: {"input": {"zoneId": NOWHERE, "personId": c.people["bob"]}}),
    "OffboardEmployee": Row(PEOPLE_ADMINS, lambda c: {"id": NOWHERE}),
    # employee.graphql: anyone signs in; the rest is the caller's own.
    "Login": Row(ANYONE, lambda c: {"username": "dave", "password": c.demo.passwords["dave"]}),
    "RefreshSession": Row(ANYONE, lambda c: {"refreshToken": "not-a-refresh-token"}),
    "BindPhone": Row(SIGNED_IN, lambda c: {"publicKey": "not a key", "deviceName": "Phone"}),
    "MyPass": Row(SIGNED_IN),
    "MyAccessLog": Row(SIGNED_IN, lambda c: {"first": 1}),
    # phone_app.graphql (the web app's own): signing in and out, the caller's own password and days.
    "SignIn": Row(ANYONE, lambda c: {"username": "dave", "password": c.demo.passwords["dave"]}),
    "SignOut": Row(SIGNED_IN, own_session=True),
    # Refused before the current password is checked (too short): nothing changes, no failed sign-in.
    "ChangePassword": Row(SIGNED_IN, lambda c: {"currentPassword": "whatever", "newPassword": "x"}),
    "PhoneAppMe": Row(SIGNED_IN),
    "MyAttendance": Row(SIGNED_IN, lambda c: {"personId": NOWHERE, "from": "2026-01-01", "to": "2026-01-31"}),
    # guard.graphql: GUARD, SECURITY_ADMIN, ADMIN.
    "GateEvents": Row(GATE_STAFF, trigger=malformed_scan),
    "RemoteOpen": Row(GATE_STAFF, lambda c: {"gateId": NOWHERE, "reason": "test"}),
    "RecordManualEntry": Row(
        GATE_STAFF,
        lambda c: {
            "input": {
                "personId": c.people["bob"],
                "gateId": NOWHERE,
                "direction": "IN",
                "documentType": "ID_CARD",
                "documentNumberLast4": "0000",
            }
        },
    ),
    "ExpectedVisitors": Row(GATE_STAFF, lambda c: {"day": TOMORROW.date().isoformat()}),
    "CheckInVisitor": Row(GATE_STAFF, lambda c: {"id": NOWHERE, "idNumberLast4": "0000"}),
    "CheckOutVisitor": Row(GATE_STAFF, lambda c: {"id": NOWHERE}),
    # host.graphql: any employee, as host (the visit's host only: unknown visits are NOT_FOUND).
    "InviteVisitor": Row(
        EMPLOYEES,
        lambda c: {
            "input": {
                "visitorName": "   ",
                "phone": "+8613900000000",
                "purpose": "Meeting",
                "expectedStart": TOMORROW.isoformat(),
                "expectedEnd": (TOMORROW + timedelta(hours=1)).isoformat(),
                "zoneIds": [NOWHERE],
            }
        },
    ),
    "ApproveVisit": Row(EMPLOYEES, lambda c: {"id": NOWHERE}),
    "RejectVisit": Row(EMPLOYEES, lambda c: {"id": NOWHERE, "reason": "No"}),
    "EndVisit": Row(EMPLOYEES, lambda c: {"id": NOWHERE}),
    "MyHostedVisits": Row(SIGNED_IN, lambda c: {"first": 1}),
    "VisitorArrivals": Row(EMPLOYEES, trigger=visitors_arrive),
    # visitor.graphql: registration needs only the invite code; the rest is the caller's own.
    "CompleteVisitorRegistration": Row(
        ANYONE, lambda c: {"inviteCode": "NOT-A-CODE", "input": {"idNumber": "11010119900101100X"}}
    ),
    "MyVisit": Row(SIGNED_IN),
    "PassTokens": Row(SIGNED_IN),
    # gatehouse.graphql: the caller's own custodial pass, and staff queries by their permission classes.
    "RequestCustodialPass": Row(SIGNED_IN, lambda c: {"deviceName": "   "}),
    "CurrentPassToken": Row(SIGNED_IN),
    "UpdateZone": Row(SITE_ADMINS, lambda c: {"id": NOWHERE, "input": {"name": "X"}}),
    "RevokeGrant": Row(SITE_ADMINS, lambda c: {"id": NOWHERE}),
    "Site": Row(GATE_STAFF),  # zones and gates: staff; devices: gate staff
    "People": Row(STAFF, lambda c: {"first": 1}),
    "PersonGrants": Row(SITE_ADMINS, lambda c: {"personId": c.people["bob"]}),
    "GateEventLog": Row(GATE_STAFF, lambda c: {"first": 1}),
    "DeviceAlertLog": Row(GATE_STAFF, lambda c: {"first": 1}),
    "MusterRollCall": Row(GATE_STAFF),
    "ConfirmLeft": Row(GATE_STAFF, lambda c: {"input": {"personId": NOWHERE, "note": "test"}}),
    # Backups (issue 17): ADMIN, SECURITY_ADMIN and AUDITOR (no auditor among these callers).
    "BackupRuns": Row(SITE_ADMINS, lambda c: {"limit": 1}),
    "DeviceAlerts": Row(GATE_STAFF, trigger=scan_at_unknown_gate),
    # Supervision (issue 18): the team and overview for its readers (no SUPERVISOR, AUDITOR or
    # EXECUTIVE among these callers); inspections also for HR joining one; a spot check is
    # started by ADMIN and SUPERVISOR; notices are answered by a department's head (row rule).
    "SupervisionTeam": Row(SITE_ADMINS),
    "ExecutiveSupervisionView": Row(SITE_ADMINS),
    "Inspections": Row(SITE_ADMINS | {"hr"}, lambda c: {"first": 1}),
    "StartSpotInspection": Row(frozenset({"admin"}), lambda c: {"input": {"title": "   ", "areas": ["entry"]}}),
    "MyRectificationNotices": Row(EMPLOYEES),
    "AnswerRectificationNotice": Row(EMPLOYEES, lambda c: {"id": NOWHERE, "text": "done"}),
    "VerifyRectificationNotice": Row(SITE_ADMINS | {"hr"}, lambda c: {"id": NOWHERE}),
    "SetSupervisionTeamMember": Row(frozenset({"admin"}), lambda c: {"personId": NOWHERE, "member": True}),
    # The second factor: anyone signs in; one's own enrolment and confirmation (nothing guessed,
    # so no sign-in failure is counted; the enrolment started stays pending, inactive).
    "LoginWithSecondFactor": Row(ANYONE, lambda c: {"username": "dave", "password": c.demo.passwords["dave"]}),
    "MySecurity": Row(SIGNED_IN),
    "StartTotpEnrollment": Row(EMPLOYEES),
    "ConfirmTotpEnrollment": Row(EMPLOYEES, lambda c: {"code": "not a code"}),
    "DisableTotp": Row(EMPLOYEES, lambda c: {"password": "", "code": ""}),
    "ConfirmIdentity": Row(SIGNED_IN),
    # phone_app_visits.graphql: the web app's visitor and host screens.
    "VisitInvitation": Row(ANYONE, lambda c: {"inviteCode": unused_invite_code(c)}),
    "MyVisitDetails": Row(SIGNED_IN),
    "ZonesToInviteTo": Row(EMPLOYEES),
    "EmergencyVisitsToDecide": Row(EMPLOYEES, lambda c: {"first": 1}),
    "AccessRequestsToDecide": Row(EMPLOYEES, lambda c: {"first": 1}),
    "ItemRequestsToDecide": Row(EMPLOYEES, lambda c: {"first": 1}),
    "ApproveAccessRequest": Row(EMPLOYEES, lambda c: {"id": NOWHERE}),
    "RejectAccessRequest": Row(EMPLOYEES, lambda c: {"id": NOWHERE, "note": "No"}),
    "ApproveItemRequest": Row(EMPLOYEES, lambda c: {"id": NOWHERE}),
    "RejectItemRequest": Row(EMPLOYEES, lambda c: {"id": NOWHERE, "comment": "No"}),
    # phone_app_faces.graphql: the phone app's face screens; a bad photo or version writes nothing.
    "FaceConsent": Row(SIGNED_IN, lambda c: {"language": "en"}),
    "MyFace": Row(SIGNED_IN),
    "EnrolMyFace": Row(SIGNED_IN, lambda c: {"photo": "not base64!", "consentVersion": "1999-v0"}),
    "WithdrawFaceConsent": Row(SIGNED_IN),
    # phone_app_stocktakes.graphql: the phone app's stocktake screen; reads by item readers
    # (admin, security here), counting by stocktakers (admin); no such stocktake writes nothing.
    "StocktakesToCount": Row(SITE_ADMINS),
    "StocktakePlaces": Row(SITE_ADMINS),
    "StocktakeReport": Row(SITE_ADMINS, lambda c: {"id": a_stocktake(c)}),
    "OpenStocktake": Row(frozenset({"admin"}), lambda c: {"locationId": NOWHERE}),
    "ScanStocktakeLabel": Row(
        frozenset({"admin"}), lambda c: {"stocktakeId": NOWHERE, "label": "forged", "locationId": NOWHERE}
    ),
    "CountStocktakeStock": Row(
        frozenset({"admin"}),
        lambda c: {"stocktakeId": NOWHERE, "itemId": NOWHERE, "locationId": NOWHERE, "quantity": 1},
    ),
    "CloseStocktake": Row(frozenset({"admin"}), lambda c: {"id": NOWHERE}),
    # phone_app_push.graphql / phone_app_notify_settings.graphql: the Notifications screen (issue 16);
    # a refused subscription or setting writes nothing, removing what is not there changes nothing.
    "PushPublicKey": Row(SIGNED_IN),
    "RegisterPushSubscription": Row(
        SIGNED_IN, lambda c: {"input": {"endpoint": "http://push.invalid/x", "p256dh": "x", "auth": "x"}}
    ),
    "RemovePushSubscription": Row(SIGNED_IN, lambda c: {"endpoint": "https://push.invalid/nothing"}),
    "MyNotificationSettings": Row(SIGNED_IN),
    "SetMyNotificationSettings": Row(SIGNED_IN, lambda c: {"input": {"language": "xx"}}),
    # gatehouse.graphql, faces: HR enrols and removes, security marks two-factor zones.
    "EnrolFace": Row(PEOPLE_ADMINS, lambda c: {"personId": NOWHERE, "photo": "x", "consentVersion": "1999-v0"}),
    "RemoveFace": Row(PEOPLE_ADMINS, lambda c: {"personId": NOWHERE}),
    "SetZoneFaceAndPass": Row(SITE_ADMINS, lambda c: {"zoneId": NOWHERE, "required": True}),
    # guard_console.graphql: the web guard console's own operations, by their permission classes.
    "GuardConsoleMe": Row(SIGNED_IN),
    "GuardSite": Row(STAFF),
    "GuardRecentEvents": Row(GATE_STAFF, lambda c: {"first": 1}),
    "GuardGateEvents": Row(GATE_STAFF, trigger=malformed_scan),
    "GuardAlerts": Row(GATE_STAFF),
    "GuardAlertFeed": Row(GATE_STAFF, trigger=scan_at_unknown_gate),
    "AlertAssignees": Row(GATE_STAFF),
    "AcknowledgeAlert": Row(GATE_STAFF, lambda c: {"id": NOWHERE}),
    "AssignAlert": Row(GATE_STAFF, lambda c: {"id": NOWHERE, "personId": NOWHERE}),
    "CloseAlert": Row(GATE_STAFF, lambda c: {"id": NOWHERE, "note": "test"}),
    "GuardPeople": Row(STAFF),
    "Lockdowns": Row(GATE_STAFF),
    "Lockdown": Row(GATE_STAFF, lambda c: {"reason": "   "}),
    "Evacuate": Row(GATE_STAFF, lambda c: {"reason": "   "}),
    "ReleaseLockdown": Row(GATE_STAFF, lambda c: {"id": NOWHERE}),
    "HeldItemChecks": Row(GATE_STAFF),
    "DecideItemCheck": Row(GATE_STAFF, lambda c: {"id": NOWHERE, "allow": False}),
    # guard_console_notify.graphql: the console's Notifications view (issue 16), site admins only.
    "GuardNotificationChannels": Row(SITE_ADMINS),
    "GuardNotificationDeliveries": Row(SITE_ADMINS, lambda c: {"first": 5}),
    "GuardRetryNotification": Row(SITE_ADMINS, lambda c: {"id": NOWHERE}),
}

# contracts/README.md "Who may call what", for the contract's own operations: the table must agree.
CONTRACT_MATRIX = {
    "CreateDepartment": PEOPLE_ADMINS,
    "OnboardEmployee": PEOPLE_ADMINS,
    "OffboardEmployee": PEOPLE_ADMINS,
    "CreateZone": SITE_ADMINS,
    "CreateGate": SITE_ADMINS,
    "RegisterDevice": SITE_ADMINS,
    "GrantAccess": SITE_ADMINS,
    "GateEvents": GATE_STAFF,
    "RemoteOpen": GATE_STAFF,
    "RecordManualEntry": GATE_STAFF,
    "ExpectedVisitors": GATE_STAFF,
    "CheckInVisitor": GATE_STAFF,
    "CheckOutVisitor": GATE_STAFF,
    "Login": ANYONE,
    "RefreshSession": ANYONE,
}

CASES = [(op, caller) for op in TABLE for caller in CALLERS]


# --------------------------------------------------------------------------- transport helpers


async def post(server: ServerProcess, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http_client() as client:
        if isinstance(body, (str, bytes)):
            r = await client.post(
                server.http + "/graphql", content=body, headers={**headers, "Content-Type": "application/json"}
            )
        else:
            r = await client.post(server.http + "/graphql", json=body, headers=headers)
    assert r.status_code < 500, (r.status_code, r.text)
    return r


async def send(server: ServerProcess, operation: str, variables: dict[str, Any], token: str | None) -> dict[str, Any]:
    """An HTTP operation from the contract documents, as written, with `operationName`."""
    doc = OPERATIONS[operation]
    r = await post(server, {"query": doc.text, "operationName": operation, "variables": variables}, token)
    assert r.status_code in (200, 400), (r.status_code, r.text)
    answer: dict[str, Any] = r.json()
    assert "INTERNAL_SERVER_ERROR" not in codes(answer), answer
    return answer


def codes(answer: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in answer.get("errors") or []]


@dataclass
class Outcome:
    """What a subscription gave first: an item, an error's codes, or nothing within the wait."""

    item: dict[str, Any] | None = None
    codes: list[str] = field(default_factory=list)
    timed_out: bool = False


async def subscribe(
    ctx: Ctx,
    operation: str,
    token: str | None,
    variables: dict[str, Any] | None = None,
    trigger: Trigger | None = None,
    wait: float = 8.0,
) -> Outcome:
    """Subscribe with the gql client over graphql-transport-ws; `trigger` until the first item comes."""
    transport = WebsocketsTransport(
        url=ctx.server.ws + "/graphql",
        init_payload={"authorization": f"Bearer {token}"} if token else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    request = GraphQLRequest(gql(OPERATIONS[operation].text), operation_name=operation, variable_values=variables)
    async with Client(transport=transport) as session:
        stream = session.subscribe(request)
        first = asyncio.ensure_future(stream.__anext__())
        deadline = time.monotonic() + wait
        try:
            while not first.done() and time.monotonic() < deadline:
                await asyncio.wait({first}, timeout=0.5)
                if not first.done() and trigger is not None:
                    await trigger(ctx)
            if not first.done():
                return Outcome(timed_out=True)
            try:
                return Outcome(item=first.result())
            except TransportQueryError as exc:
                return Outcome(codes=[e.get("extensions", {}).get("code") for e in exc.errors or []])
        finally:
            if not first.done():
                first.cancel()
            with contextlib.suppress(BaseException):
                await first
            with contextlib.suppress(Exception):
                await stream.aclose()


def expired_token(ctx: Ctx, username: str) -> str:
    """A real session's access token, signed with the server's key, that expired 45 minutes ago."""
    claims = jwt.decode(ctx.tokens[username], options={"verify_signature": False})
    keys = Keys.from_master(base64.b64decode(ctx.site.env["GATEHOUSE_SECRET_KEY"]))
    token, expires = issue_access_token(
        keys.jwt, int(claims["sub"]), int(claims["sid"]), datetime.now(UTC) - timedelta(hours=1), 15
    )
    assert expires < datetime.now(UTC)
    return token


def foreign_token(ctx: Ctx, username: str) -> str:
    """A well-formed, unexpired token for a real session, signed with some other key."""
    claims = jwt.decode(ctx.tokens[username], options={"verify_signature": False})
    token, _ = issue_access_token(b"k" * 32, int(claims["sub"]), int(claims["sid"]), datetime.now(UTC), 15)
    return token


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ctx(demo_template: SiteTemplate, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ctx]:
    """One demo site for the whole table: every case either is refused or writes nothing that matters."""
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("refusals"))
    # Web Push configured, so pushPublicKey answers a key (null would read as "nothing came back").
    server = site.start_server(
        GATEHOUSE_VAPID_PRIVATE_KEY=VAPID_KEY,
        GATEHOUSE_VAPID_SUBJECT="mailto:ops@example.cn",
        GATEHOUSE_PUBLIC_URL="https://gate.example.cn",
    )
    demo, ids = demo_template.demo, demo_template.ids
    try:
        users = (*USERS, "bob")  # signed in on the template
        yield Ctx(
            site,
            server,
            demo,
            {u: demo.tokens[u] for u in users},
            {u: demo.refresh_tokens[u] for u in users},
            dict(ids.people),
        )
    finally:
        site.stop()


# --------------------------------------------------------------------------- the table


def test_every_operation_is_in_the_table() -> None:
    missing = sorted(set(OPERATIONS) - set(TABLE))
    stale = sorted(set(TABLE) - set(OPERATIONS))
    assert not missing, f"operations without a row in TABLE (who may call them?): {missing}"
    assert not stale, f"rows for operations no document has: {stale}"


def test_the_table_follows_the_contract_matrix() -> None:
    for operation, allowed in CONTRACT_MATRIX.items():
        assert TABLE[operation].allowed == allowed, operation
    # Spelled out, as the brief for the console has it.
    for operation in ("CreateDepartment", "OnboardEmployee", "OffboardEmployee"):
        assert "hr" in TABLE[operation].allowed
    for operation in ("CreateZone", "CreateGate", "RegisterDevice", "GrantAccess"):
        assert "hr" not in TABLE[operation].allowed
    for doc in ("console.graphql", "guard.graphql"):
        for operation, d in OPERATIONS.items():
            if d.file == doc:
                assert "alice" not in TABLE[operation].allowed, operation
                assert ANONYMOUS not in TABLE[operation].allowed, operation
            if d.file == "console.graphql":
                assert "guard" not in TABLE[operation].allowed, operation


@pytest.mark.parametrize(("operation", "caller"), CASES, ids=[f"{op}-{c}" for op, c in CASES])
async def test_who_may_call_what(ctx: Ctx, operation: str, caller: str) -> None:
    row = TABLE[operation]
    token = None if caller == ANONYMOUS else ctx.tokens[caller]
    if row.own_session and token is not None:
        token = await own_session(ctx, caller)
    variables = row.variables(ctx)
    allowed = caller in row.allowed
    if OPERATIONS[operation].kind is OperationType.SUBSCRIPTION:
        wait = 8.0 if (allowed and row.trigger) else 2.0
        outcome = await subscribe(ctx, operation, token, variables, row.trigger if allowed else None, wait)
        if not allowed:
            expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
            assert outcome.codes == [expected], outcome
        else:
            assert not {"UNAUTHENTICATED", "FORBIDDEN", "INTERNAL_SERVER_ERROR"} & set(outcome.codes), outcome
            if row.trigger is not None:
                assert outcome.item is not None, f"{operation} gave {caller} nothing"
        return

    answer = await send(ctx.server, operation, variables, token)
    found = set(codes(answer))
    if not allowed:
        expected = "UNAUTHENTICATED" if token is None else "FORBIDDEN"
        assert found == {expected}, answer
        data = answer.get("data") or {}
        assert not any(data.values()), f"refused, yet data came back: {answer}"
    else:
        assert not {"UNAUTHENTICATED", "FORBIDDEN"} & found, answer
        if not found:
            assert answer["data"] and all(v is not None for v in answer["data"].values()), answer


async def own_session(ctx: Ctx, username: str) -> str:
    """A new session of the caller's, for an operation that ends the one it is sent with."""
    answer = await send(ctx.server, "Login", {"username": username, "password": ctx.demo.passwords[username]}, None)
    session = answer["data"]["login"]["session"]
    assert session is not None, answer
    return str(session["accessToken"])


# --------------------------------------------------------------------------- bad bearers

BAD_BEARERS: dict[str, Callable[[Ctx], str]] = {
    "garbage": lambda ctx: "garbage",
    "expired": lambda ctx: expired_token(ctx, "admin"),
    "foreign key": lambda ctx: foreign_token(ctx, "admin"),
    "refresh token as access token": lambda ctx: ctx.refresh_tokens["admin"],
}


@pytest.mark.parametrize("bearer", BAD_BEARERS)
@pytest.mark.parametrize("operation", ["MyPass", "Site", "CreateZone", "CurrentPassToken"])
async def test_a_bad_bearer_is_unauthenticated(ctx: Ctx, bearer: str, operation: str) -> None:
    answer = await send(ctx.server, operation, TABLE[operation].variables(ctx), BAD_BEARERS[bearer](ctx))
    assert set(codes(answer)) == {"UNAUTHENTICATED"}, answer
    assert not any((answer.get("data") or {}).values())


@pytest.mark.parametrize("bearer", BAD_BEARERS)
async def test_a_bad_bearer_gets_no_gate_events(ctx: Ctx, bearer: str) -> None:
    outcome = await subscribe(ctx, "GateEvents", BAD_BEARERS[bearer](ctx))
    assert outcome.codes == ["UNAUTHENTICATED"], outcome


async def test_the_admin_token_itself_works(ctx: Ctx) -> None:
    # The control for the cases above: the same session, properly signed and fresh, is admitted.
    answer = await send(ctx.server, "MyPass", {}, ctx.tokens["admin"])
    assert answer["data"]["me"]["displayName"] == "Ada Admin"


async def test_gate_events_subscription_refusals(ctx: Ctx) -> None:
    anonymous = await subscribe(ctx, "GateEvents", None)
    assert anonymous.codes == ["UNAUTHENTICATED"]
    alice = await subscribe(ctx, "GateEvents", ctx.tokens["alice"], {"zoneId": None})
    assert alice.codes == ["FORBIDDEN"]
    guard = await subscribe(ctx, "GateEvents", ctx.tokens["guard"], trigger=malformed_scan)
    assert guard.item is not None
    event = guard.item["gateEvents"]
    # An unverified scan names nobody.
    assert (event["decision"], event["reason"], event["person"]) == ("DENIED", "malformed", None)


# --------------------------------------------------------------------------- ownership

PERSON = "query($id: ID!) { person(id: $id) { id displayName } }"
PERSON_PASS = "query($id: ID!) { person(id: $id) { id pass { credentialId } } }"
PERSON_LOG = "query($id: ID!) { person(id: $id) { id accessLog(first: 5) { edges { node { id } } } } }"


async def run(ctx: Ctx, query: str, variables: dict[str, Any], caller: str) -> dict[str, Any]:
    r = await post(ctx.server, {"query": query, "variables": variables}, ctx.tokens[caller])
    answer: dict[str, Any] = r.json()
    assert "INTERNAL_SERVER_ERROR" not in codes(answer), answer
    return answer


@pytest.fixture(scope="module")
def bob_phone(ctx: Ctx) -> Phone:
    phone = Phone()
    asyncio.run(phone.bind(GraphQLClient(ctx.server, ctx.tokens["bob"])))
    return phone


async def test_alice_cannot_look_bob_up(ctx: Ctx, bob_phone: Phone) -> None:
    bob = ctx.people["bob"]
    for query in (PERSON, PERSON_PASS, PERSON_LOG):
        answer = await run(ctx, query, {"id": bob}, "alice")
        assert codes(answer) == ["FORBIDDEN"], answer
        assert answer["data"] in (None, {"person": None})
    log = await send(ctx.server, "GateEventLog", {"first": 5, "personId": bob}, ctx.tokens["alice"])
    assert codes(log) == ["FORBIDDEN"] and log["data"] is None


@pytest.mark.parametrize("caller", ["guard", "hr"])
async def test_staff_see_bob_but_not_his_pass_or_log(ctx: Ctx, bob_phone: Phone, caller: str) -> None:
    bob = ctx.people["bob"]
    seen = await run(ctx, PERSON, {"id": bob}, caller)
    assert seen == {"data": {"person": {"id": bob, "displayName": "Bob Wang"}}}
    for query, path in ((PERSON_PASS, ["person", "pass"]), (PERSON_LOG, ["person", "accessLog"])):
        answer = await run(ctx, query, {"id": bob}, caller)
        assert [(e["extensions"]["code"], e["path"]) for e in answer["errors"]] == [("FORBIDDEN", path)], answer
        person = answer["data"]["person"]
        # `pass` is nullable: bob stays, his pass does not; `accessLog` is not, so bob goes with it.
        assert person is None or (person["id"] == bob and person[path[1]] is None), answer
    answer = await run(ctx, PERSON_PASS, {"id": bob}, caller)
    assert answer["data"] == {"person": {"id": bob, "pass": None}}


@pytest.mark.parametrize("caller", ["security", "admin"])
async def test_security_sees_bobs_pass_and_log(ctx: Ctx, bob_phone: Phone, caller: str) -> None:
    bob = ctx.people["bob"]
    answer = await run(ctx, PERSON_PASS, {"id": bob}, caller)
    assert answer == {"data": {"person": {"id": bob, "pass": {"credentialId": bob_phone.cid}}}}
    answer = await run(ctx, PERSON_LOG, {"id": bob}, caller)
    assert not answer.get("errors") and answer["data"]["person"]["accessLog"]["edges"] == []


async def test_bob_sees_his_own_pass(ctx: Ctx, bob_phone: Phone) -> None:
    answer = await send(ctx.server, "MyPass", {}, ctx.tokens["bob"])
    assert answer["data"]["me"]["pass"]["credentialId"] == bob_phone.cid


# --------------------------------------------------------------------------- malformed requests

MY_LOG = {"query": OPERATIONS["MyAccessLog"].text, "operationName": "MyAccessLog"}
# (case, request body, the error code expected when the answer is GraphQL JSON)
MALFORMED = [
    pytest.param("{not json", None, id="not json"),
    pytest.param({"variables": {}}, None, id="no query"),
    pytest.param({"query": 5}, None, id="query not a string"),
    pytest.param({"query": "query {"}, "GRAPHQL_PARSE_FAILED", id="syntax error"),
    pytest.param({"query": "query { secrets }"}, "GRAPHQL_VALIDATION_FAILED", id="unknown field"),
    pytest.param({**MY_LOG, "operationName": "Nope"}, None, id="unknown operationName"),
    pytest.param({**MY_LOG, "variables": [1]}, None, id="variables not an object"),
    pytest.param(
        {**MY_LOG, "variables": {"first": "ten"}},
        "BAD_USER_INPUT",
        id="wrong variable type",
    ),
    pytest.param(
        {**MY_LOG, "variables": {}},
        "BAD_USER_INPUT",
        id="missing variable",
    ),
]


@pytest.mark.parametrize(("body", "expected"), MALFORMED)
@pytest.mark.parametrize("caller", [ANONYMOUS, "alice"])
async def test_a_malformed_request_is_refused_not_a_500(ctx: Ctx, body: Any, expected: str | None, caller: str) -> None:
    token = None if caller == ANONYMOUS else ctx.tokens[caller]
    r = await post(ctx.server, body, token)
    assert r.status_code in (200, 400, 415, 422), (r.status_code, r.text)
    if r.headers.get("content-type", "").startswith("application/json"):
        answer = r.json()
        assert answer.get("errors"), answer
        assert not answer.get("data"), answer
        assert "INTERNAL_SERVER_ERROR" not in codes(answer), answer
        if expected is not None:
            assert set(codes(answer)) == {expected}, answer
