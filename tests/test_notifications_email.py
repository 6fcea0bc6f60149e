"""Notifications by email, end to end: a real server's outbox and sender, a real SMTP server
(aiosmtpd) started here, the invitation's link and QR opening the visitor's registration."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from PIL import Image

from tests.harness import PROJECT, Gate, GraphQLClient, Phone, Site, error_codes, eventually, free_port, http_client
from tests.smtp_peer import Mailbox, smtp_peer, started
from tests.test_visits import new_id_number

PUBLIC = "https://gate.example.test"
INVITE = (PROJECT / "mobile_contracts" / "host.graphql").read_text()
REGISTER = """
mutation CompleteVisitorRegistration($inviteCode: String!, $input: VisitorDetailsInput!) {
  completeVisitorRegistration(inviteCode: $inviteCode, input: $input) {
    session { accessToken } visit { id status } errors { code message field }
  }
}"""
INVITE_EMAIL = """
mutation($input: InviteVisitorInput!) {
  inviteVisitor(input: $input) { visit { id status inviteCode } errors { code message field } }
}"""


@pytest.fixture
def smtp() -> Iterator[tuple[Controller, Mailbox]]:
    with smtp_peer() as peer:
        yield peer


def mail_env(port: int, **extra: str) -> dict[str, str]:
    return {
        "GATEHOUSE_SMTP_HOST": "127.0.0.1",
        "GATEHOUSE_SMTP_PORT": str(port),
        "GATEHOUSE_SMTP_TLS": "none",
        "GATEHOUSE_SMTP_FROM": "gate@example.test",
        "GATEHOUSE_PUBLIC_URL": PUBLIC,
        "GATEHOUSE_NOTIFY_BACKOFF_SECONDS": "0.2",
        **extra,
    }


def invite_input(site: Site, name: str, address: str | None) -> dict[str, Any]:
    assert site.ids is not None
    start = datetime.now(UTC).replace(microsecond=0)
    data: dict[str, Any] = {
        "visitorName": name,
        "phone": "+8613900000001",
        "purpose": "design review",
        "expectedStart": start.isoformat(),
        "expectedEnd": (start + timedelta(hours=2)).isoformat(),
        "zoneIds": [site.ids.zones["Engineering office"]],
    }
    if address is not None:
        data["email"] = address
    return data


async def invite(client: GraphQLClient, site: Site, name: str, address: str | None) -> dict[str, Any]:
    data = await client.ok(INVITE_EMAIL, {"input": invite_input(site, name, address)}, as_="alice")
    assert data["inviteVisitor"]["errors"] == [], data
    return data["inviteVisitor"]["visit"]


def rows(site: Site) -> list[tuple[Any, ...]]:
    path = site.database_url.removeprefix("sqlite://")
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT kind, channel, status, attempts, last_error, payload_enc IS NULL FROM notification"
        ).fetchall()


async def test_the_invitation_email_opens_the_registration(sqlite_site: Site, smtp: Any) -> None:
    controller, box = smtp
    server = sqlite_site.start_server(**mail_env(controller.port))
    client = GraphQLClient(server, demo=sqlite_site.demo, operations={"InviteVisitor": INVITE})
    # The contract's InviteVisitor (no email field) works unchanged and sends nothing.
    plain = await client.raw(
        INVITE, {"input": invite_input(sqlite_site, "Nobody", None)}, as_="alice", op="InviteVisitor"
    )
    assert plain["data"]["inviteVisitor"]["errors"] == [], plain
    visit = await invite(client, sqlite_site, "李娜 Zoë", "lina@example.test")
    await eventually(lambda: len(box.messages) == 1, 15, "the invitation email")
    mail = box.messages[0]
    assert mail["To"] == "lina@example.test"
    assert "李娜 Zoë" in mail.get_body(("plain",)).get_content()
    assert str(mail["Message-ID"]).startswith("<visit.invitation.")
    html_body = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    link = next(word for word in text.split() if word.startswith(PUBLIC + "/invite/"))
    assert link in html_body
    code = urlsplit(link).path.rsplit("/", 1)[1]
    assert code == visit["inviteCode"]
    # The inline QR decodes to the same link.
    images = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1 and images[0]["Content-ID"] == "<img0>"
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(images[0].get_content())))]
    assert decoded == [link]
    # The link's page is served, and its code registers the visitor.
    async with http_client() as http:
        page = await http.get(server.http + urlsplit(link).path)
    assert page.status_code == 200
    done = await client.user(None).ok(REGISTER, {"inviteCode": code, "input": {"idNumber": new_id_number()}})
    assert done["completeVisitorRegistration"]["errors"] == [], done
    assert done["completeVisitorRegistration"]["visit"]["status"] == "PENDING_APPROVAL"
    # Sent: the sealed payload (which held the code) is gone.
    await eventually(lambda: rows(sqlite_site)[0][2] == "sent", 5, "the row marked sent")
    assert rows(sqlite_site) == [("visit.invitation", "email", "sent", 1, "", 1)]


async def test_no_header_injection_through_the_visitor_name(sqlite_site: Site, smtp: Any) -> None:
    controller, box = smtp
    server = sqlite_site.start_server(**mail_env(controller.port))
    client = GraphQLClient(server, demo=sqlite_site.demo)
    answer = await client.raw(
        INVITE_EMAIL,
        {"input": invite_input(sqlite_site, "Eve\r\nBcc: victim@example.test", "eve@example.test")},
        as_="alice",
    )
    # The name is flattened to one line by the visit's own validation; the mail carries it as text.
    assert answer["data"]["inviteVisitor"]["errors"] == [], answer
    await eventually(lambda: len(box.messages) == 1, 15, "the email")
    mail = box.messages[0]
    assert mail["Bcc"] is None and box.recipients == [["eve@example.test"]]
    assert (
        "\n" not in str(mail["Subject"]) and "Eve Bcc: victim@example.test" in mail.get_body(("plain",)).get_content()
    )
    bad = await client.raw(
        INVITE_EMAIL, {"input": invite_input(sqlite_site, "Eve", "eve@example.test\r\nBcc: x@y.z")}, as_="alice"
    )
    assert bad["data"]["inviteVisitor"]["errors"][0]["field"] == "email"


async def test_unreachable_smtp_retries_then_fails_and_gates_stay_ready(sqlite_site: Site) -> None:
    dead = free_port()  # nothing listens
    server = sqlite_site.start_server(**mail_env(dead, GATEHOUSE_NOTIFY_MAX_ATTEMPTS="3"))
    client = GraphQLClient(server, demo=sqlite_site.demo)
    await invite(client, sqlite_site, "張偉", "zhang@example.test")
    await eventually(lambda: rows(sqlite_site)[0][2] == "failed", 30, "the row given up")
    _, _, status, attempts, error, cleared = rows(sqlite_site)[0]
    # Given up, its message kept (sealed) for an admin's retry once SMTP is back.
    assert (status, attempts, cleared) == ("failed", 3, 0) and "unreachable" in error
    async with http_client() as http:
        ready = await http.get(server.http + "/readyz")
    assert ready.status_code == 200, ready.text
    detail = ready.json()["checks"]["notifications"]["detail"]["email"]
    assert detail["failed"] == 1 and "unreachable" in detail["lastError"]
    # A gate still opens.
    assert sqlite_site.demo is not None
    alice = await client.login("alice", sqlite_site.demo.passwords["alice"])
    phone = Phone()
    await phone.bind(alice)
    gate = await Gate(server, sqlite_site.demo.device_id, sqlite_site.demo.device_secret).connect()
    try:
        reply = await gate.scan(sqlite_site.demo.gates["Lobby turnstile in"], phone.token())
        assert reply["granted"] is True
    finally:
        await gate.close()
    # Admins see the failure; others are refused.
    fields = "id kind status attempts lastError addressMasked"
    deliveries = '{ notificationDeliveries(status: "failed") { edges { node { ' + fields + " } } } }"
    seen = await client.ok(deliveries, as_="security")
    (node,) = [e["node"] for e in seen["notificationDeliveries"]["edges"]]
    assert (node["kind"], node["attempts"], node["addressMasked"]) == ("visit.invitation", 3, "z***@example.test")
    channels = await client.ok("{ notificationChannels { name failed lastError } }", as_="admin")
    assert channels["notificationChannels"][0]["name"] == "email" and channels["notificationChannels"][0]["failed"] == 1
    retry = "mutation($id: ID!) { retryNotification(id: $id) { delivery { status } errors { code message } } }"
    for query, variables in (
        (deliveries, None),
        ("{ notificationChannels { name } }", None),
        (retry, {"id": node["id"]}),
    ):
        for caller in ("alice", "hr", None):
            answer = (
                await client.raw(query, variables, as_=caller)
                if caller
                else await client.user(None).raw(query, variables)
            )
            assert error_codes(answer) and set(error_codes(answer)) <= {"FORBIDDEN", "UNAUTHENTICATED"}, answer
    # An admin sends it again (SMTP is still down: three more attempts, given up again).
    again = await client.ok(retry, {"id": node["id"]}, as_="admin")
    assert again["retryNotification"] == {"delivery": {"status": "pending"}, "errors": []}, again
    await eventually(lambda: rows(sqlite_site)[0][2:4] == ("failed", 3), 30, "the retried one given up again")


async def test_killed_between_commit_and_send_delivers_once_after_restart(sqlite_site: Site, smtp: Any) -> None:
    controller, box = smtp
    held = sqlite_site.start_server(**mail_env(controller.port, GATEHOUSE_NOTIFY_PAUSED="1"))
    client = GraphQLClient(held, demo=sqlite_site.demo)
    await invite(client, sqlite_site, "Zoë", "zoe@example.test")
    assert rows(sqlite_site)[0][2] == "pending"  # committed, not sent
    assert held.proc is not None
    os.kill(held.proc.pid, signal.SIGKILL)
    held.proc.wait()
    sqlite_site.servers.remove(held)
    sqlite_site.start_server(**mail_env(controller.port))
    await eventually(lambda: rows(sqlite_site)[0][2] == "sent", 15, "sent after the restart")
    await asyncio.sleep(0)  # the count below is of what arrived by the time it was marked sent
    assert len(box.messages) == 1 and list(box.by_id.values()) == [1]


async def test_two_workers_on_postgres_and_redis_send_each_notification_once(
    tmp_path: Path, postgres_template: Any, require_redis: None, smtp: Any
) -> None:
    from tests.conftest import _postgres_copy
    from tests.harness import REDIS_URL

    controller, box = smtp
    async with _postgres_copy(postgres_template, tmp_path, REDIS_URL) as site:
        env = mail_env(controller.port)
        await asyncio.to_thread(site.start_server, **env)
        await asyncio.to_thread(site.start_server, **env)
        clients = [GraphQLClient(s, demo=site.demo) for s in site.servers]
        names = ["李娜", "張偉", "Zoë", "Ann", "Bo", "Cy"]
        for i, name in enumerate(names):
            await invite(clients[i % 2], site, name, f"v{i}@example.test")
        await eventually(lambda: len(box.messages) >= len(names), 30, "every invitation")

        async def all_marked_sent() -> bool:  # marked once the SMTP server has taken the message
            sent = await clients[0].ok(
                '{ notificationDeliveries(status: "sent") { edges { node { id } } } }', as_="admin"
            )
            return len(sent["notificationDeliveries"]["edges"]) == len(names)

        await eventually(all_marked_sent, 30, "every delivery marked sent")
        assert sorted(box.by_id.values()) == [1] * len(names)
        assert sorted(str(m["To"]) for m in box.messages) == sorted(f"v{i}@example.test" for i in range(len(names)))


class StallFirst(Mailbox):
    """Takes the first message's DATA, then answers nothing until released (a server killed mid-send)."""

    def __init__(self) -> None:
        super().__init__()
        self.released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == 1:
            await asyncio.to_thread(self.released.wait)
        return answer


