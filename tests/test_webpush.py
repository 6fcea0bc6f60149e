"""Web Push (issue 16) against a real push endpoint started by the test, and the subscription API
against a real server.

The push endpoint is a local aiohttp server standing where a browser's push service (FCM, Mozilla
autopush) would: it checks the VAPID Authorization header as such a service does (`vapid t=<JWT>,
k=<key>`, the JWT's ES256 signature verified with that key, `aud` = the endpoint's origin) and, as
the browser would, DECRYPTS the body with the subscription's private key and auth secret (RFC 8291,
http_ece), generated here exactly as a browser makes them. What it answers (201, 410, 429, 5xx,
nothing at all) drives the channel's outcome.

The endpoint is plain http on 127.0.0.1, which registerPushSubscription refuses (https only): the
channel tests store the subscription row directly; the API's checks have their own tests below.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import http_ece
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from multidict import CIMultiDict
from tortoise.backends.base.executor import EXECUTOR_CACHE

from resolvers.core import db
from resolvers.core.models import PushSubscription
from resolvers.core.settings import Settings, SettingsError
from resolvers.core.settings_webpush import WebPushSettings, private_key_pem, webpush_settings
from resolvers.notifications import push_subscriptions
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure
from resolvers.notifications.channels.webpush import MAX_PLAINTEXT, WebPushChannel
from tests.harness import (
    GraphQLClient,
    Site,
    create_postgres_database,
    drop_postgres_database,
    error_codes,
    free_port,
)

SUBJECT = "mailto:security@example.cn"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """What a browser makes when it subscribes: a P-256 key pair and a 16-byte auth secret."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)


@dataclass
class Received:
    path: str
    headers: CIMultiDict[str]
    claims: dict[str, Any]
    vapid_key: str
    body: bytes
    payload: dict[str, Any]


