"""The server's logs (issue 17): one configuration for the application's and uvicorn's loggers;
GATEHOUSE_LOG_FORMAT=json writes one JSON object per line with time, level, logger and message,
and the request id and device id on the lines written for them.

The end-to-end test reads the log of a real server (forked `gatehouse serve`, its stderr captured
by the harness) after a GraphQL request with an X-Request-Id and a gate device's connection; the
formatters' escaping is checked in-process, where any text can be put in a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from api.logs import JsonFormatter, TextFormatter, incoming_request_id
from devices.frames.budget import CLOSE_OVER_BUDGET
from resolvers.core import log_context
from tests.harness import Gate, Site, eventually


def _record(message: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("李娜\nsecond line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("gatehouse.test", logging.WARNING, __file__, 1, message, args, exc_info)


def _in_context(fn: Any, request_id: str | None, device_id: str | None) -> Any:
    def run() -> Any:
        log_context.request_id.set(request_id)
        log_context.device_id.set(device_id)
        return fn()

    return contextvars.copy_context().run(run)


def test_a_json_line_holds_any_text_on_one_line() -> None:
    hostile = 'visitor 李娜 / 張偉 / Zoë\nFAKE {"level": "ERROR"}\r\u2028\u2029\x85\x00 "quoted" \\'
    line = _in_context(lambda: JsonFormatter().format(_record("%s left", hostile, exc=True)), "req-1", "7")
    assert len(line.splitlines()) == 1 and "\n" not in line and "\u2028" not in line, line
    entry = json.loads(line)
    assert entry["message"] == f"{hostile} left"
    assert (entry["level"], entry["logger"], entry["request_id"], entry["device_id"]) == (
        "WARNING",
        "gatehouse.test",
        "req-1",
        "7",
    )
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "ValueError: 李娜\nsecond line" in entry["exception"]
    assert "李娜" in line  # names stay readable in the file, not \u-escaped
    # Without a request or device, the keys are absent rather than null.
    plain = json.loads(_in_context(lambda: JsonFormatter().format(_record("up")), None, None))
    assert set(plain) == {"time", "level", "logger", "message"}


def test_a_text_line_has_time_level_logger_and_context() -> None:
    line = _in_context(lambda: TextFormatter().format(_record("device %s said hello", "张伟")), "abc", "12")
    time_, level, logger, context, rest = line.split(" ", 4)
    assert time_.endswith("+00:00") and (level, logger) == ("WARNING", "gatehouse.test")
    assert (context, rest) == ("[request=abc", "device=12] device 张伟 said hello")
    # A newline typed into a name cannot forge a line of its own in the text format either.
    forged = TextFormatter().format(_record("visitor %s arrived", "Zoë\n2026-01-01T00:00:00+00:00 ERROR fake"))
    other_breaks = TextFormatter().format(_record("李娜\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00 end"))
    assert other_breaks.splitlines() == [other_breaks] and other_breaks.endswith(
        "李娜\\r\\x0b\\x0c\\x1c\\x1d\\x1e\\x85\\u2028\\u2029\\x00 end"
    )
    assert forged.splitlines() == [forged] and forged.endswith(
        "visitor Zoë\\n2026-01-01T00:00:00+00:00 ERROR fake arrived"
    )
    with_traceback = TextFormatter().format(_record("failed", exc=True))
    assert with_traceback.splitlines()[0].endswith("gatehouse.test failed")
    assert with_traceback.splitlines()[-2:] == ["ValueError: 李娜", "second line"]


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (b"abc-123", True),
        (b"00f1c2e3-aaaa-4bbb-8ccc-1234567890ab", True),
        (b"Root=1-5f84c7a3-2f9c;Sampled=1", False),  # ';' is not kept
        (b"x" * 128, True),
        (b"x" * 129, False),
        (b"has space", False),
        (b"line\nbreak", False),
        ("李娜".encode(), False),
        (b"", False),
        (b"-leading-dash", False),
    ],
)
def test_an_incoming_request_id_is_kept_only_when_sane(header: bytes, kept: bool) -> None:
    got = incoming_request_id({"type": "http", "headers": [(b"x-request-id", header)]})
    assert got == (header.decode("latin-1") if kept else None)


async def test_a_json_server_logs_every_line_as_json_with_request_and_device(sqlite_site: Site) -> None:
    assert sqlite_site.demo is not None
    server = sqlite_site.start_server(GATEHOUSE_LOG_FORMAT="json")
    assert server.log_path is not None
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        answer = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-Id": "ops-cli-test.1"}
        )
        assert answer.status_code == 200 and answer.headers["x-request-id"] == "ops-cli-test.1"
        fresh = await http.get("/healthz", headers={"X-Request-Id": "bad id\twith tab"})
        generated = fresh.headers["x-request-id"]
        assert generated != "bad id\twith tab" and len(generated) == 16, generated

    # The demo's gate device connects, then sends refused frames until it is cut off: a line
    # written on its connection.
    gate = await Gate(server, sqlite_site.demo.device_id, sqlite_site.demo.device_secret).connect()
    for n in range(3):  # scans write no line of their own (the scan path stays quiet)
        decision = await gate.scan(next(iter(sqlite_site.demo.gates.values())), f"GH1:not-a-token-{n}", "IN")
        assert decision["type"] == "decision" and not decision["granted"], decision
    with contextlib.suppress(ConnectionClosed):  # the server closes the link part way: the point
        for _ in range(80):
            await gate.send("not a frame")
        while True:  # its error frames, until the close
            await asyncio.wait_for(gate.ws.recv(), 10)
    assert gate.ws.close_code == CLOSE_OVER_BUDGET

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in Path(server.log_path).read_text().splitlines()]  # type: ignore[arg-type]

    def cut_off() -> bool:
        return any("over its frame budget" in e["message"] for e in lines())

    await eventually(cut_off, 10, "the device's cut-off logged")
    sqlite_site.stop()
    entries = lines()  # every line parses: json.loads raised otherwise
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
        assert entry["time"].endswith("+00:00"), entry
    by_logger = {e["logger"] for e in entries}
    assert {"uvicorn.error", "uvicorn.access"} <= by_logger, by_logger
    assert any(e["message"] == "Application startup complete." for e in entries)
    assert any(e["logger"].startswith("gatehouse") and e["level"] == "INFO" for e in entries), "application INFO"

    graphql = [e for e in entries if e["logger"] == "uvicorn.access" and "POST /graphql" in e["message"]]
    assert [e["request_id"] for e in graphql] == ["ops-cli-test.1"] and "device_id" not in graphql[0]
    health = [e for e in entries if "GET /healthz" in e["message"] and e.get("request_id") == generated]
    assert len(health) == 1, entries

    device = [e for e in entries if "device_id" in e]
    assert len(device) == 1 and "over its frame budget" in device[0]["message"], device
    assert device[0]["device_id"] == sqlite_site.demo.device_id
    assert device[0]["logger"] == "gatehouse.devices" and device[0]["level"] == "WARNING"
    # The connection's own request id, not the HTTP request's.
    assert device[0]["request_id"] not in ("ops-cli-test.1", generated), device
    # A gate's connection lines stay filtered out (api/logs.py NoConnectionLines).
    assert not any("/devices/ws" in e["message"] or e["message"].startswith("connection ") for e in entries), [
        e["message"] for e in entries
    ]
