"""WebSocket keepalive: browsers and phones on /graphql are pinged, gates are not (their heartbeats
tell), and the listening socket queues a campus's reconnections instead of dropping them.

Frames are read with websockets' sans-I/O client over a plain socket: it hands over every frame,
pings included, and answers a ping only when the test sends what it queued."""

from __future__ import annotations

import asyncio
import json
import subprocess
from dataclasses import dataclass, field

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from api.cli import LISTEN_BACKLOG
from tests.harness import Demo, ServerProcess, Site, eventually


@dataclass
class RawSocket:
    """One WebSocket, its frames as they come, pongs sent only when `answer_pings`."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: ClientProtocol
    answer_pings: bool = True
    frames: list[Frame] = field(default_factory=list)
    closed: bool = False
    _task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, subprotocol: str | None = None, answer_pings: bool = True) -> RawSocket:
        uri = parse_uri(url)
        reader, writer = await asyncio.open_connection(uri.host, uri.port)
        protocol = ClientProtocol(uri, subprotocols=[Subprotocol(subprotocol)] if subprotocol else None)
        request = protocol.connect()
        protocol.send_request(request)
        sock = cls(reader, writer, protocol, answer_pings)
        sock._flush()
        # The handshake's response first, then frames.
        while not any(isinstance(e, Response) for e in sock._read_events(await reader.read(65536))):
            assert not sock.closed, f"{url}: closed during the handshake"
        sock._task = asyncio.create_task(sock._read())
        return sock

    def _read_events(self, data: bytes) -> list[object]:
        if not data:
            self.protocol.receive_eof()
            self.closed = True
        else:
            self.protocol.receive_data(data)
        events = self.protocol.events_received()
        for event in events:
            if isinstance(event, Frame):
                self.frames.append(event)
        if self.answer_pings:
            self._flush()
        return events

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if chunk:
                self.writer.write(chunk)

    async def _read(self) -> None:
        while not self.closed:
            self._read_events(await self.reader.read(65536))

    def send_text(self, message: dict[str, object]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self._flush()

    def count(self, opcode: Opcode) -> int:
        return sum(1 for f in self.frames if f.opcode is opcode)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self.writer.close()


async def test_browsers_are_pinged_and_gates_are_not(sqlite_site: Site, demo: Demo) -> None:
    server: ServerProcess = sqlite_site.start_server(GATEHOUSE_WS_PING_SECONDS="0.2")
    gate = await RawSocket.open(server.ws + "/devices/ws")
    gate.send_text({"type": "hello", "deviceId": demo.device_id, "secret": demo.device_secret})
    browser = await RawSocket.open(server.ws + "/graphql", "graphql-transport-ws")
    browser.send_text({"type": "connection_init"})
    try:
        await eventually(lambda: any(b'"welcome"' in f.data for f in gate.frames), 10, "the gate welcomed")
        # Three pings to the browser, each answered: a second or so of the gate's connection too.
        await eventually(lambda: browser.count(Opcode.PING) >= 3, 10, "three keepalive pings on /graphql")
        assert gate.count(Opcode.PING) == 0, "a gate heartbeats: uvicorn's pings are not for it"
        assert not browser.closed and not gate.closed
    finally:
        await gate.close()
        await browser.close()


async def test_a_browser_that_does_not_answer_is_closed(sqlite_site: Site) -> None:
    server = sqlite_site.start_server(GATEHOUSE_WS_PING_SECONDS="0.2")
    silent = await RawSocket.open(server.ws + "/graphql", "graphql-transport-ws", answer_pings=False)
    silent.send_text({"type": "connection_init"})
    try:
        await eventually(lambda: silent.closed or silent.count(Opcode.CLOSE) > 0, 10, "the silent socket closed")
        assert silent.count(Opcode.PING) >= 1
    finally:
        await silent.close()


def test_the_listen_backlog_is_the_kernels_largest(server: ServerProcess) -> None:
    """A campus reconnecting at once: uvicorn's default of 2,048 waiting connections dropped the
    rest's handshakes (TCP then retries after 1, 3, 7 s...). `ss` shows a listening socket's
    backlog as its Send-Q; the kernel caps it at net.core.somaxconn."""
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
    out = subprocess.run(
        ["ss", "-Hltn", f"sport = :{server.port}"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.split()
    assert out, f"no listening socket on port {server.port}"
    assert int(out[2]) == min(LISTEN_BACKLOG, somaxconn)
