"""Every notification kind, end to end (README "Notifications", who gets what): one real server for
the module with a real SMTP peer (aiosmtpd), the HTTP receiver standing in for a signed webhook, a
WeCom robot and an SMS gateway. The journeys go through the public GraphQL API; where the trigger is
time, the server's own upkeep runs on its injected clock, which the tests move forward (so the
tests run in file order, and the clock only grows). Each assertion is of the right person getting
the right kind once, by Message-ID (mail) or X-Gatehouse-Delivery (webhook)."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pypdfium2 as pdfium
import pytest
import pytest_asyncio
from aiosmtpd.controller import Controller
from tortoise.transactions import in_transaction

from api.demo import make_prc_id
from resolvers.core import db
from resolvers.core.actor import Actor
from resolvers.core.models import Asset, AssetStatus, Item, ItemRequest, Notification, Person, PersonKind
from resolvers.core.settings import Settings
from resolvers.items import approvals
from resolvers.items import catalogue as items
from resolvers.runtime import Runtime
from tests import harness
from tests.harness import SiteTemplate, eventually
from tests.http_receiver import Received, Receiver
from tests.smtp_peer import Mailbox, smtp_peer
from tests.test_notifications_email import INVITE_EMAIL, REGISTER, mail_env

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "whsec-kinds-0123456789"
ERRORS = "errors { code message field }"
SETTINGS = f"""mutation($input: NotificationSettingsInput!) {{
  setMyNotificationSettings(input: $input) {{ settings {{ emailMasked }} {ERRORS} }} }}"""
APPROVE_VISIT = f"mutation($id: ID!) {{ approveVisit(id: $id) {{ visit {{ id status }} {ERRORS} }} }}"
CHECK_IN = f"""mutation($id: ID!, $last4: String!) {{
  checkInVisitor(id: $id, idNumberLast4: $last4) {{ visit {{ id status }} {ERRORS} }} }}"""
FILE_EMERGENCY = f"""mutation($input: EmergencyVisitInput!) {{
  fileEmergencyVisit(input: $input) {{ visit {{ id status }} {ERRORS} }} }}"""
PURCHASE = f"""mutation($name: String!, $quantity: Int!, $budget: Float!) {{
  requestPurchase(name: $name, quantity: $quantity, budget: $budget) {{ request {{ id status }} {ERRORS} }} }}"""
REQUISITION = f"""mutation($itemId: ID!, $quantity: Int!, $purpose: String!) {{
  requestRequisition(itemId: $itemId, quantity: $quantity, purpose: $purpose) {{ request {{ id status }} {ERRORS} }}
}}"""
APPROVE = f"""mutation($id: ID!) {{ approveItemRequest(id: $id) {{ request {{ id status }} {ERRORS} }} }}"""
ITEMS = "{ items(first: 100) { edges { node { id name } } } }"
SUMMARIES = "{ scheduledSummaries(first: 20) { edges { node { id kind passages visitors pdfPath } } } }"
# Who has an address here (the rest of the site has none, so gets nothing by email).
EMAILS = {
    "alice": "alice@example.test",
    "carol": "carol@example.test",
    "paul": "paul@example.test",
    "fiona": "fiona@example.test",
    "admin": "admin@example.test",
    "security": "security@example.test",
    "eve": "eve@example.test",
    "guard": "guard@example.test",
}


class Office(harness.World):
    mail: Mailbox
    hooks: Receiver
    visit: str = ""
    loan = 0  # the asset lent to alice, due back an hour after it was lent

    def mails(self, kind: str, who: str | None = None) -> list[EmailMessage]:
        return [
            m
            for m in self.mail.messages
            if str(m["Message-ID"]).startswith(f"<{kind}.") and (who is None or m["To"] == EMAILS[who])
        ]

    async def one_mail(self, kind: str, who: str, timeout: float = 15) -> EmailMessage:
        await eventually(lambda: len(self.mails(kind, who)) >= 1, timeout, f"{kind} to {who}")
        (mail,) = self.mails(kind, who)
        assert self.mail.by_id[str(mail["Message-ID"])] == 1
        return mail

    def hooked(self, path: str, kind: str | None = None) -> list[Received]:
        out = [r for r in self.hooks.received if r.path == path]
        if kind is not None:
            out = [r for r in out if r.headers.get("x-gatehouse-delivery", "").startswith(kind + ".")]
        return out

    async def ok(self, who: str | None, query: str, variables: dict[str, Any], op: str) -> dict[str, Any]:
        client = self.client(who) if who else self.api.user(None)
        payload: dict[str, Any] = (await client.ok(query, variables))[op]
        assert payload["errors"] == [], payload
        return payload


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    with smtp_peer() as peer:
        yield peer


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def office(
    tmp_path_factory: pytest.TempPathFactory, demo_template: SiteTemplate, smtp: tuple[Controller, Mailbox]
) -> AsyncIterator[Office]:
    controller, box = smtp
    async with Receiver() as hooks:
        site = demo_template.sqlite_copy(tmp_path_factory.mktemp("kinds"))
        targets = [
            {"name": "report-bot", "format": "generic", "url": hooks.url("/reports"), "secret": SECRET,
             "kinds": ["summary.*"]},
            {"name": "保安群", "format": "wecom", "url": hooks.url("/wecom") + "?key=k-1",
             "kinds": ["alarm.*", "visit.overstay"]},
        ]  # fmt: skip
        server = site.start_server(
            **mail_env(controller.port),
            GATEHOUSE_UPKEEP_SECONDS="1",
            GATEHOUSE_WEBHOOKS=json.dumps(targets, ensure_ascii=False),
            GATEHOUSE_SMS_URL=hooks.url("/sms"),
        )
        office = Office(site, server)
        office.mail, office.hooks = box, hooks
        for who, address in EMAILS.items():
            language = "en" if who in ("alice", "paul") else "zh-CN"
            await office.ok(
                who, SETTINGS, {"input": {"email": address, "language": language}}, "setMyNotificationSettings"
            )
        try:
            yield office
        finally:
            site.let_go()


def new_id() -> str:
    new_id.n += 1  # type: ignore[attr-defined]
    return make_prc_id("310101", "19900202", f"{new_id.n:03d}")  # type: ignore[attr-defined]


new_id.n = 400  # type: ignore[attr-defined]


async def test_the_invitation_by_sms_reaches_the_gateway(office: Office) -> None:
    start = office.server.clock.now().replace(microsecond=0)
    visit_input = {
        "visitorName": "張偉",
        "phone": "+8613900000077",
        "purpose": "audit",
        "expectedStart": start.isoformat(),
        "expectedEnd": (start + timedelta(hours=2)).isoformat(),
        "zoneIds": [office.ids.zones["Engineering office"]],
    }
    visit = (await office.ok("alice", INVITE_EMAIL, {"input": visit_input}, "inviteVisitor"))["visit"]
    await eventually(lambda: len(office.hooked("/sms")) >= 1, 15, "the SMS")
    (sms,) = office.hooked("/sms")
    body = json.loads(sms.body)
    assert body["phone"] == "+8613900000077" and body["id"].startswith("visit.invitation.")
    assert "張偉" in body["text"] and f"/invite/{visit['inviteCode']}" in body["text"]
    # The visitor registers with the code the SMS carried: the host is asked to approve.
    code = re.search(r"/invite/(\S+)", body["text"]).group(1)  # type: ignore[union-attr]
    done = await office.ok(None, REGISTER, {"inviteCode": code, "input": {"idNumber": new_id()}},
                           "completeVisitorRegistration")  # fmt: skip
    assert done["visit"]["status"] == "PENDING_APPROVAL"
    mail = await office.one_mail("visit.awaiting_approval", "alice")
    assert mail["Subject"] == "張偉's visit awaits your approval"  # alice reads English


async def test_a_visit_tells_its_host_awaiting_approval_reminder_and_arrival(office: Office) -> None:
    start = office.server.clock.now().replace(microsecond=0)
    number = new_id()
    visit_input = {
        "visitorName": "李娜 Zoë",
        "phone": "+8613900000078",
        "purpose": "design review",
        "expectedStart": start.isoformat(),
        "expectedEnd": (start + timedelta(hours=2)).isoformat(),
        "zoneIds": [office.ids.zones["Engineering office"]],
    }
    visit = (await office.ok("alice", INVITE_EMAIL, {"input": visit_input}, "inviteVisitor"))["visit"]
    office.visit = visit["id"]
    await office.ok(None, REGISTER, {"inviteCode": visit["inviteCode"], "input": {"idNumber": number}},
                    "completeVisitorRegistration")  # fmt: skip

    def of_visit(kind: str) -> list[EmailMessage]:
        return [m for m in office.mails(kind, "alice") if "李娜 Zoë" in str(m["Subject"])]

    await eventually(lambda: len(of_visit("visit.awaiting_approval")) == 1, 15, "awaiting approval")
    # It starts within the hour and waits: the leader's upkeep reminds the host, once.
    await eventually(lambda: len(of_visit("visit.reminder")) >= 1, 15, "the reminder")
    assert str(of_visit("visit.reminder")[0]["Subject"]) == "李娜 Zoë is coming soon"
    await office.ok("alice", APPROVE_VISIT, {"id": visit["id"]}, "approveVisit")
    await office.ok("guard", CHECK_IN, {"id": visit["id"], "last4": number[-4:]}, "checkInVisitor")
    await eventually(lambda: len(of_visit("visit.arrival")) == 1, 15, "the arrival")
    arrival = of_visit("visit.arrival")[0]
    assert "李娜 Zoë checked in at" in arrival.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # Nobody else heard of this visit; the reminder went once though upkeep ran again.
    assert [m["To"] for m in office.mail.messages if "李娜 Zoë" in str(m["Subject"])] == ["alice@example.test"] * 3
    assert len(of_visit("visit.reminder")) == 1


async def test_an_emergency_walk_in_reaches_the_head_then_the_level_it_escalates_to(office: Office) -> None:
    visit = {
        "visitorName": "Walk-in 吴",
        "phone": "+8613900000009",
        "idNumber": new_id(),
        "reason": "burst pipe <b>now</b>",
        "expectedEnd": (office.server.clock.now() + timedelta(hours=3)).isoformat(),
        "zoneIds": [office.ids.zones["Engineering office"]],
    }
    await office.ok("alice", FILE_EMERGENCY, {"input": visit}, "fileEmergencyVisit")
    mail = await office.one_mail("visit.emergency", "carol")  # carol heads alice's department
    assert str(mail["Subject"]) == "紧急访客待您决定：Walk-in 吴"
    assert "burst pipe <b>now</b>" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert office.mails("visit.emergency", "admin") == []
    office.server.clock.advance(16 * 60)  # past GATEHOUSE_EMERGENCY_ESCALATE_MINUTES: ADMIN decides now
    await office.one_mail("visit.emergency", "admin")
    assert len(office.mails("visit.emergency")) == 2  # carol once, admin once, alice (the host) never


async def test_each_approval_step_reaches_whoever_decides_it_and_the_final_state_nobody(office: Office) -> None:
    request = (await office.ok("alice", PURCHASE, {"name": "Oscilloscope", "quantity": 1, "budget": 900.0},
                               "requestPurchase"))["request"]  # fmt: skip
    mail = await office.one_mail("approval.pending", "carol")  # step 1: the head of Engineering
    assert f"#{request['id']}" in str(mail["Subject"]) and "Alice Li" in str(mail["Subject"])
    assert office.mails("approval.pending", "paul") == []
    await office.ok("carol", APPROVE, {"id": request["id"]}, "approveItemRequest")
    await office.one_mail("approval.pending", "paul")  # step 2: PROCUREMENT
    done = await office.ok("paul", APPROVE, {"id": request["id"]}, "approveItemRequest")
    assert done["request"]["status"] == "APPROVED"
    # A later message proves the sender has passed the final decision: nothing was written for it.
    paper = next(
        e["node"]["id"]
        for e in (await office.client("wendy").ok(ITEMS))["items"]["edges"]
        if e["node"]["name"] == "A4 paper"
    )
    await office.ok("bob", REQUISITION, {"itemId": paper, "quantity": 1, "purpose": "打印"}, "requestRequisition")
    await office.one_mail("approval.pending", "fiona")
    assert [m["To"] for m in office.mails("approval.pending") if f"#{request['id']} " in str(m["Subject"])] == [
        "carol@example.test",
        "paul@example.test",
    ]


async def _in_process_runtime(office: Office) -> Runtime:
    rt = Runtime.create(Settings.from_env({**office.site.env, **mail_env(1)}))
    await db.start(rt.settings.database_url)
    await rt.load_keys()
    return rt


async def test_a_rolled_back_change_writes_and_sends_nothing(office: Office) -> None:
    rt = await _in_process_runtime(office)
    try:
        alice = await Person.get(username="alice")
        actor = Actor(alice.id, 0, alice.display_name, PersonKind.EMPLOYEE, frozenset(), alice.department_id)
        item = await Item.filter(name="A4 paper").first()
        assert item is not None
        with pytest.raises(LookupError):
            async with in_transaction():
                submitted = await approvals.submit(rt, actor, approvals.RequestKind.REQUISITION, item.id, 2, {})
                assert await Notification.filter(cause=f"request:{submitted.id}").count() == 1  # written...
                raise LookupError("the change fails after the submission")
        assert await Notification.filter(cause=f"request:{submitted.id}").count() == 0  # ...and rolled back
        assert not await ItemRequest.filter(id=submitted.id).exists()
        # The same change committed sends: the mail below is this request's, and only it.
        ok = await approvals.submit(rt, actor, approvals.RequestKind.REQUISITION, item.id, 3, {})
        await eventually(
            lambda: any(f"#{ok.id} " in str(m["Subject"]) for m in office.mails("approval.pending", "carol")),
            15,
            "the committed request's mail",
        )
        # (SQLite gives the committed request the rolled-back one's id: the quantity tells them apart.)
        assert [str(m["Subject"]) for m in office.mail.messages if f"#{submitted.id} " in str(m["Subject"])] == [
            f"待审批：#{ok.id} REQUISITION A4 paper ×3 — Alice Li (step 1)"
        ]
    finally:
        await db.close()


async def test_a_loan_lent_to_alice_is_not_overdue_yet(office: Office) -> None:
    """The loan the next test finds overdue (the borrowing's own journey is tests/test_item_journeys.py)."""
    rt = await _in_process_runtime(office)
    try:
        alice = await Person.get(username="alice")
        item = await Item.filter(name="A4 paper").first()
        assert item is not None
        asset = await Asset.create(
            item_id=item.id,
            status=AssetStatus.LENT,
            holder_person_id=alice.id,
            holder_department_id=alice.department_id,
            due_back=office.server.clock.now() + timedelta(hours=1),
        )
        await items.move("LEND", item.id, asset_id=asset.id, person_id=alice.id)
        office.loan = asset.id
        assert rt.settings.notify.public_url is not None
    finally:
        await db.close()


async def test_when_time_passes_overstay_overdue_escalation_and_the_summaries_go_out(office: Office) -> None:
    assert office.mails("loan.overdue") == []
    office.server.clock.advance(49 * 3600)
    # The checked-in visitor of the visit journey overstays: its host and security hear, and the
    # security group's WeCom robot gets it as markdown with the visitor's name.
    overstay = await office.one_mail("visit.overstay", "alice")
    assert "李娜 Zoë" in str(overstay["Subject"])
    await office.one_mail("visit.overstay", "security")

    # (The demo's gate, silent for the 49 hours, may be reported offline to the robot too.)
    def overstays() -> list[Received]:
        return [r for r in office.hooked("/wecom") if "李娜 Zoë" in r.body.decode()]

    await eventually(lambda: len(overstays()) >= 1, 15, "the WeCom robot")
    (robot,) = overstays()
    assert robot.query == {"key": ["k-1"]}
    payload = json.loads(robot.body)
    assert payload["msgtype"] == "markdown" and "李娜 Zoë" in payload["markdown"]["content"]
    # The loan became overdue: its borrower hears once.
    overdue = await office.one_mail("loan.overdue", "alice")
    assert f"A4 paper #{office.loan}" in str(overdue["Subject"])
    # bob's requisition and alice's committed one waited past 48 h: each escalated to ADMIN, once.
    await eventually(lambda: len(office.mails("approval.pending", "admin")) >= 2, 15, "the escalations")
    escalated = sorted(str(m["Subject"]).rsplit("— ", 1)[1] for m in office.mails("approval.pending", "admin"))
    assert escalated == ["Alice Li (step 1)", "Bob Wang (step 1)"]
    # The summaries of the days that ended: to the report readers, the PDF attached and opening.
    await eventually(lambda: len(office.mails("summary.daily", "admin")) >= 1, 30, "the daily summary")
    summaries = (await office.client("admin").ok(SUMMARIES))["scheduledSummaries"]["edges"]
    daily = {s["node"]["id"]: s["node"] for s in summaries if s["node"]["kind"] == "DAILY"}
    await eventually(lambda: len(office.mails("summary.daily", "admin")) == len(daily), 30, "every daily summary")
    for mail in office.mails("summary.daily", "admin"):
        (pdf,) = [p for p in mail.iter_attachments() if p.get_content_type() == "application/pdf"]
        data = pdf.get_content()
        assert data.startswith(b"%PDF")
        text = pdfium.PdfDocument(io.BytesIO(data))[0].get_textpage().get_text_bounded()
        body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        passages = int(re.search(r"通行(\d+)次", body).group(1))  # type: ignore[union-attr]
        assert f"Passages (granted): {passages}" in text
        visitors = int(re.search(r"访客签到(\d+)人", body).group(1))  # type: ignore[union-attr]
        assert f"Visitors checked in: {visitors}" in text
    assert any(n["visitors"] >= 1 for n in daily.values())  # the figures are the site's: a check-in counted
    assert len(office.mails("summary.daily", "eve")) == len(daily)  # the EXECUTIVE reads reports too
    for who in ("alice", "carol", "guard", "paul"):
        assert office.mails("summary.daily", who) == [], who
    # The report robot took summary.*: signed, one delivery key each.
    await eventually(lambda: len(office.hooked("/reports", "summary.daily")) >= len(daily), 15, "the report robot")
    for hook in office.hooked("/reports"):
        t, sig = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", hook.headers["x-gatehouse-signature"]).groups()  # type: ignore[union-attr]
        assert hmac.compare_digest(
            sig, hmac.new(SECRET.encode(), t.encode() + b"." + hook.body, hashlib.sha256).hexdigest()
        )
        assert json.loads(hook.body)["kind"].startswith("summary.")
    keys = [h.headers["x-gatehouse-delivery"] for h in office.hooked("/reports")]
    assert len(keys) == len(set(keys))
    # A day later the borrower is reminded on the live channel again, but notified once per loan.
    office.server.clock.advance(25 * 3600)
    await eventually(lambda: len(office.mails("summary.daily", "admin")) > len(daily), 30, "the next day's summary")
    assert len(office.mails("loan.overdue", "alice")) == 1


async def test_nothing_was_sent_twice(office: Office) -> None:
    assert office.mail.messages and all(n == 1 for n in office.mail.by_id.values())
    # The robots' messages carry no delivery header: their bodies tell them apart.
    keys = [h.headers.get("x-gatehouse-delivery") or h.body for h in office.hooks.received if h.path != "/sms"]
    assert len(keys) == len(set(keys))
