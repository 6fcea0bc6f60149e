"""A real SMTP server for the notification tests (aiosmtpd on a free loopback port), keeping
what it receives, counted by Message-ID."""

from __future__ import annotations

import contextlib
import email
import email.policy
import threading
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.harness import free_port


class Mailbox:
    """An aiosmtpd handler keeping each message, counted by Message-ID."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.by_id: Counter[str] = Counter()
        self.recipients: list[list[str]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            # The tests read without the lock (this runs in aiosmtpd's thread) and wait on `messages`:
            # it grows last, so a message seen there is already counted.
            self.by_id[str(message["Message-ID"])] += 1
            self.recipients.append(list(envelope.rcpt_tos))
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


def started(handler: Any) -> Controller:
    """An SMTP peer listening on a free port. aiosmtpd needs the port before it binds, and
    another process may take one `free_port` found before the bind: such a port is replaced."""
    for attempt in range(5):
        controller = Controller(handler, hostname="127.0.0.1", port=free_port())
        try:
            controller.start()
        except OSError:  # EADDRINUSE: taken in between
            if attempt == 4:
                raise
            continue
        return controller
    raise AssertionError("unreachable")


@contextlib.contextmanager
def smtp_peer() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    controller = started(box)
    try:
        yield controller, box
    finally:
        controller.stop()
