"""The SMS gateway channel (issue 16): the body template filled for its content type against a
real local HTTP receiver, so a visitor's quotes, line breaks, & and = stay inside their field;
headers with the gateway's token; 2xx is sent and the rest fails as it should; the person's
phone opened from the database with the project's keys; bad templates refused at start."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from resolvers.core.models import Person
from resolvers.core.settings import Settings, SettingsError
from resolvers.notifications.channels.base import Message, PermanentFailure, TemporaryFailure
from resolvers.notifications.channels.sms import MAX_CHARS, PHONE, SmsChannel, build
from resolvers.runtime import Runtime
from tests.dialects import database_param, run_on
from tests.http_receiver import Received, Receiver

TRICKY = '張偉 and Zoë said "hi", then\nline two & a=b&phone=+1999 \\ }{"x": 1}'

# Any channel needs the base of its links (GATEHOUSE_PUBLIC_URL).
PUBLIC_URL = {"GATEHOUSE_PUBLIC_URL": "https://gate.example.com"}


def message(**kw: Any) -> Message:
    base: dict[str, Any] = {
        "kind": "visit.invitation",
        "key": "n-7:sms:+8613800001111",
        "subject": "访客邀请 / Invitation",
        "text": TRICKY,
    }
    base.update(kw)
    return Message(**base)


def sms_settings(receiver: Receiver, **env: str) -> Settings:
    return Settings.from_env({**PUBLIC_URL, "GATEHOUSE_SMS_URL": receiver.url("/sms/send?account=gh"), **env})


async def send(settings: Settings, msg: Message, phone: str = "+86 138-0000-1111") -> None:
    assert settings.sms is not None
    channel = SmsChannel(settings.sms)
    try:
        assert await channel.send(msg, phone) is None
    finally:
        await channel.aclose()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


async def test_json_template_keeps_each_value_inside_its_string(receiver: Receiver) -> None:
    template = '{"to": "{phone}", "content": "【门禁】{text}", "ref": "{key}", "meta": {"title": "{subject}"}}'
    settings = sms_settings(
        receiver,
        GATEHOUSE_SMS_BODY=template,
        GATEHOUSE_SMS_HEADERS='{"Authorization": "Bearer {token}", "X-Site": "gate-east"}',
        GATEHOUSE_SMS_TOKEN="tok-123",
    )
    msg = message(link="https://gate.example.com/v/abc")
    await send(settings, msg)
    (request,) = await receiver.wait_for(1)
    assert request.method == "POST" and request.target == "/sms/send?account=gh"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["authorization"] == "Bearer tok-123"
    assert request.headers["x-site"] == "gate-east"
    body = json.loads(request.body)
    assert body == {
        "to": "+86 138-0000-1111",
        "content": f"【门禁】访客邀请 / Invitation\n{TRICKY}\nhttps://gate.example.com/v/abc",
        "ref": "n-7:sms:+8613800001111",
        "meta": {"title": "访客邀请 / Invitation"},
    }  # no field added by the text, the quotes and braces came through as text


async def test_form_template_encodes_each_value_as_one_field(receiver: Receiver, tmp_path: Path) -> None:
    token_file = tmp_path / "sms.token"
    token_file.write_text("s3cr&t=1\n")
    settings = sms_settings(
        receiver,
        GATEHOUSE_SMS_CONTENT_TYPE="form",
        GATEHOUSE_SMS_BODY="mobile={phone}&msg={text}&sign={token}&id={key}",
        GATEHOUSE_SMS_TOKEN_FILE=str(token_file),
    )
    await send(settings, message(), phone="+8613800001111")
    (request,) = await receiver.wait_for(1)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded; charset=utf-8"
    fields = parse_qs(request.body.decode(), keep_blank_values=True, strict_parsing=True)
    assert fields == {
        "mobile": ["+8613800001111"],
        "msg": [f"访客邀请 / Invitation\n{TRICKY}"],
        "sign": ["s3cr&t=1"],
        "id": ["n-7:sms:+8613800001111"],
    }  # a single "phone" and no "a": the visitor's & and = did not add fields


async def test_get_sends_the_form_as_the_query_string(receiver: Receiver) -> None:
    settings = sms_settings(receiver, GATEHOUSE_SMS_METHOD="GET", GATEHOUSE_SMS_CONTENT_TYPE="form")
    await send(settings, message(text="Zoë & 張偉"))
    (request,) = await receiver.wait_for(1)
    assert request.method == "GET" and request.body == b""
    assert request.query == {
        "account": ["gh"],
        "phone": ["+86 138-0000-1111"],
        "text": ["访客邀请 / Invitation\nZoë & 張偉"],
        "id": ["n-7:sms:+8613800001111"],
    }


async def test_the_text_is_cut_to_a_sane_length(receiver: Receiver) -> None:
    await send(sms_settings(receiver), message(text="很长" * 1000))
    (request,) = await receiver.wait_for(1)
    text = json.loads(request.body)["text"]
    assert len(text) == MAX_CHARS and text.endswith("…")


def answering(status: int) -> Any:
    async def answer(_: Received) -> tuple[int, bytes]:
        return status, b'{"error": "x"}'

    return answer


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, None), (202, None), (500, TemporaryFailure), (429, TemporaryFailure), (400, PermanentFailure)],
)
async def test_2xx_is_sent_and_the_rest_fails_as_it_should(status: int, outcome: type[Exception] | None) -> None:
    async with Receiver(answering(status)) as receiver:
        if outcome is None:
            await send(sms_settings(receiver), message())
        else:
            with pytest.raises(outcome):
                await send(sms_settings(receiver), message())
        assert len(receiver.received) == 1


def answering_body(body: str) -> Any:
    async def answer(_: Received) -> tuple[int, bytes]:
        return 200, body.encode()

    return answer


ALIYUN_SENT = r'"Code"\s*:\s*"OK"'


async def test_a_200_whose_body_says_it_failed_is_retried_not_counted_sent() -> None:
    """Aliyun's answer to a send over its daily limit is HTTP 200 with an error code."""
    refused = '{"Message": "触发天级流控Permits:10", "RequestId": "F6", "Code": "isv.BUSINESS_LIMIT_CONTROL"}'
    async with Receiver(answering_body(refused)) as receiver:
        with pytest.raises(TemporaryFailure) as failed:
            await send(sms_settings(receiver, GATEHOUSE_SMS_SENT_MATCH=ALIYUN_SENT), message())
        assert "isv.BUSINESS_LIMIT_CONTROL" in str(failed.value) and "SENT_MATCH" in str(failed.value)
        # Without the setting any 2xx still counts as sent.
        await send(sms_settings(receiver), message())
        assert len(receiver.received) == 2
    sent = '{"Message": "OK", "RequestId": "F7", "BizId": "9006", "Code": "OK"}'
    async with Receiver(answering_body(sent)) as receiver:
        await send(sms_settings(receiver, GATEHOUSE_SMS_SENT_MATCH=ALIYUN_SENT), message())
        assert len(receiver.received) == 1


