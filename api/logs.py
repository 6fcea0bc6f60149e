"""The server's logs: the application's loggers ("gatehouse.*") and uvicorn's, configured together.

One dictConfig (`config`) is applied by the CLI at start and handed to `uvicorn.run(log_config=...)`,
so every worker process applies the same one. Every line carries its time (ISO 8601 with the zone),
level, logger and message, plus the request id and the gate device it was written for when there is
one (resolvers/core/log_context.py). GATEHOUSE_LOG_FORMAT=json writes one JSON object per line for
a log shipper; names in any script and newlines in a message stay inside their line.

Nothing here runs per scan: the scan path writes no INFO lines, and the context is two context
variables read only when a line is actually written.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.core import log_context

# An incoming X-Request-Id is kept when it is short and made of characters that cannot forge a
# log line or a header (a proxy's or client's own id ties their records to ours); otherwise a new one.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
_HEADER = b"x-request-id"


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


# Control characters (a tab aside) and the characters readers take for line ends, as escapes.
_TEXT_ESCAPES = str.maketrans(
    {c: repr(c)[1:-1] for c in [*map(chr, range(32)), "\x7f", "\x85", "\u2028", "\u2029"] if c != "\t"}
)


class TextFormatter(logging.Formatter):
    """`2026-11-30T18:20:01.123+00:00 INFO gatehouse.devices [request=… device=12] message`."""

    def format(self, record: logging.LogRecord) -> str:
        context = []
        request_id = log_context.request_id.get()
        if request_id is not None:
            context.append(f"request={request_id}")
        device_id = log_context.device_id.get()
        if device_id is not None:
            context.append(f"device={device_id}")
        where = f" [{' '.join(context)}]" if context else ""
        # A newline inside a message (a name someone typed) must not forge a line of its own; a
        # traceback below the line is the one thing that spans lines.
        message = record.getMessage().rstrip("\n").translate(_TEXT_ESCAPES)
        line = f"{_time(record)} {record.levelname} {record.name}{where} {message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


# Characters JSON leaves as they are but that some readers (Python's str.splitlines, JavaScript
# before ES2019) take for line ends: escaped, so one record is always exactly one line.
_LINE_ENDS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"})


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message; request_id and device_id when
    known; exception (the traceback, as one string) when the record has one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage().rstrip("\n"),  # a warning's text ends in one
        }
        request_id = log_context.request_id.get()
        if request_id is not None:
            entry["request_id"] = request_id
        device_id = log_context.device_id.get()
        if device_id is not None:
            entry["device_id"] = device_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, ensure_ascii=False, default=str)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (undecodable bytes): \u-escaped instead
            line = json.dumps(entry, default=str)
        return line.translate(_LINE_ENDS)


class NoConnectionLines(logging.Filter):
    """Drops the INFO lines every WebSocket connection writes: uvicorn's "[accepted]" for a gate's
    and the websockets protocol's "connection open" / "connection closed" (logged through
    uvicorn's logger, with no address). A campus reconnecting after a network cut wrote 20,000 of
    them with the event loop held, and they say nothing the device's own records (last seen,
    offline alerts) do not. Refusals, errors and everything else stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        if record.msg in ("connection open", "connection closed") and not record.args:
            return False
        return not (
            record.msg == '%s - "WebSocket %s" [accepted]'
            and isinstance(record.args, tuple)
            and len(record.args) == 2
            and str(record.args[1]).startswith("/devices/ws")
        )


def config(log_format: str = "text", level: str = "info") -> dict[str, Any]:
    """The logging configuration of every server process (and of the one-shot commands)."""
    level = level.upper()
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        # Modules create their loggers at import, before this runs: they must keep working.
        "disable_existing_loggers": False,
        "filters": {"no_connection_lines": {"()": f"{__name__}.NoConnectionLines"}},
        "formatters": {"gatehouse": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "gatehouse"},
        },
        # One handler, on the root: the application's, uvicorn's and any library's lines all reach
        # it by propagation, in one format (uvicorn's own handlers are not installed).
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "gatehouse": {"level": level},
            "uvicorn": {"level": level},
            "uvicorn.error": {"level": level, "filters": ["no_connection_lines"]},
            "uvicorn.access": {"level": level},
            # The websockets library's per-connection lines under its own name (see NoConnectionLines).
            "websockets.server": {"level": "WARNING"},
            # Tortoise's start-up chatter; GATEHOUSE_SQL_LOG has its statements (api/sql_log.py).
            "tortoise": {"level": "WARNING"},
        },
    }


def configure(log_format: str = "text", level: str = "info") -> dict[str, Any]:
    """Apply `config` in this process; returns it for uvicorn.run(log_config=...)."""
    import logging.config

    logging.config.dictConfig(config(log_format, level))
    logging.captureWarnings(True)  # Python's warnings as lines of this format (they printed bare)
    return config(log_format, level)  # a fresh one: dictConfig takes parts out of the dict it reads


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            text = value.decode("latin-1")
            return text if _SAFE_REQUEST_ID.fullmatch(text) else None
    return None


class RequestIds:
    """ASGI middleware: each HTTP request and WebSocket connection gets a request id (the client's
    X-Request-Id when it is sane, else a new one) that every log line written for it carries; HTTP
    responses echo it in X-Request-Id. uvicorn runs each request and each connection in a task of
    its own, so the id set here ends with that task and needs no reset (which would also take it
    off uvicorn's own lines about the request, written after the app returns). A WebSocket's send
    is passed on untouched: the scan path's frames go through no extra layer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or secrets.token_hex(8)
        log_context.request_id.set(request_id)
        if kind == "websocket":
            await self.app(scope, receive, send)
            return
        header = (_HEADER, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        await self.app(scope, receive, send_with_id)