class PushService:
    """A push service's receiving end for the browsers in `browsers` (path → Browser)."""

    def __init__(self) -> None:
        self.port = 0  # the kernel's choice, taken when it starts (no port asked for first and bound later)
        self.origin = ""
        self.browsers: dict[str, Browser] = {}
        self.received: list[Received] = []
        self.refusals: list[str] = []
        self.answer = 201
        self.hang = asyncio.Event()  # set: answer; cleared: never answer (a stuck push service)
        self.hang.set()
        self._runner: web.AppRunner | None = None

    def endpoint(self, name: str, browser: Browser) -> str:
        self.browsers["/push/" + name] = browser
        return f"{self.origin}/push/{name}"

    async def handle(self, request: web.Request) -> web.Response:
        await self.hang.wait()
        body = await request.read()
        try:
            scheme, _, params = request.headers["Authorization"].partition(" ")
            assert scheme == "vapid", scheme
            parts = dict(p.split("=", 1) for p in params.split(","))
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
            # The signature is verified with the key in the header, and `aud` must be this origin.
            claims = jwt.decode(parts["t"], key=public, algorithms=["ES256"], audience=self.origin)
            browser = self.browsers[request.path]
            assert request.headers["Content-Encoding"] == "aes128gcm"
            assert len(body) <= 4096, len(body)
            plain = http_ece.decrypt(body, private_key=browser.key, auth_secret=browser.auth, version="aes128gcm")
        except Exception as exc:  # the service refuses what it cannot verify or a browser could not read
            self.refusals.append(repr(exc))
            return web.Response(status=400, text=repr(exc))
        self.received.append(
            Received(request.path, CIMultiDict(request.headers), claims, parts["k"], body, json.loads(plain.decode()))
        )
        return web.Response(status=self.answer, headers={"Location": f"{self.origin}/m/{len(self.received)}"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{name}", self.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self.origin = f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        self.hang.set()
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The migrated database the channel reads subscriptions from: SQLite, and PostgreSQL."""
    if request.param == "postgres":
        request.getfixturevalue("require_postgres")
        url = await create_postgres_database()
    else:
        url = f"sqlite://{tmp_path / 'push.sqlite3'}"
    # Tortoise caches each model's INSERT text per connection name for the process, whatever the
    # dialect: a SQLite statement ("?") would be sent to PostgreSQL by the next test.
    EXECUTOR_CACHE.clear()
    await db.start(url)
    try:
        yield url
    finally:
        await db.close()
        if request.param == "postgres":
            await drop_postgres_database(url)


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def vapid() -> WebPushSettings:
    key = ec.generate_private_key(ec.SECP256R1())
    settings = webpush_settings(
        {"GATEHOUSE_VAPID_PRIVATE_KEY": private_key_pem(key).decode(), "GATEHOUSE_VAPID_SUBJECT": SUBJECT}
    )
    assert settings is not None
    return settings


async def subscribe(service: PushService, person_id: int, name: str, browser: Browser) -> PushSubscription:
    return await PushSubscription.create(
        person_id=person_id,
        endpoint=service.endpoint(name, browser),
        p256dh=browser.p256dh,
        auth=b64url(browser.auth),
        created_at=datetime_now(),
    )


def datetime_now() -> Any:
    from resolvers.core import clock

    return clock.now()


ALARM = Message(
    kind="alarm.door_forced",
    key="notification:17:webpush:3",
    subject="强行开门：东门",
    text="东门 被强行打开 — Zoë Ångström 最后刷卡",
    locale="zh-CN",
    link="https://gatehouse.example.cn/guard",
    alarm=True,
)


async def test_alarm_reaches_the_push_endpoint_signed_and_decryptable(database: str, push_service: PushService) -> None:
    settings = vapid()
    channel = WebPushChannel(settings)
    phone, tablet, other = Browser(), Browser(), Browser()
    try:
        mine = await subscribe(push_service, 7, "phone", phone)
        second = await subscribe(push_service, 7, "tablet", tablet)
        await subscribe(push_service, 8, "other", other)
        assert await channel.addresses_for(7) == [str(mine.id), str(second.id)]
        assert await channel.addresses_for(9) == []
        assert channel.targets_for("alarm.door_forced") == []

        before = int(time.time())
        provider_id = await channel.send(ALARM, str(mine.id))
        assert push_service.refusals == []
        [got] = push_service.received
        assert got.path == "/push/phone"
        assert provider_id == f"{push_service.origin}/m/1"
        # VAPID (RFC 8292): the server's public key, the subject, this origin, an expiry within 24 h.
        assert got.vapid_key == settings.public_key
        assert got.claims["sub"] == SUBJECT and got.claims["aud"] == push_service.origin
        assert before < got.claims["exp"] <= before + 24 * 3600
        # RFC 8030: an alarm is urgent, replaces an older undelivered one of its kind, lives a day.
        assert got.headers["Urgency"] == "high"
        assert got.headers["Topic"] == "alarm-door_forced"
        assert got.headers["TTL"] == str(24 * 3600)
        # The browser's keys open it, and it says what the service worker shows.
        assert got.payload == {
            "title": "强行开门：东门",
            "body": "东门 被强行打开 — Zoë Ångström 最后刷卡",
            "link": "https://gatehouse.example.cn/guard",
            "kind": "alarm.door_forced",
            "key": "notification:17:webpush:3",
            "alarm": True,
        }
        # Another browser's keys do not open it.
        with pytest.raises(Exception):  # noqa: B017 (http_ece raises whatever its AES-GCM check raises)
            http_ece.decrypt(got.body, private_key=other.key, auth_secret=other.auth, version="aes128gcm")
        row = await PushSubscription.get(id=mine.id)
        assert row.last_success_at is not None

        # A reminder: normal urgency; a summary keeps a week.
        reminder = Message(kind="visit.reminder", key="n:18", subject="Visitor at 10:00", text="Zoë", locale="en")
        await channel.send(reminder, str(second.id))
        summary = Message(kind="summary.daily", key="n:19", subject="Daily summary", text="…")
        await channel.send(summary, str(second.id))
        assert [r.headers["Urgency"] for r in push_service.received[1:]] == ["normal", "normal"]
        assert [r.headers["TTL"] for r in push_service.received[1:]] == [str(24 * 3600), str(7 * 24 * 3600)]
        assert push_service.received[1].payload["alarm"] is False and push_service.received[1].payload["link"] is None
    finally:
        await channel.aclose()


async def test_a_long_message_is_cut_to_fit_the_push_record(database: str, push_service: PushService) -> None:
    channel = WebPushChannel(vapid())
    browser = Browser()
    try:
        row = await subscribe(push_service, 7, "phone", browser)
        long = Message(kind="summary.weekly", key="n:1", subject="每周摘要", text="访客到达，" * 2000)
        await channel.send(long, str(row.id))
        [got] = push_service.received
        assert len(got.body) <= 4096
        plain = json.dumps(got.payload, ensure_ascii=False, separators=(",", ":")).encode()
        assert 3000 < len(plain) <= MAX_PLAINTEXT
        assert got.payload["title"] == "每周摘要" and got.payload["body"].startswith("访客到达，访客到达")
        assert got.payload["body"].endswith("…")
    finally:
        await channel.aclose()


async def test_gone_subscription_is_removed_and_failures_are_classified(
    database: str, push_service: PushService
) -> None:
    channel = WebPushChannel(vapid(), send_seconds=1.0)
    browser = Browser()
    try:
        row = await subscribe(push_service, 7, "phone", browser)
        for status, failure in ((429, TemporaryFailure), (500, TemporaryFailure), (503, TemporaryFailure)):
            push_service.answer = status
            with pytest.raises(failure, match=str(status)):
                await channel.send(ALARM, str(row.id))
            assert await PushSubscription.exists(id=row.id)
        push_service.answer = 413  # any other refusal: not retried, the subscription kept
        with pytest.raises(PermanentFailure, match="413"):
            await channel.send(ALARM, str(row.id))
        assert await PushSubscription.exists(id=row.id)

        # A push service that never answers: a temporary failure after the send's deadline.
        push_service.hang.clear()
        started = time.monotonic()
        with pytest.raises(TemporaryFailure, match="did not answer"):
            await channel.send(ALARM, str(row.id))
        assert time.monotonic() - started < 5
        push_service.hang.set()

        # Nobody listening at all: temporary.
        dead = await PushSubscription.create(
            person_id=7,
            endpoint=f"http://127.0.0.1:{free_port()}/push/x",
            p256dh=browser.p256dh,
            auth=b64url(browser.auth),
            created_at=datetime_now(),
        )
        with pytest.raises(TemporaryFailure, match="cannot be reached"):
            await channel.send(ALARM, str(dead.id))

        # 410 Gone: permanent, and the subscription is deleted (the next message does not try it).
        push_service.answer = 410
        with pytest.raises(PermanentFailure, match="410"):
            await channel.send(ALARM, str(row.id))
        assert not await PushSubscription.exists(id=row.id)
        assert str(row.id) not in await channel.addresses_for(7)
        with pytest.raises(PermanentFailure, match="no longer exists"):
            await channel.send(ALARM, str(row.id))
        # 404 the same.
        push_service.answer = 404
        again = await subscribe(push_service, 7, "phone2", Browser())
        with pytest.raises(PermanentFailure, match="404"):
            await channel.send(ALARM, str(again.id))
        assert not await PushSubscription.exists(id=again.id)
        # Every request that arrived was properly signed and decryptable.
        assert push_service.refusals == []
    finally:
        await channel.aclose()


async def test_a_message_signed_with_another_key_is_refused_by_the_push_service(
    database: str, push_service: PushService
) -> None:
    # The endpoint's check can fail: a browser subscribed with key A, a server signing with B and
    # encrypting to other keys is refused (400 here), which the channel reports as permanent.
    channel = WebPushChannel(vapid())
    browser = Browser()
    try:
        row = await subscribe(push_service, 7, "phone", browser)
        await PushSubscription.filter(id=row.id).update(auth=b64url(os.urandom(16)))
        with pytest.raises(PermanentFailure, match="400"):
            await channel.send(ALARM, str(row.id))
        assert push_service.received == [] and len(push_service.refusals) == 1
    finally:
        await channel.aclose()


def test_vapid_settings_are_checked_at_start(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = private_key_pem(key).decode()
    assert webpush_settings({}) is None
    path = tmp_path / "vapid.pem"
    path.write_text(pem)
    from_file = webpush_settings({"GATEHOUSE_VAPID_PRIVATE_KEY_FILE": str(path), "GATEHOUSE_VAPID_SUBJECT": SUBJECT})
    assert from_file is not None
    raw = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    from_raw = webpush_settings(
        {"GATEHOUSE_VAPID_PRIVATE_KEY": raw, "GATEHOUSE_VAPID_SUBJECT": "https://gh.example.cn"}
    )
    assert from_raw is not None and from_raw.public_key == from_file.public_key
    assert len(unb64url(from_file.public_key)) == 65
    bad = [
        ({"GATEHOUSE_VAPID_PRIVATE_KEY": "not a key", "GATEHOUSE_VAPID_SUBJECT": SUBJECT}, "not a P-256"),
        (
            {"GATEHOUSE_VAPID_PRIVATE_KEY_FILE": str(tmp_path / "missing.pem"), "GATEHOUSE_VAPID_SUBJECT": SUBJECT},
            "cannot be read",
        ),
        ({"GATEHOUSE_VAPID_PRIVATE_KEY": pem}, "is required"),
        ({"GATEHOUSE_VAPID_PRIVATE_KEY": pem, "GATEHOUSE_VAPID_SUBJECT": "http://gh.example.cn"}, "mailto"),
        ({"GATEHOUSE_VAPID_PRIVATE_KEY": pem, "GATEHOUSE_VAPID_SUBJECT": "security@example.cn"}, "mailto"),
        ({"GATEHOUSE_VAPID_SUBJECT": SUBJECT}, "no VAPID key"),
        (
            {
                "GATEHOUSE_VAPID_PRIVATE_KEY": pem,
                "GATEHOUSE_VAPID_PRIVATE_KEY_FILE": str(path),
                "GATEHOUSE_VAPID_SUBJECT": SUBJECT,
            },
            "both",
        ),
    ]
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ed = ed25519.Ed25519PrivateKey.generate()
    ed_pem = ed.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    bad.append(({"GATEHOUSE_VAPID_PRIVATE_KEY": ed_pem.decode(), "GATEHOUSE_VAPID_SUBJECT": SUBJECT}, "P-256"))
    for env, words in bad:
        with pytest.raises(SettingsError, match=words) as caught:
            webpush_settings(env)
        assert "\n" not in str(caught.value)
        # At start they are the server's one-line SettingsError like any bad setting.
        with pytest.raises(SettingsError, match=words):
            Settings.from_env(env)
    good = Settings.from_env(
        {
            "GATEHOUSE_VAPID_PRIVATE_KEY": pem,
            "GATEHOUSE_VAPID_SUBJECT": SUBJECT,
            "GATEHOUSE_PUBLIC_URL": "https://gh.example.cn",
        }
    )
    assert good.webpush is not None and good.webpush.public_key == from_file.public_key
    assert Settings.from_env({}).webpush is None


def test_vapid_keys_command_writes_a_key_the_server_reads(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.harness import PROJECT

    out = tmp_path / "vapid.pem"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env["PYTHONPATH"] = f"{PROJECT}:{PROJECT / 'devices' / 'gate_agent'}"
    run = subprocess.run(
        [sys.executable, "-m", "api.cli", "vapid-keys", "--out", str(out)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    settings = webpush_settings({"GATEHOUSE_VAPID_PRIVATE_KEY_FILE": str(out), "GATEHOUSE_VAPID_SUBJECT": SUBJECT})
    assert settings is not None and f"public key (pushPublicKey): {settings.public_key}" in run.stdout
    again = subprocess.run(
        [sys.executable, "-m", "api.cli", "vapid-keys", "--out", str(out)],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 2 and "never overwritten" in again.stderr


# --------------------------------------------------------------------------- the API, on a real server

REGISTER = """
mutation R($input: PushSubscriptionInput!) {
  registerPushSubscription(input: $input) { ok errors { code field message } }
}
"""
REMOVE = "mutation X($e: String!) { removePushSubscription(endpoint: $e) { ok errors { code field message } } }"
KEY = "{ pushPublicKey }"


def rows(site: Site) -> list[tuple[str, str, str]]:
    """(username, endpoint, user agent) of every stored subscription, read from the site's database."""
    path = site.database_url.removeprefix("sqlite://")
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT p.username, s.endpoint, s.user_agent FROM push_subscription s JOIN person p ON p.id = s.person_id "
            "ORDER BY s.id"
        ).fetchall()


def sub_input(endpoint: str, browser: Browser | None = None, **over: Any) -> dict[str, Any]:
    browser = browser or Browser()
    return {"endpoint": endpoint, "p256dh": browser.p256dh, "auth": b64url(browser.auth), **over}


async def test_register_and_remove_push_subscriptions(sqlite_site: Site, demo: Any) -> None:
    settings = vapid()
    server = sqlite_site.start_server(
        GATEHOUSE_VAPID_PRIVATE_KEY=private_key_pem(settings.private_key).decode(),
        GATEHOUSE_VAPID_SUBJECT=SUBJECT,
        GATEHOUSE_PUBLIC_URL="https://gh.example.cn",
    )
    api = GraphQLClient(server, demo=demo, as_="lina")
    assert (await api.ok(KEY))["pushPublicKey"] == settings.public_key
    endpoint = "https://fcm.googleapis.com/fcm/send/abc:DEF_123"
    ok = await api.ok(REGISTER, {"input": sub_input(endpoint, userAgent="Mozilla/5.0 (Android 14) 李娜的手机")})
    assert ok["registerPushSubscription"] == {"ok": True, "errors": []}
    assert rows(sqlite_site) == [("lina", endpoint, "Mozilla/5.0 (Android 14) 李娜的手机")]

    # The same browser after someone else signs in on it: it moves to them.
    again = await api.ok(REGISTER, {"input": sub_input(endpoint)}, as_="zoe")
    assert again["registerPushSubscription"]["ok"] is True
    assert rows(sqlite_site) == [("zoe", endpoint, None)]
    # Only the owner removes it; removing what is not there is not an error.
    assert (await api.ok(REMOVE, {"e": endpoint}))["removePushSubscription"] == {"ok": True, "errors": []}
    assert rows(sqlite_site) == [("zoe", endpoint, None)]
    await api.ok(REMOVE, {"e": endpoint}, as_="zoe")
    assert rows(sqlite_site) == []

    # At most 10 browsers a person: the 11th drops the one registered first.
    for i in range(11):
        await api.ok(REGISTER, {"input": sub_input(f"https://updates.push.services.mozilla.com/wpush/v2/{i}")})
    kept = [e for _, e, _ in rows(sqlite_site)]
    assert len(kept) == 10 and kept[0].endswith("/1") and kept[-1].endswith("/10")

    # Offboarded: no notifications after leaving (the subscriptions go with the sessions).
    await api.ok(REGISTER, {"input": sub_input("https://push.example.com/zoe")}, as_="zoe")
    with sqlite3.connect(sqlite_site.database_url.removeprefix("sqlite://")) as conn:
        [(lina_id,)] = conn.execute("SELECT id FROM person WHERE username = 'lina'").fetchall()
    off = await api.ok(
        "mutation O($id: ID!) { offboardEmployee(id: $id) { errors { message } } }", {"id": str(lina_id)}, as_="hr"
    )
    assert off["offboardEmployee"]["errors"] == [], off
    assert rows(sqlite_site) == [("zoe", "https://push.example.com/zoe", None)]


BAD_SUBSCRIPTIONS: list[tuple[dict[str, str], str, str]] = [
    ({"endpoint": "http://push.example.com/x"}, "endpoint", "https"),
    ({"endpoint": "https://push.example.com/" + "a" * 1024}, "endpoint", "1024"),
    ({"endpoint": "javascript:alert(1)"}, "endpoint", "https"),
    ({"endpoint": "https://user:pw@push.example.com/x"}, "endpoint", "no user"),
    ({"endpoint": "https:///nohost"}, "endpoint", "host"),
    ({"endpoint": "https://push.example.com/推送"}, "endpoint", "plain URL"),
    ({"p256dh": "not base64!"}, "p256dh", "base64url"),
    ({"p256dh": b64url(os.urandom(33))}, "p256dh", "65 bytes"),
    ({"p256dh": b64url(b"\x04" + b"\x01" * 64)}, "p256dh", "P-256"),
    ({"p256dh": "A" * 300}, "p256dh", "base64url"),
    ({"auth": b64url(os.urandom(8))}, "auth", "16 bytes"),
    ({"auth": "+/+/+/+/+/+/+/+/+/+/+w=="}, "auth", "base64url"),
]


async def test_register_refuses_bad_subscriptions(sqlite_site: Site, demo: Any) -> None:
    settings = vapid()
    server = sqlite_site.start_server(
        GATEHOUSE_VAPID_PRIVATE_KEY=private_key_pem(settings.private_key).decode(),
        GATEHOUSE_VAPID_SUBJECT=SUBJECT,
        GATEHOUSE_PUBLIC_URL="https://gh.example.cn",
    )
    api = GraphQLClient(server, demo=demo, as_="lina")
    for over, at, words in BAD_SUBSCRIPTIONS:
        variables = {"input": {**sub_input("https://push.example.com/ok"), **over}}
        payload = (await api.ok(REGISTER, variables))["registerPushSubscription"]
        assert payload["ok"] is False, over
        [error] = payload["errors"]
        assert error["code"] == "INVALID" and error["field"] == at and words in error["message"], (over, error)
    assert rows(sqlite_site) == []
    # The good one goes through on the same server (the refusals above were for their reasons).
    assert (await api.ok(REGISTER, {"input": sub_input("https://push.example.com/ok")}))["registerPushSubscription"][
        "ok"
    ]


async def test_push_fields_need_a_signed_in_person_and_a_configured_server(
    api: GraphQLClient, sqlite_site: Site
) -> None:
    anonymous = api.user(None)
    for query, variables in (
        (KEY, {}),
        (REGISTER, {"input": sub_input("https://push.example.com/x")}),
        (REMOVE, {"e": "https://push.example.com/x"}),
    ):
        answer = await anonymous.raw(query, variables)
        assert error_codes(answer) == ["UNAUTHENTICATED"], answer
    # Web Push not configured (the suite's server has no VAPID key): no key, registration unavailable.
    api = api.user("lina")
    assert (await api.ok(KEY))["pushPublicKey"] is None
    payload = (await api.ok(REGISTER, {"input": sub_input("https://push.example.com/x")}))["registerPushSubscription"]
    assert payload["ok"] is False and payload["errors"][0]["code"] == "UNAVAILABLE"
    assert rows(sqlite_site) == []


async def test_register_checks_run_in_the_domain_too(database: str) -> None:
    # The same checks without GraphQL: what the API relies on.
    with pytest.raises(Exception, match="https"):
        await push_subscriptions.register(
            1, push_subscriptions.SubscriptionInput("http://x.example/y", Browser().p256dh, b64url(os.urandom(16)))
        )
    row = await push_subscriptions.register(
        1,
        push_subscriptions.SubscriptionInput(
            "https://x.example/y", Browser().p256dh + "=", b64url(os.urandom(16)) + "==", "UA\x00\n"
        ),
    )
    assert "=" not in row.p256dh + row.auth and row.user_agent == "UA"
    assert await push_subscriptions.remove(1, "https://x.example/y") is True
    assert await push_subscriptions.remove(1, "https://x.example/y") is False


async def test_the_same_browser_registered_at_once_is_stored_once(database: str) -> None:
    # Two tabs (or two people on one shared phone) registering the same endpoint at the same moment:
    # one row, owned by one of them, never a unique-constraint error.
    endpoint = "https://fcm.googleapis.com/fcm/send/shared-phone"
    browser = Browser()
    data = push_subscriptions.SubscriptionInput(endpoint, browser.p256dh, b64url(browser.auth))
    await asyncio.gather(*(push_subscriptions.register(person, data) for person in range(1, 7)))
    stored = await PushSubscription.filter(endpoint=endpoint).values_list("person_id", flat=True)
    assert len(stored) == 1 and stored[0] in range(1, 7)