async def test_a_phone_with_a_line_break_is_refused_before_sending(receiver: Receiver) -> None:
    with pytest.raises(PermanentFailure):
        await send(sms_settings(receiver), message(), phone="+86138\r\nX-Evil: 1")
    assert receiver.received == []


def one_line_error(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**PUBLIC_URL, **env})
    assert "\n" not in str(raised.value)
    return str(raised.value)


def test_bad_sms_settings_are_one_line_start_up_errors() -> None:
    url = {"GATEHOUSE_SMS_URL": "https://sms.example.com/send"}
    assert one_line_error({"GATEHOUSE_SMS_URL": "sms.example.com"}).startswith("GATEHOUSE_SMS_URL")
    assert one_line_error({"GATEHOUSE_SMS_URL": "http://sms.example.com/"}).startswith("GATEHOUSE_SMS_URL")
    outside = one_line_error({**url, "GATEHOUSE_SMS_BODY": '{"to": {phone}, "text": "{text}"}'})
    assert outside.startswith("GATEHOUSE_SMS_BODY is not a JSON template")
    assert "unknown placeholder {name}" in one_line_error({**url, "GATEHOUSE_SMS_BODY": '{"t": "{text}{name}{phone}"}'})
    assert "must hold {phone} and {text}" in one_line_error({**url, "GATEHOUSE_SMS_BODY": '{"t": "{text}"}'})
    assert "GATEHOUSE_SMS_TOKEN" in one_line_error({**url, "GATEHOUSE_SMS_HEADERS": '{"X-Key": "{token}"}'})
    assert one_line_error({**url, "GATEHOUSE_SMS_HEADERS": '{"Bad Name": "x"}'}).startswith("GATEHOUSE_SMS_HEADERS")
    assert "ASCII" in one_line_error({**url, "GATEHOUSE_SMS_HEADERS": '{"X-Site": "东门"}'})
    assert one_line_error({**url, "GATEHOUSE_SMS_METHOD": "DELETE"}).startswith("GATEHOUSE_SMS_METHOD")
    assert one_line_error({**url, "GATEHOUSE_SMS_METHOD": "GET"}).startswith("GATEHOUSE_SMS_METHOD=GET")
    assert one_line_error({**url, "GATEHOUSE_SMS_CONTENT_TYPE": "xml"}).startswith("GATEHOUSE_SMS_CONTENT_TYPE")
    assert one_line_error({**url, "GATEHOUSE_SMS_TOKEN": "a\nb"}).startswith("GATEHOUSE_SMS_TOKEN")
    assert one_line_error({**url, "GATEHOUSE_SMS_SENT_MATCH": '"Code": ("OK"'}).startswith("GATEHOUSE_SMS_SENT_MATCH")
    assert one_line_error({**url, "GATEHOUSE_SMS_SENT_MATCH": "x" * 501}).startswith("GATEHOUSE_SMS_SENT_MATCH")
    assert Settings.from_env({}).sms is None


