"""Webhooks and robots (issue 16): each format posted to a real local HTTP receiver, which checks
what the vendor would: the generic HMAC signature and delivery key, the WeCom / DingTalk / Feishu
payload shapes and their signatures (recomputed here from the vendors' documented recipes, not
with the channel's code); a visitor's name cannot inject a link or a mention; the peer's answers
map to temporary or permanent failures; bad settings are one-line start-up errors."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from resolvers.core.settings import Settings, SettingsError
from resolvers.core.settings_webhooks import KINDS, WebhookSettings
from resolvers.core.settings_webhooks import parse as parse_webhooks
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure
from resolvers.notifications.channels.webhook import WebhookChannel
from tests.http_receiver import Received, Receiver

NOW = 1_795_000_000.25  # an injected clock: the signatures below are recomputed for it
SECRET = "whsec-0123456789abcdef"
ROBOT_SECRET = "SEC5a3ecf88f2b3eb50db30ecfc00f53033"
EVIL = '李娜 [click](http://evil) @all <at user_id="all"></at>'

# Any channel needs the base of its links (GATEHOUSE_PUBLIC_URL).
PUBLIC_URL = {"GATEHOUSE_PUBLIC_URL": "https://gate.example.com"}


def message(**kw: Any) -> Message:
    base: dict[str, Any] = {
        "kind": "visit.arrival",
        "key": "n-42:webhook:guards",
        "subject": f"访客到达:{EVIL}",
        "text": f"访客 {EVIL} 已到达东门。\n第二行 **粗体** `code` # 标题",
        "link": "https://gate.example.com/app/visits/42?x=(1)",
        "facts": (("访客", EVIL), ("门", "东门")),
    }
    base.update(kw)
    return Message(**base)


def settings(*targets: dict[str, Any], timeout: str = "5") -> WebhookSettings:
    parsed = parse_webhooks(
        {"GATEHOUSE_WEBHOOKS": json.dumps(list(targets)), "GATEHOUSE_WEBHOOK_TIMEOUT_SECONDS": timeout}
    )
    assert parsed is not None
    return parsed


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def send_one(target: dict[str, Any], msg: Message, timeout: str = "5") -> None:
    channel = WebhookChannel(settings(target, timeout=timeout), now=lambda: NOW)
    try:
        await channel.send(msg, target["name"])
    finally:
        await channel.aclose()


# --------------------------------------------------------------------------- generic JSON


def verify_generic(request: Received, secret: str, tolerance: float = 300) -> dict[str, Any]:
    """What a receiver does (README "Webhooks and robots"): recompute the HMAC, compare in
    constant time, refuse an old timestamp; returns the parsed body."""
    match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", request.headers["x-gatehouse-signature"])
    assert match, request.headers["x-gatehouse-signature"]
    t, signature = match.groups()
    expected = hmac.new(secret.encode(), t.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise AssertionError("signature mismatch")
    assert abs(int(t) - NOW) <= tolerance
    return dict(json.loads(request.body))


async def test_generic_webhook_is_signed_and_carries_the_delivery_key(receiver: Receiver) -> None:
    target = {"name": "soc", "format": "generic", "url": receiver.url("/in"), "secret": SECRET, "kinds": ["*"]}
    msg = message(alarm=True, kind="alarm.door_forced")
    await send_one(target, msg)
    await send_one(target, msg)  # a retry: the same delivery key, so the receiver can drop it
    first, again = await receiver.wait_for(2)
    assert first.method == "POST" and first.path == "/in"
    assert first.headers["content-type"].startswith("application/json")
    body = verify_generic(first, SECRET)
    assert body == {
        "id": "n-42:webhook:guards",
        "kind": "alarm.door_forced",
        "subject": msg.subject,
        "text": msg.text,
        "link": msg.link,
        "alarm": True,
        "locale": "zh-CN",
        "facts": [{"label": "访客", "value": EVIL}, {"label": "门", "value": "东门"}],
        "sentAt": "2026-11-18T11:06:40Z",
    }
    assert first.headers["x-gatehouse-delivery"] == again.headers["x-gatehouse-delivery"] == msg.key
    with pytest.raises(AssertionError, match="signature mismatch"):
        verify_generic(first, SECRET + "x")  # the check can fail: another secret does not verify
    tampered = Received(first.method, first.target, first.headers, first.body.replace(b"true", b"false"))
    with pytest.raises(AssertionError, match="signature mismatch"):
        verify_generic(tampered, SECRET)


# --------------------------------------------------------------------------- robots


def assert_inert(markdown: str) -> None:
    """No link, mention or tag a visitor typed survives in robot markdown."""
    assert "[click]" not in markdown and "](http://evil" not in markdown
    assert "http://evil" not in markdown and "://evil" not in markdown
    assert "@all" not in markdown and "<at" not in markdown and "</at>" not in markdown
    assert "**粗体**" not in markdown and "`code`" not in markdown
    assert "李娜" in markdown  # the name itself is still there, readable


async def test_wecom_robot_gets_markdown_with_visitor_text_made_inert(receiver: Receiver) -> None:
    url = receiver.url("/cgi-bin/webhook/send") + "?key=693a91f6-7xxx"
    await send_one({"name": "保安群", "format": "wecom", "url": url, "kinds": ["visit.*"]}, message())
    (request,) = await receiver.wait_for(1)
    assert request.query == {"key": ["693a91f6-7xxx"]}
    payload = json.loads(request.body)
    assert set(payload) == {"msgtype", "markdown"} and payload["msgtype"] == "markdown"
    content = payload["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.startswith("**访客到达:")  # our own bold title
    assert_inert(content.replace("**访客到达:", "", 1))
    # The link is ours, as one markdown link with its parentheses encoded.
    assert "[查看详情](https://gate.example.com/app/visits/42?x=%281%29)" in content
    assert content.count("](") == 1


async def test_a_long_alarm_fits_the_robots_limit_and_keeps_its_link(receiver: Receiver) -> None:
    msg = message(alarm=True, text="强行开门 " * 2000)
    await send_one({"name": "w", "format": "wecom", "url": receiver.url(), "kinds": ["*"]}, msg)
    (request,) = await receiver.wait_for(1)
    content = json.loads(request.body)["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.startswith('<font color="warning">**') and content.endswith("%281%29)</font>")


async def test_dingtalk_robot_is_signed_in_the_query_and_mentions_nobody(receiver: Receiver) -> None:
    url = receiver.url("/robot/send") + "?access_token=abc123"
    target = {"name": "ding", "format": "dingtalk", "url": url, "secret": ROBOT_SECRET, "kinds": ["visit.arrival"]}
    await send_one(target, message(locale="en"))
    (request,) = await receiver.wait_for(1)
    query = request.query
    assert query["access_token"] == ["abc123"]
    timestamp = query["timestamp"][0]
    assert timestamp == str(int(NOW * 1000))  # milliseconds
    # DingTalk's recipe: base64(HmacSHA256(key=secret, msg=timestamp + "\n" + secret)), url-encoded.
    digest = hmac.new(ROBOT_SECRET.encode(), f"{timestamp}\n{ROBOT_SECRET}".encode(), hashlib.sha256).digest()
    assert query["sign"] == [base64.b64encode(digest).decode()]
    raw_sign = request.target.split("sign=", 1)[1].split("&", 1)[0]
    assert "+" not in raw_sign and "/" not in raw_sign and "=" not in raw_sign  # sent url-encoded
    payload = json.loads(request.body)
    assert payload["msgtype"] == "markdown"
    assert payload["at"] == {"atMobiles": [], "atUserIds": [], "isAtAll": False}
    assert set(payload["markdown"]) == {"title", "text"}
    assert_inert(payload["markdown"]["title"])
    assert_inert(payload["markdown"]["text"].replace("**访客到达:", "", 1))
    assert "[Open](https://gate.example.com/app/visits/42?x=%281%29)" in payload["markdown"]["text"]


async def test_dingtalk_without_a_secret_sends_no_signature(receiver: Receiver) -> None:
    url = receiver.url("/robot/send") + "?access_token=abc123"
    await send_one({"name": "ding", "format": "dingtalk", "url": url, "kinds": ["*"]}, message())
    (request,) = await receiver.wait_for(1)
    assert request.query == {"access_token": ["abc123"]}


def _walk(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


async def test_feishu_card_is_signed_in_the_body_and_shows_visitor_text_as_plain_text(receiver: Receiver) -> None:
    target = {
        "name": "飞书",
        "format": "feishu",
        "url": receiver.url("/open-apis/bot/v2/hook/x"),
        "secret": ROBOT_SECRET,
        "kinds": ["alarm.*", "visit.*"],
    }
    await send_one(target, message(alarm=True))
    (request,) = await receiver.wait_for(1)
    payload = json.loads(request.body)
    assert payload["msg_type"] == "interactive"
    assert payload["timestamp"] == str(int(NOW))  # seconds
    # Feishu's recipe: base64(HmacSHA256(key=timestamp + "\n" + secret, msg="")).
    key = f"{payload['timestamp']}\n{ROBOT_SECRET}".encode()
    assert payload["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    card = payload["card"]
    assert card["header"]["template"] == "red"  # an alarm
    nodes = _walk(card)
    texts = [n for n in nodes if "content" in n]
    assert texts and all(n["tag"] == "plain_text" for n in texts)  # never lark_md: nothing is parsed
    assert not any(n.get("tag") in ("lark_md", "markdown", "at", "a") for n in nodes)
    assert any(EVIL in n["content"] for n in texts)  # shown as typed, literally
    buttons = [n for n in nodes if n.get("tag") == "button"]
    assert [b["url"] for b in buttons] == ["https://gate.example.com/app/visits/42?x=%281%29"]


async def test_feishu_without_a_secret_has_no_sign(receiver: Receiver) -> None:
    await send_one({"name": "f", "format": "feishu", "url": receiver.url(), "kinds": ["*"]}, message())
    (request,) = await receiver.wait_for(1)
    assert "sign" not in json.loads(request.body) and "timestamp" not in json.loads(request.body)


# --------------------------------------------------------------------------- how answers fail


def answering(status: int, body: dict[str, Any] | str = "") -> Any:
    async def answer(_: Received) -> tuple[int, bytes]:
        return status, (json.dumps(body) if isinstance(body, dict) else body).encode()

    return answer


@pytest.mark.parametrize(
    ("fmt", "status", "body", "failure"),
    [
        ("generic", 500, "oops", TemporaryFailure),
        ("generic", 503, "", TemporaryFailure),
        ("generic", 429, "slow down", TemporaryFailure),
        ("generic", 400, "bad", PermanentFailure),
        ("generic", 404, "", PermanentFailure),
        ("generic", 302, "", PermanentFailure),  # a redirect is not followed
        ("wecom", 200, {"errcode": 45009, "errmsg": "api freq out of limit"}, TemporaryFailure),
        ("wecom", 200, {"errcode": 93000, "errmsg": "invalid webhook url"}, PermanentFailure),
        ("dingtalk", 200, {"errcode": 410100, "errmsg": "send too fast"}, TemporaryFailure),
        ("dingtalk", 200, {"errcode": 310000, "errmsg": "sign not match"}, PermanentFailure),
        (
            "feishu",
            200,
            {"code": 19021, "msg": "sign match fail"},
            PermanentFailure,
        ),
        ("feishu", 200, {"code": 11232, "msg": "frequency limited"}, TemporaryFailure),
        ("wecom", 200, "<html>not json</html>", TemporaryFailure),
    ],
)
async def test_the_peers_answer_decides_between_retry_and_give_up(
    fmt: str, status: int, body: dict[str, Any] | str, failure: type[Exception]
) -> None:
    async with Receiver(answering(status, body)) as receiver:
        secret = SECRET if fmt == "generic" else None
        target = {"name": "t", "format": fmt, "url": receiver.url(), "secret": secret, "kinds": ["*"]}
        with pytest.raises(failure) as raised:
            await send_one(target, message())
        assert len(receiver.received) == 1  # one request: nothing followed a redirect
    assert "127.0.0.1" not in str(raised.value)  # the URL (a robot's key) is not in the error


async def test_a_peer_that_does_not_answer_is_a_temporary_failure() -> None:
    import asyncio

    async def hang(_: Received) -> tuple[int, bytes]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with Receiver(hang) as receiver:
        target = {"name": "slow", "format": "generic", "url": receiver.url(), "secret": SECRET, "kinds": ["*"]}
        with pytest.raises(TemporaryFailure, match=r"no answer within 0\.3 s"):
            await send_one(target, message(), timeout="0.3")


async def test_an_unreachable_peer_is_a_temporary_failure() -> None:
    async with Receiver() as gone:
        url = gone.url()
    target = {"name": "gone", "format": "wecom", "url": url, "kinds": ["*"]}
    with pytest.raises(TemporaryFailure, match="unreachable"):
        await send_one(target, message())


async def test_a_target_no_longer_configured_is_a_permanent_failure() -> None:
    channel = WebhookChannel(settings({"name": "a", "format": "wecom", "url": "https://x.example", "kinds": ["*"]}))
    try:
        with pytest.raises(PermanentFailure, match="'b'"):
            await channel.send(message(), "b")
    finally:
        await channel.aclose()


# --------------------------------------------------------------------------- routing and settings


async def test_targets_take_the_kinds_and_prefixes_they_name() -> None:
    s = settings(
        {"name": "guards", "format": "wecom", "url": "https://a.example/x", "kinds": ["alarm.*", "visit.overstay"]},
        {"name": "all", "format": "feishu", "url": "https://b.example/x", "kinds": ["*"]},
        {"name": "reports", "format": "dingtalk", "url": "https://c.example/x", "kinds": ["summary.daily"]},
    )
    channel = WebhookChannel(s)
    try:
        assert channel.targets_for("alarm.door_forced") == ["guards", "all"]
        assert channel.targets_for("visit.overstay") == ["guards", "all"]
        assert channel.targets_for("summary.daily") == ["all", "reports"]
        assert channel.targets_for("summary.weekly") == ["all"]
        assert await channel.addresses_for(1) == []
    finally:
        await channel.aclose()


def one_line_error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**PUBLIC_URL, **env})
    text = str(raised.value)
    assert "\n" not in text
    return text


def hooks(*targets: dict[str, Any]) -> dict[str, str]:
    return {"GATEHOUSE_WEBHOOKS": json.dumps(list(targets), ensure_ascii=False)}


def test_bad_webhook_settings_are_one_line_start_up_errors(tmp_path: Path) -> None:
    good = {"name": "g", "format": "wecom", "url": "https://qyapi.weixin.qq.com/x?key=1", "kinds": ["alarm.*"]}
    assert one_line_error(hooks({**good, "url": "not a url"})).startswith("GATEHOUSE_WEBHOOKS target 'g': ")
    assert "is not an https:// URL" in one_line_error(hooks({**good, "url": "ftp://x.example/"}))
    assert "must be https://" in one_line_error(hooks({**good, "url": "http://robots.example.com/x"}))
    assert "unknown format 'slack'" in one_line_error(hooks({**good, "format": "slack"}))
    generic = {**good, "format": "generic"}
    assert "a generic webhook needs a secret" in one_line_error(hooks(generic))
    assert "unknown kind 'alarm.fire'" in one_line_error(hooks({**good, "kinds": ["alarm.fire"]}))
    assert "unknown kind 'vist.*'" in one_line_error(hooks({**good, "kinds": ["vist.*"]}))
    assert "kinds must be a non-empty list" in one_line_error(hooks({**good, "kinds": []}))
    assert "unknown field 'kind'" in one_line_error(hooks({**good, "kind": ["*"]}))
    assert "the name is used twice" in one_line_error(hooks(good, good))
    assert "is not JSON" in one_line_error({"GATEHOUSE_WEBHOOKS": "[{name: 1}]"})
    assert "must be a JSON list" in one_line_error({"GATEHOUSE_WEBHOOKS": "{}"})
    missing = tmp_path / "missing.json"
    assert "cannot be read" in one_line_error({"GATEHOUSE_WEBHOOKS": f"@{missing}"})
    assert "GATEHOUSE_WEBHOOK_TIMEOUT_SECONDS" in one_line_error(
        {**hooks(good), "GATEHOUSE_WEBHOOK_TIMEOUT_SECONDS": "soon"}
    )
    # From a file, and http:// only to this machine.
    path = tmp_path / "hooks.json"
    path.write_text(
        json.dumps([{**good, "url": "http://127.0.0.1:8080/x"}, {**good, "name": "v6", "url": "http://[::1]/"}])
    )
    parsed = Settings.from_env({**PUBLIC_URL, "GATEHOUSE_WEBHOOKS": f"@{path}"}).webhooks
    assert parsed is not None and [t.name for t in parsed.targets] == ["g", "v6"]
    assert Settings.from_env({}).webhooks is None


def test_the_kinds_are_the_specs() -> None:
    assert len(KINDS) == 13 and all(k.count(".") == 1 for k in KINDS)
    try:
        from resolvers.notifications import kinds  # notify-core's, once merged
    except ImportError:
        return
    names = {k for k in vars(kinds).get("KINDS", ()) if isinstance(k, str)}
    if names:
        assert names == set(KINDS)


# --------------------------------------------------------------------------- the operator's check


async def _cli(env: dict[str, str], *argv: str) -> tuple[int, str]:
    import asyncio
    import os

    from tests.harness import GATEHOUSE, PROJECT

    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    process = await asyncio.create_subprocess_exec(
        *GATEHOUSE,
        *argv,
        cwd=PROJECT,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_gatehouse_test_webhook_posts_one_signed_message_and_says_how_it_went(tmp_path: Path) -> None:
    async def refuse_second(request: Received) -> tuple[int, bytes]:
        return (
            (200, b"{}")
            if request.path == "/ok"
            else (200, b'{"errcode": 310000, "errmsg": "keywords not in content"}')
        )

    async with Receiver(refuse_second) as receiver:
        env = {
            "GATEHOUSE_DATABASE_URL": f"sqlite://{tmp_path / 'gh.sqlite3'}",
            "GATEHOUSE_KEY_FILE": str(tmp_path / "gh.key"),
            **PUBLIC_URL,
            **hooks(
                {"name": "安全组", "format": "generic", "url": receiver.url("/ok"), "secret": SECRET, "kinds": ["*"]},
                {"name": "ding", "format": "dingtalk", "url": receiver.url("/no"), "kinds": ["*"]},
            ),
        }
        code, out = await _cli(env, "test-webhook", "安全组")
        assert code == 0, out
        assert "webhook '安全组': sent" in out
        (request,) = await receiver.wait_for(1)
        import time

        body = json.loads(request.body)
        match = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", request.headers["x-gatehouse-signature"])
        assert match and abs(int(match.group(1)) - time.time()) < 120
        expected = hmac.new(SECRET.encode(), match.group(1).encode() + b"." + request.body, hashlib.sha256)
        assert hmac.compare_digest(match.group(2), expected.hexdigest())
        assert body["kind"] == "test" and "安全组" in body["text"]
        # A key beyond ASCII reaches the header percent-encoded, and decodes to the body's id.
        assert unquote(request.headers["x-gatehouse-delivery"]) == body["id"] and "安全组" in body["id"]

        code, out = await _cli(env, "test-webhook", "ding")
        assert code == 2 and "errcode 310000 keywords not in content (refused: not retried)" in out, out
        code, out = await _cli(env, "test-webhook", "nobody")
        assert code == 2 and "no webhook target named 'nobody'" in out and "安全组, ding" in out, out