async def test_killed_mid_send_is_sent_again_after_its_lease_with_the_same_message_id(sqlite_site: Site) -> None:
    box = StallFirst()
    controller = started(box)
    try:
        env = mail_env(controller.port, GATEHOUSE_NOTIFY_LEASE_SECONDS="2")
        first = sqlite_site.start_server(**env)
        await invite(GraphQLClient(first, demo=sqlite_site.demo), sqlite_site, "李娜", "lina@example.test")
        await eventually(lambda: len(box.messages) == 1, 15, "the peer holding the first DATA")
        assert rows(sqlite_site)[0][2] == "sending"
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        sqlite_site.servers.remove(first)
        sqlite_site.start_server(**env)
        await eventually(lambda: rows(sqlite_site)[0][2] == "sent", 20, "sent again after the lease")
        # Twice on the wire (at least once), one Message-ID: the receiver keeps one.
        assert len(box.messages) == 2 and list(box.by_id.values()) == [2]
        assert rows(sqlite_site)[0][3] == 2  # attempts
    finally:
        box.released.set()
        controller.stop()


async def test_my_notification_settings_over_graphql(sqlite_site: Site, smtp: Any) -> None:
    controller, _ = smtp
    server = sqlite_site.start_server(**mail_env(controller.port))
    client = GraphQLClient(server, demo=sqlite_site.demo)
    read = """{ myNotificationSettings { emailMasked quietHoursStart quietHoursEnd language channels
      kinds { kind alarm channels availableChannels } } }"""
    before = (await client.ok(read, as_="alice"))["myNotificationSettings"]
    assert before["language"] == "zh-CN" and before["channels"] == ["email"] and before["emailMasked"] is None
    assert {k["kind"] for k in before["kinds"]} >= {"visit.arrival", "alarm.door_forced"}
    assert "visit.invitation" not in {k["kind"] for k in before["kinds"]}
    change = """mutation($input: NotificationSettingsInput!) { setMyNotificationSettings(input: $input) {
      settings { emailMasked quietHoursStart quietHoursEnd language kinds { kind channels } }
      errors { code field } } }"""
    done = await client.ok(
        change,
        {
            "input": {
                "email": "alice@example.test",
                "quietHoursStart": "22:00",
                "quietHoursEnd": "07:00",
                "language": "en",
                "kinds": [{"kind": "visit.arrival", "channels": []}],
            }
        },
        as_="alice",
    )
    settings = done["setMyNotificationSettings"]["settings"]
    assert (settings["emailMasked"], settings["quietHoursStart"], settings["language"]) == (
        "a***@example.test",
        "22:00",
        "en",
    )
    assert next(k for k in settings["kinds"] if k["kind"] == "visit.arrival")["channels"] == []
    refused = await client.ok(change, {"input": {"quietHoursStart": "7am", "quietHoursEnd": "09:00"}}, as_="alice")
    assert refused["setMyNotificationSettings"]["errors"] == [{"code": "INVALID", "field": "quietHoursStart"}]
    anonymous = await client.user(None).raw(read)
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