# --------------------------------------------------------------------------- the person's phone


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_param(request, tmp_path)


async def test_addresses_for_opens_the_persons_sealed_phone(database: str) -> None:
    await run_on(database, _addresses_check)


async def _addresses_check() -> None:
    """On a migrated database (SQLite here, PostgreSQL in a child: tests/dialects.py)."""
    from resolvers.people import people

    key = base64.b64encode(secrets.token_bytes(32)).decode()
    rt = Runtime.create(
        Settings.from_env(
            {**PUBLIC_URL, **{"GATEHOUSE_SECRET_KEY": key, "GATEHOUSE_SMS_URL": "https://sms.example.com/send"}}
        )
    )
    assert PHONE == people.PHONE  # the purpose the phone is sealed under
    sealed = rt.sealer.seal("+86 13800001111", PHONE)
    zhang = await Person.create(display_name="張偉", roles=["EMPLOYEE"], phone_enc=sealed)
    zoe = await Person.create(display_name="Zoë", roles=["EMPLOYEE"])
    channel = build(rt)
    assert channel is not None
    try:
        assert await channel.addresses_for(zhang.id) == ["+86 13800001111"]
        assert await channel.addresses_for(zoe.id) == []
        assert await channel.addresses_for(zhang.id + zoe.id + 100) == []
        assert channel.targets_for("visit.arrival") == []
        # Sealed for another purpose (a wrong column): not opened, no SMS, no crash.
        await Person.filter(id=zoe.id).update(phone_enc=rt.sealer.seal("+1 555", "visit.phone"))
        assert await channel.addresses_for(zoe.id) == []
    finally:
        await channel.aclose()
