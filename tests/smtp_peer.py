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


@contextlib.contextmanager
def smtp_peer() -> Iterator[tuple[Controller, Mailbox]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, box
    finally:
        controller.stop()
