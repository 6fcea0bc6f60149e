"""What a log line is about, beyond its message: the request and the gate device it was written
for. Set by the HTTP/WebSocket middleware (api/logs.py) and the device endpoint once a device said
hello; read by the log formatters. Context variables, so every task a request or a device
connection starts carries them and no function has to pass them along."""

from __future__ import annotations

from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("gatehouse_request_id", default=None)
device_id: ContextVar[str | None] = ContextVar("gatehouse_device_id", default=None)
