"""Approvals that end right (issue 12, items 6 and 7; README "Approvals"), on a real server.

The demo site: carol heads Engineering (alice), fiona heads Finance (bob, paul the buyer);
Facilities (dave, wendy, amy), Security (admin, security, guard, eve, audrey) and Human
Resources (hr) have no head. Every journey below ends with someone able to decide: the head,
a deputy, the next level up, or ADMIN at the top; a step left waiting escalates on the
server's clock, which the test moves; an ADMIN override is audited with its reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from api.demo import make_prc_id
from tests import harness
from tests.harness import GraphQLClient, ServerProcess, Site, error_codes, eventually

WAITING = "waitingFor { label roles department { id name } people { id } }"
REQUEST = f"id kind status requester {{ id }} steps history {WAITING}"
ERRORS = "errors { code message field }"
PURCHASE = f"""
mutation($name: String!, $quantity: Int!, $budget: Float!) {{
  requestPurchase(name: $name, quantity: $quantity, budget: $budget) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
REQUISITION = f"""
mutation($itemId: ID!, $quantity: Int!, $purpose: String!) {{
  requestRequisition(itemId: $itemId, quantity: $quantity, purpose: $purpose) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
APPROVE = f"""
mutation($id: ID!, $comment: String) {{
  approveItemRequest(id: $id, comment: $comment) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
REJECT = f"""
mutation($id: ID!, $comment: String!) {{
  rejectItemRequest(id: $id, comment: $comment) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
OVERRIDE = f"""
mutation($id: ID!, $approve: Boolean!, $reason: String!) {{
  overrideItemRequest(id: $id, approve: $approve, reason: $reason) {{ request {{ {REQUEST} }} {ERRORS} }}
}}"""
QUEUE = "{ approvalQueue(first: 100) { edges { node { id } } pageInfo { hasNextPage } } }"
ITEMS = "{ items(first: 100) { edges { node { id name } } } }"
SET_HEAD = f"""
mutation($dept: ID!, $head: ID) {{
  setDepartmentHead(departmentId: $dept, headId: $head) {{
    department {{ id name head {{ id }} deputy {{ id }} }} {ERRORS}
  }}
}}"""
SET_DEPUTY = f"""
mutation($dept: ID!, $deputy: ID) {{
  setDepartmentDeputy(departmentId: $dept, deputyId: $deputy) {{
    department {{ id name head {{ id }} deputy {{ id }} }} {ERRORS}
  }}
}}"""
DEPARTMENTS = "{ departments { id name head { id } deputy { id } parent { id } } }"
CREATE_DEPARTMENT = f"""
mutation($input: CreateDepartmentInput!) {{
  createDepartment(input: $input) {{ department {{ id name }} {ERRORS} }}
}}"""
ONBOARD = f"""
mutation($input: OnboardEmployeeInput!) {{
  onboardEmployee(input: $input) {{ employee {{ id }} initialPassword {ERRORS} }}
}}"""
OFFBOARD = f"mutation($id: ID!) {{ offboardEmployee(id: $id) {{ employee {{ id status }} {ERRORS} }} }}"
PERSON_ROLES = "query($id: ID!) { person(id: $id) { id roles } }"
AUDIT = """
query($action: String) {
  auditLog(first: 20, action: $action) { edges { node { action actorName outcome targetType targetId detail } } }
}"""
FILE_EMERGENCY = f"""
mutation($input: EmergencyVisitInput!) {{
  fileEmergencyVisit(input: $input) {{ visit {{ id status emergency escorted }} {ERRORS} }}
}}"""
APPROVE_VISIT = f"mutation($id: ID!) {{ approveVisit(id: $id) {{ visit {{ id status }} {ERRORS} }} }}"
REJECT_VISIT = (
    f"mutation($id: ID!, $r: String!) {{ rejectVisit(id: $id, reason: $r) {{ visit {{ id status }} {ERRORS} }} }}"
)
OVERRIDE_VISIT = f"""
mutation($id: ID!, $approve: Boolean!, $reason: String!) {{
  overrideEmergencyVisit(id: $id, approve: $approve, reason: $reason) {{ visit {{ id status }} {ERRORS} }}
}}"""
PENDING_EMERGENCIES = "{ pendingEmergencyVisits(first: 100) { edges { node { id } } } }"
QUEUE_UPDATES = "subscription { approvalQueueUpdates { id status steps } }"

_id_numbers = itertools.count(700)


def user_errors(payload: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


class Office(harness.World):
    """The demo site as its approvers see it."""

    paper = ""

    def __init__(self, site: Site, server: ServerProcess) -> None:
        super().__init__(site, server)
        # What a test adds to the site (the template's names → ids are shared: never changed).
        self.people: dict[str, str] = dict(self.ids.people)
        self.departments: dict[str, str] = dict(self.ids.departments)

    def pid(self, username: str) -> str:
        return self.people[username]

    def dept(self, name: str) -> str:
        return self.departments[name]

    async def submit(self, who: GraphQLClient | str, query: str, variables: dict[str, Any], op: str) -> dict[str, Any]:
        client = self.client(who) if isinstance(who, str) else who
        payload = (await client.ok(query, variables))[op]
        assert payload["errors"] == [], payload
        request: dict[str, Any] = payload["request"]
        assert request["status"] == "PENDING", request
        return request

    async def requisition(self, who: GraphQLClient | str, quantity: int = 1) -> dict[str, Any]:
        variables = {"itemId": self.paper, "quantity": quantity, "purpose": "printing"}
        return await self.submit(who, REQUISITION, variables, "requestRequisition")

    async def approve(self, who: str, request_id: str, comment: str | None = None) -> dict[str, Any]:
        payload = (await self.client(who).ok(APPROVE, {"id": request_id, "comment": comment}))["approveItemRequest"]
        assert payload["errors"] == [], payload
        request: dict[str, Any] = payload["request"]
        return request

    async def refused(self, who: str, request_id: str) -> list[str | None]:
        """The codes approving gives `who` (and rejecting gives the same)."""
        approve = error_codes(await self.client(who)(APPROVE, {"id": request_id}))
        reject = error_codes(await self.client(who)(REJECT, {"id": request_id, "comment": "no"}))
        assert approve == reject, (who, approve, reject)
        return approve

    async def queue(self, who: GraphQLClient | str) -> list[str]:
        client = self.client(who) if isinstance(who, str) else who
        data = (await client.ok(QUEUE))["approvalQueue"]
        assert data["pageInfo"]["hasNextPage"] is False
        return [e["node"]["id"] for e in data["edges"]]

    async def set_head(self, dept: str, head: str | None, as_: str = "hr") -> dict[str, Any]:
        variables = {"dept": self.dept(dept), "head": self.pid(head) if head else None}
        payload: dict[str, Any] = (await self.client(as_).ok(SET_HEAD, variables))["setDepartmentHead"]
        return payload

    async def roles(self, username: str) -> set[str]:
        return set((await self.client("admin").ok(PERSON_ROLES, {"id": self.pid(username)}))["person"]["roles"])

    async def audit(self, action: str) -> list[dict[str, Any]]:
        data = await self.client("audrey").ok(AUDIT, {"action": action})
        return [e["node"] for e in data["auditLog"]["edges"]]

    async def onboard(self, username: str, dept: str) -> GraphQLClient:
        """A new employee of `dept`, signed in with the password HR was given."""
        n = next(_id_numbers)
        person = {
            "displayName": username.title(),
            "idNumber": make_prc_id("320101", "19950303", f"{n:03d}"),
            "phone": f"+861390000{n:04d}",
            "departmentId": self.dept(dept),
            "position": "Technician",
            "username": username,
        }
        payload = (await self.client("hr").ok(ONBOARD, {"input": person}))["onboardEmployee"]
        assert payload["errors"] == [], payload
        self.people[username] = payload["employee"]["id"]
        return await self.api.user(None).login(username, payload["initialPassword"])

    async def emergency(self, host: str, zone: str) -> str:
        visit = {
            "visitorName": "Walk-in Wu",
            "phone": "+8613900000009",
            "idNumber": make_prc_id("310101", "19900202", f"{next(_id_numbers):03d}"),
            "reason": "burst pipe, plumber on site",
            "expectedEnd": (self.server.clock.now() + timedelta(hours=3)).isoformat(),
            "zoneIds": [self.ids.zones[zone]],
        }
        payload = (await self.client(host).ok(FILE_EMERGENCY, {"input": visit}))["fileEmergencyVisit"]
        assert payload["errors"] == [], payload
        assert payload["visit"]["status"] == "PENDING_APPROVAL"
        visit_id: str = payload["visit"]["id"]
        return visit_id

    async def pending_visits(self, who: str) -> list[str]:
        data = await self.client(who).ok(PENDING_EMERGENCIES)
        return [e["node"]["id"] for e in data["pendingEmergencyVisits"]["edges"]]


@pytest.fixture
def fast_server(sqlite_site: Site) -> ServerProcess:
    """Upkeep (where escalation runs) every second instead of every 30 s."""
    return sqlite_site.start_server(GATEHOUSE_UPKEEP_SECONDS="1")


@pytest.fixture
async def office(fast_server: ServerProcess, sqlite_site: Site) -> Office:
    office = Office(sqlite_site, fast_server)
    items = {e["node"]["name"]: e["node"]["id"] for e in (await office.client("wendy").ok(ITEMS))["items"]["edges"]}
    office.paper = items["A4 paper"]
    return office


def waiting(request: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """Who the request waits for: the label, the roles, the people."""
    w = request["waitingFor"]
    return w["label"], w["roles"], [p["id"] for p in w["people"]]


# --------------------------------------------------------------------------- the three journeys


async def test_a_head_s_own_purchase_goes_up_to_admin_then_procurement(office: Office) -> None:
    # carol heads Engineering: her own purchase cannot wait for her; Engineering has no parent.
    request = await office.submit(
        "carol", PURCHASE, {"name": "Oscilloscope", "quantity": 1, "budget": 900.0}, "requestPurchase"
    )
    rid = request["id"]
    assert waiting(request) == ("ADMIN", ["ADMIN"], [])
    assert await office.refused("carol", rid) == ["FORBIDDEN"]  # nobody approves their own
    for who in ("alice", "fiona", "paul", "hr"):
        assert await office.refused(who, rid) == ["FORBIDDEN"], who
    assert rid not in await office.queue("carol")
    assert rid in await office.queue("admin")

    after_admin = await office.approve("admin", rid, "the lab needs it")
    assert (after_admin["steps"][0]["status"], after_admin["steps"][0]["by"]) == ("APPROVED", int(office.pid("admin")))
    assert after_admin["steps"][0]["as"] == "ADMIN"
    assert waiting(after_admin) == ("PROCUREMENT", ["PROCUREMENT"], [])
    assert await office.refused("admin", rid) == ["FORBIDDEN"]  # the procurement step is paul's
    done = await office.approve("paul", rid)
    assert (done["status"], done["waitingFor"]) == ("APPROVED", None)


async def test_a_requisition_in_a_department_without_a_head_goes_to_admin(office: Office) -> None:
    request = await office.requisition("wendy")
    rid = request["id"]
    assert waiting(request) == ("ADMIN", ["ADMIN"], [])
    for who in ("wendy", "dave", "amy", "carol"):
        assert await office.refused(who, rid) == ["FORBIDDEN"], who
    assert rid in await office.queue("admin")
    for who in ("dave", "amy", "carol", "fiona"):
        assert rid not in await office.queue(who), who
    assert (await office.approve("admin", rid))["status"] == "APPROVED"


async def test_emergency_visits_of_hosts_without_a_head_above_them_reach_admin(office: Office) -> None:
    # dave's Facilities has no head; carol is her own department's head.
    by_dave = await office.emergency("dave", "Maintenance area")
    by_carol = await office.emergency("carol", "Engineering office")
    assert await office.pending_visits("admin") == [by_dave, by_carol]
    for who in ("dave", "carol", "alice", "wendy", "fiona"):
        assert await office.pending_visits(who) == [], who
    for who, visit in (("dave", by_dave), ("carol", by_carol), ("wendy", by_dave), ("alice", by_carol)):
        assert error_codes(await office.client(who)(APPROVE_VISIT, {"id": visit})) == ["FORBIDDEN"], who
    approved = (await office.client("admin").ok(APPROVE_VISIT, {"id": by_dave}))["approveVisit"]
    assert approved == {"visit": {"id": by_dave, "status": "APPROVED"}, "errors": []}
    # The approver may turn one down too (the host may still cancel their own).
    rejected = (await office.client("admin").ok(REJECT_VISIT, {"id": by_carol, "r": "not today"}))["rejectVisit"]
    assert rejected == {"visit": {"id": by_carol, "status": "REJECTED"}, "errors": []}
    assert await office.pending_visits("admin") == []


# --------------------------------------------------------------------------- deputies and the tree


async def test_a_deputy_decides_in_the_head_s_place_but_not_for_the_head(office: Office) -> None:
    hr = office.client("hr")
    named = await hr.ok(SET_DEPUTY, {"dept": office.dept("Finance"), "deputy": office.pid("paul")})
    assert named["setDepartmentDeputy"]["department"]["deputy"] == {"id": office.pid("paul")}
    # The head is not their own deputy; only HR and ADMIN name one.
    itself = await hr.ok(SET_DEPUTY, {"dept": office.dept("Finance"), "deputy": office.pid("fiona")})
    assert user_errors(itself["setDepartmentDeputy"]) == [("INVALID", "deputyId")]
    for who in ("fiona", "security", "alice"):
        body = await office.client(who)(SET_DEPUTY, {"dept": office.dept("Finance"), "deputy": office.pid("bob")})
        assert error_codes(body) == ["FORBIDDEN"], who

    by_bob = (await office.requisition("bob"))["id"]
    by_fiona = (await office.requisition("fiona"))["id"]
    by_paul = (await office.requisition("paul"))["id"]
    # bob's: fiona or her deputy; fiona's own goes above Finance (her deputy does not sign it);
    # paul's: fiona alone.
    assert await office.queue("paul") == [by_bob]
    assert await office.queue("fiona") == [by_bob, by_paul]
    assert by_fiona in await office.queue("admin")
    assert await office.refused("paul", by_fiona) == ["FORBIDDEN"]
    assert await office.refused("paul", by_paul) == ["FORBIDDEN"]
    for who in ("alice", "carol", "bob"):
        assert await office.queue(who) == [], who

    decided = await office.approve("paul", by_bob, "signed for fiona")
    step = decided["steps"][0]
    assert (decided["status"], step["by"], step["as"]) == ("APPROVED", int(office.pid("paul")), "the head of Finance")

    # Cleared, the deputy decides nothing more.
    await hr.ok(SET_DEPUTY, {"dept": office.dept("Finance"), "deputy": None})
    again = (await office.requisition("bob"))["id"]
    assert await office.refused("paul", again) == ["FORBIDDEN"]
    assert await office.queue("paul") == []


async def test_a_department_without_a_head_is_decided_one_level_up_and_the_head_takes_over(office: Office) -> None:
    created = (
        await office.client("hr").ok(
            CREATE_DEPARTMENT, {"input": {"name": "Test lab", "parentId": office.dept("Engineering")}}
        )
    )["createDepartment"]
    assert created["errors"] == []
    office.departments["Test lab"] = created["department"]["id"]
    lena = await office.onboard("lena", "Test lab")
    request = await office.requisition(lena)
    rid = request["id"]
    label, _, people = waiting(request)
    assert (label, people) == ("the head of Engineering", [office.pid("carol")])
    assert await office.queue("carol") == [rid]

    # alice becomes the lab's head (she stays a member of Engineering): the waiting step follows.
    named = await office.set_head("Test lab", "alice")
    assert named["errors"] == [] and named["department"]["head"] == {"id": office.pid("alice")}
    assert "DEPARTMENT_HEAD" in await office.roles("alice")
    assert await office.queue("carol") == []
    assert await office.queue("alice") == [rid]
    assert await office.refused("carol", rid) == ["FORBIDDEN"]
    assert (await office.approve("alice", rid))["status"] == "APPROVED"
    assert await office.queue(lena) == []


# --------------------------------------------------------------------------- escalation and override


async def test_a_step_waiting_past_the_deadline_escalates_to_the_next_level(office: Office) -> None:
    rid = (await office.requisition("alice"))["id"]
    assert await office.queue("carol") == [rid]
    assert rid not in await office.queue("admin")

    office.server.clock.advance(49 * 3600)  # past GATEHOUSE_APPROVAL_ESCALATE_HOURS (48)

    async def escalated() -> bool:
        return rid in await office.queue("admin")

    await eventually(escalated, 15, "the step to escalate to ADMIN")
    assert await office.queue("carol") == []
    assert await office.refused("carol", rid) == ["FORBIDDEN"]
    row = await office.approve("admin", rid)
    assert (row["status"], row["steps"][0]["level"], row["steps"][0]["as"]) == ("APPROVED", 1, "ADMIN")
    escalations = [h for h in row["history"] if h["action"] == "escalated"]
    assert len(escalations) == 1 and "now ADMIN decides" in escalations[0]["comment"], row["history"]


async def test_an_escalated_step_reaches_the_new_approver_s_live_queue(office: Office) -> None:
    rid = (await office.requisition("alice"))["id"]
    async with queue_updates(office, "admin") as admin_stream:
        pushed = asyncio.ensure_future(admin_stream.__anext__())
        await asyncio.sleep(1.0)  # let the server register the subscription
        assert not pushed.done()
        office.server.clock.advance(49 * 3600)
        item = (await asyncio.wait_for(pushed, 20))["approvalQueueUpdates"]
        assert (item["id"], item["status"], item["steps"][0]["level"]) == (rid, "PENDING", 1)


async def test_an_emergency_visit_escalates_after_minutes_not_days(office: Office) -> None:
    vid = await office.emergency("alice", "Engineering office")
    assert await office.pending_visits("carol") == [vid]
    assert await office.pending_visits("admin") == []
    office.server.clock.advance(16 * 60)  # past GATEHOUSE_EMERGENCY_ESCALATE_MINUTES (15)

    async def escalated() -> bool:
        return await office.pending_visits("admin") == [vid]

    await eventually(escalated, 15, "the emergency visit to escalate to ADMIN")
    assert await office.pending_visits("carol") == []
    assert error_codes(await office.client("carol")(APPROVE_VISIT, {"id": vid})) == ["FORBIDDEN"]
    entry = (await office.audit("escalateEmergencyVisit"))[0]
    assert (entry["targetType"], entry["targetId"], entry["detail"]["decides"]) == ("visit", vid, "ADMIN")
    approved = (await office.client("admin").ok(APPROVE_VISIT, {"id": vid}))["approveVisit"]
    assert approved["visit"]["status"] == "APPROVED"


async def test_an_admin_override_needs_a_reason_and_is_audited(office: Office) -> None:
    rid = (await office.requisition("alice"))["id"]
    admin = office.client("admin")
    blank = (await admin.ok(OVERRIDE, {"id": rid, "approve": True, "reason": "  "}))["overrideItemRequest"]
    assert (user_errors(blank), blank["request"]) == ([("INVALID", "reason")], None)
    for who in ("carol", "hr", "security"):
        body = await office.client(who)(OVERRIDE, {"id": rid, "approve": True, "reason": "urgent"})
        assert error_codes(body) == ["FORBIDDEN"], who

    done = (await admin.ok(OVERRIDE, {"id": rid, "approve": True, "reason": "carol is on leave"}))[
        "overrideItemRequest"
    ]
    assert done["errors"] == []
    step = done["request"]["steps"][0]
    assert (step["status"], step["by"], step["override"], step["inPlaceOf"], step["comment"]) == (
        "APPROVED",
        int(office.pid("admin")),
        True,
        "the head of Engineering",
        "carol is on leave",
    )
    assert done["request"]["history"][-1]["action"] == "overridden (approved)"
    entry = (await office.audit("overrideItemRequest"))[0]
    assert (entry["actorName"], entry["outcome"], entry["targetType"], entry["targetId"]) == (
        "Ada Admin",
        "ok",
        "item_request",
        rid,
    )
    assert entry["detail"]["arguments"]["reason"] == "carol is on leave"
    assert entry["detail"]["changes"][0]["after"]["inPlaceOf"] == "the head of Engineering"

    # Nothing is left to override; and an ADMIN's own request is not theirs to push through.
    again = (await admin.ok(OVERRIDE, {"id": rid, "approve": True, "reason": "twice"}))["overrideItemRequest"]
    assert user_errors(again) == [("NOT_ALLOWED", None)]
    own = (await office.requisition("admin"))["id"]
    body = await admin(OVERRIDE, {"id": own, "approve": True, "reason": "mine"})
    assert error_codes(body) == ["FORBIDDEN"]


async def test_an_admin_overrides_an_emergency_visit_with_an_audited_reason(office: Office) -> None:
    vid = await office.emergency("alice", "Engineering office")
    admin = office.client("admin")
    assert error_codes(await office.client("hr")(OVERRIDE_VISIT, {"id": vid, "approve": True, "reason": "x"})) == [
        "FORBIDDEN"
    ]
    done = (await admin.ok(OVERRIDE_VISIT, {"id": vid, "approve": True, "reason": "carol unreachable"}))[
        "overrideEmergencyVisit"
    ]
    assert done == {"visit": {"id": vid, "status": "APPROVED"}, "errors": []}
    entry = (await office.audit("overrideEmergencyVisit"))[0]
    assert (entry["targetType"], entry["targetId"], entry["detail"]["arguments"]["reason"]) == (
        "visit",
        vid,
        "carol unreachable",
    )
    assert entry["detail"]["changes"][0]["after"]["inPlaceOf"] == "the head of Engineering"


# --------------------------------------------------------------------------- setDepartmentHead (item 7)


async def test_set_department_head_is_for_hr_and_admin_and_moves_the_waiting_steps(office: Office) -> None:
    rid = (await office.requisition("wendy"))["id"]
    assert rid in await office.queue("admin")
    for who in ("alice", "carol", "security", "guard", "audrey"):
        body = await office.client(who)(SET_HEAD, {"dept": office.dept("Facilities"), "head": office.pid("dave")})
        assert error_codes(body) == ["FORBIDDEN"], who
    assert "DEPARTMENT_HEAD" not in await office.roles("dave")

    # dave is a member of Facilities and becomes its head: wendy's waiting step is his now.
    named = await office.set_head("Facilities", "dave")
    assert (named["errors"], named["department"]["head"]) == ([], {"id": office.pid("dave")})
    assert "DEPARTMENT_HEAD" in await office.roles("dave")
    assert await office.queue("dave") == [rid]
    assert rid not in await office.queue("admin")
    assert (await office.approve("dave", rid))["status"] == "APPROVED"
    entry = (await office.audit("setDepartmentHead"))[0]
    assert (entry["actorName"], entry["targetType"], entry["targetId"]) == (
        "Hana HR",
        "department",
        office.dept("Facilities"),
    )
    assert entry["detail"]["changes"][0]["after"]["headId"] == int(office.pid("dave"))

    # ADMIN may too. Replacing carol takes her DEPARTMENT_HEAD role (she heads nothing else).
    assert (await office.set_head("Engineering", "alice", as_="admin"))["errors"] == []
    assert "DEPARTMENT_HEAD" not in await office.roles("carol")
    departments = {d["name"]: d for d in (await office.client("hr").ok(DEPARTMENTS))["departments"]}
    assert departments["Engineering"]["head"] == {"id": office.pid("alice")}

    # Cleared with null: the steps go up again, and the role goes.
    cleared = await office.set_head("Facilities", None)
    assert (cleared["errors"], cleared["department"]["head"]) == ([], None)
    assert "DEPARTMENT_HEAD" not in await office.roles("dave")
    later = (await office.requisition("wendy"))["id"]
    assert later in await office.queue("admin") and await office.queue("dave") == []

    # The head is an active employee.
    unknown = await office.client("hr").ok(SET_HEAD, {"dept": office.dept("Facilities"), "head": "999999"})
    assert user_errors(unknown["setDepartmentHead"]) == [("NOT_FOUND", "headId")]
    no_dept = await office.client("hr").ok(SET_HEAD, {"dept": "999999", "head": office.pid("dave")})
    assert user_errors(no_dept["setDepartmentHead"]) == [("NOT_FOUND", "departmentId")]
    gone = (await office.client("hr").ok(OFFBOARD, {"id": office.pid("amy")}))["offboardEmployee"]
    assert gone["errors"] == []
    refused = await office.set_head("Facilities", "amy")
    assert user_errors(refused) == [("NOT_ALLOWED", "headId")]


async def test_an_offboarded_head_is_no_approver(office: Office) -> None:
    rid = (await office.requisition("alice"))["id"]
    gone = (await office.client("hr").ok(OFFBOARD, {"id": office.pid("carol")}))["offboardEmployee"]
    assert gone["errors"] == []
    assert rid in await office.queue("admin")


# --------------------------------------------------------------------------- the live queue


@contextlib.asynccontextmanager
async def queue_updates(office: Office, who: str) -> AsyncIterator[AsyncGenerator[dict[str, Any], None]]:
    async with harness.gql_subscription(office.server, office.client(who).token, QUEUE_UPDATES) as stream:
        yield stream


async def test_the_deputy_hears_of_a_new_request_live_and_others_do_not(office: Office) -> None:
    await office.client("hr").ok(SET_DEPUTY, {"dept": office.dept("Finance"), "deputy": office.pid("paul")})
    async with queue_updates(office, "paul") as paul_stream, queue_updates(office, "carol") as carol_stream:
        to_paul = asyncio.ensure_future(paul_stream.__anext__())
        to_carol = asyncio.ensure_future(carol_stream.__anext__())
        await asyncio.sleep(1.0)  # let the server register both subscriptions
        rid = (await office.requisition("bob"))["id"]
        pushed = (await asyncio.wait_for(to_paul, 10))["approvalQueueUpdates"]
        assert (pushed["id"], pushed["status"]) == (rid, "PENDING")
        await asyncio.sleep(1.0)
        assert not to_carol.done()
        to_carol.cancel()
        with contextlib.suppress(BaseException):
            await to_carol


async def test_create_department_names_its_head_by_the_same_rule(office: Office) -> None:
    hr = office.client("hr")
    made = await hr.ok(CREATE_DEPARTMENT, {"input": {"name": "Audit", "headId": office.pid("bob")}})
    assert made["createDepartment"]["errors"] == []
    assert "DEPARTMENT_HEAD" in await office.roles("bob")
    assert (await hr.ok(OFFBOARD, {"id": office.pid("dave")}))["offboardEmployee"]["errors"] == []
    refused = await hr.ok(CREATE_DEPARTMENT, {"input": {"name": "Yard", "headId": office.pid("dave")}})
    assert user_errors(refused["createDepartment"]) == [("NOT_ALLOWED", "headId")]


async def test_a_role_step_whose_only_holder_is_the_requester_goes_to_admin(office: Office) -> None:
    # paul is the site's only PROCUREMENT: his own purchase's procurement step cannot be his.
    request = await office.submit(
        "paul", PURCHASE, {"name": "Stapler", "quantity": 2, "budget": 20.0}, "requestPurchase"
    )
    rid = request["id"]
    assert waiting(request) == ("the head of Finance", [], [office.pid("fiona")])
    after_head = await office.approve("fiona", rid)
    assert waiting(after_head) == ("ADMIN", ["ADMIN"], [])
    assert await office.refused("paul", rid) == ["FORBIDDEN"]
    assert (await office.approve("admin", rid))["status"] == "APPROVED"
