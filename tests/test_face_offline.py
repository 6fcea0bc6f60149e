"""Offline face terminals (issue 15): templates in the signed snapshot, encrypted to the key the
terminal sent in `hello`, and face decisions uploaded like QR ones.

One server for the module on a SQLite copy of the demo site, started with
GATEHOUSE_FACE_OFFLINE_MAX=1 so the limit shows once a second person is enrolled. The demo device
(it serves every demo gate) connects as an offline face terminal: a small client here does what
firmware would, with `cryptography` (verify the Ed25519 signature, X25519 + HKDF + AES-GCM open).
Tests run in order: Alice enrolled first, Bob later, then both withdrawn.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from gatehouse_gate.agent import GateAgent, make_door

from devices.frames.incoming import INCOMING
from devices.frames.outgoing import OUTGOING
from tests import face_samples as fs
from tests.harness import Gate, ServerProcess, Site, SiteTemplate, World, connected
from tests.test_device_frames import assert_fits

pytestmark = pytest.mark.usefixtures("faces_installed")

REMOVE = "mutation($id: ID!) { removeFace(personId: $id) { face { enrolled } errors { code message } } }"
WITHDRAW = "mutation { withdrawFaceConsent { face { enrolled } errors { code message } } }"
OUT = "Lobby turnstile out"


def raw_key(private: X25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


class OfflineFaceGate(Gate):
    firmware = "test-offline-face-1.0"
    capabilities: tuple[str, ...] = ("offline", "face")

    def __init__(self, *args: Any, face_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.face_key = face_key
        self.raw_frames: list[str] = []

    async def connect(self) -> Any:
        # As the harness's Gate, with `faceKey` in hello.
        import websockets

        self.ws = await websockets.connect(self.server.ws + "/devices/ws", max_size=None)
        hello: dict[str, Any] = {
            "type": "hello",
            "deviceId": self.device_id,
            "secret": self.secret,
            "firmware": self.firmware,
            "capabilities": list(self.capabilities),
        }
        if self.face_key is not None:
            hello["faceKey"] = self.face_key
            assert_fits(hello, INCOMING)
        await self.ws.send(json.dumps(hello))
        self.welcome = await self.recv()
        assert self.welcome["type"] == "welcome", self.welcome
        return self

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        import asyncio

        text = await asyncio.wait_for(self.ws.recv(), timeout)
        self.raw_frames.append(text)
        frame: dict[str, Any] = json.loads(text)
        assert_fits(frame, OUTGOING)  # every frame as published (mobile_contracts/device/)
        return frame

    async def snapshot_where(self, holds: Callable[[dict[str, Any]], bool], timeout: float = 30) -> dict[str, Any]:
        """The first snapshot from now on for which `holds` is true: a snapshot already on its way
        (pushed for an earlier change) may come first."""
        deadline = time.monotonic() + timeout
        while True:
            snapshot = await self.snapshot(max(0.01, deadline - time.monotonic()))
            if holds(snapshot):
                return snapshot

    async def snapshot(self, timeout: float = 10) -> dict[str, Any]:
        """The next snapshot, its signature verified with the welcome's key (as firmware must)."""
        frame = await self.recv_type("snapshot", timeout)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(self.welcome["snapshotKey"]))
        public.verify(base64.b64decode(frame["signature"]), canonical(frame["snapshot"]))
        snapshot: dict[str, Any] = frame["snapshot"]
        return snapshot


def canonical(snapshot: dict[str, Any]) -> bytes:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def plain_of(private: X25519PrivateKey, snapshot: dict[str, Any]) -> bytes:
    """What a terminal does, written here from the README's description rather than the server's code."""
    block = snapshot["faceTemplates"]
    ephemeral = base64.b64decode(block["ephemeralKey"])
    shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + raw_key(private), info=b"gatehouse face templates v1"
    ).derive(shared)
    aad = (
        f"gatehouse-face-templates|device={snapshot['deviceId']}|version={snapshot['version']}"
        f"|issuedAt={snapshot['issuedAt']}"
    ).encode()
    return AESGCM(key).decrypt(base64.b64decode(block["nonce"]), base64.b64decode(block["ciphertext"]), aad)


def opened(private: X25519PrivateKey, snapshot: dict[str, Any]) -> dict[int, dict[str, Any]]:
    people = json.loads(plain_of(private, snapshot))["people"]
    assert len(people) == snapshot["faceTemplates"]["count"]
    return {int(p["personId"]): p for p in people}


def template(person: dict[str, Any]) -> np.ndarray[Any, Any]:
    return np.frombuffer(base64.b64decode(person["template"]), dtype="<f4")


@pytest.fixture(scope="module")
def faces_installed() -> None:
    fs.require_faces()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_template: SiteTemplate) -> Iterator[Site]:
    fs.require_faces()
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("face-offline"))
    site.env["GATEHOUSE_FACE_OFFLINE_MAX"] = "1"
    site.start_server()
    try:
        yield site
    finally:
        site.let_go()


@pytest.fixture(scope="module")
def server(site: Site) -> ServerProcess:
    return site.servers[0]


@pytest.fixture
async def world(site: Site, server: ServerProcess) -> AsyncIterator[World]:
    world = World(site, server)
    yield world
    await world.close()


def terminal(world: World, key: X25519PrivateKey | str | None, capabilities: tuple[str, ...] | None = None) -> Gate:
    face_key = base64.b64encode(raw_key(key)).decode() if isinstance(key, X25519PrivateKey) else key
    gate = OfflineFaceGate(world.server, world.demo.device_id, world.demo.device_secret, face_key=face_key)
    if capabilities is not None:
        gate.capabilities = capabilities
    return gate


async def test_the_block_opens_with_the_terminals_key_to_exactly_its_templates_and_never_in_clear(
    world: World,
) -> None:
    photo = fs.jpeg(fs.astronaut())
    await fs.enrol(world, "alice", photo)
    alice = int(world.ids.people["alice"])
    mine, other = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    gate = terminal(world, mine)
    async with connected(gate):
        snapshot = await gate.snapshot()
        block = snapshot["faceTemplates"]
        assert block["algorithm"] == "X25519-HKDF-SHA256-AES-256-GCM" and block["count"] == 1
        people = opened(mine, snapshot)
        assert set(people) == {alice}
        assert people[alice]["name"] == "Alice Li" and people[alice]["access"], people[alice]["access"]
        assert json.loads(plain_of(mine, snapshot))["matchDistance"] == 0.45
        # Alice's grants name gates of this device, as a pass's access does.
        served = {g["id"] for g in snapshot["gates"]}
        assert all(set(a["gateIds"]) <= served for a in people[alice]["access"])
        alice_template = template(people[alice])
        assert alice_template.shape == (128,)
        assert np.linalg.norm(alice_template - np.asarray(fs.embedding(photo))) < 0.01
        # Another key, or the block bound to another issue or device, does not open.
        with pytest.raises(InvalidTag):
            opened(other, snapshot)
        with pytest.raises(InvalidTag):
            opened(mine, {**snapshot, "issuedAt": "2026-01-01T00:00:00+00:00"})
        with pytest.raises(InvalidTag):
            opened(mine, {**snapshot, "deviceId": "999"})
        # Neither the template's float32 nor float64 bytes, raw or base64, appear in what was sent.
        sent = "".join(gate.raw_frames).encode()
        ciphertext = base64.b64decode(block["ciphertext"])
        for clear in (alice_template.tobytes(), np.asarray(alice_template, dtype="<f8").tobytes()):
            for needle in (clear[:32], base64.b64encode(clear)[:32]):
                assert needle not in sent and needle not in ciphertext


async def test_no_templates_without_the_key_or_the_capabilities(world: World) -> None:
    key = X25519PrivateKey.generate()
    for gate in (
        terminal(world, None),  # offline + face, no key
        terminal(world, key, ("offline",)),  # a key, but not a face terminal
    ):
        async with connected(gate):
            snapshot = await gate.snapshot()
            assert "faceTemplates" not in snapshot
            assert "faceTemplates" not in "".join(gate.raw_frames)
    # A face terminal that does not decide offline gets no snapshot at all.
    online = terminal(world, key, ("face",))
    async with connected(online):
        # A snapshot would come straight after welcome, before the answer to any frame sent now.
        await online.send({"type": "hello", "deviceId": world.demo.device_id, "secret": world.demo.device_secret})
        assert (await online.recv_type("error"))["code"] == "bad_message"
        assert [f["type"] for f in online.pending] == []


@pytest.mark.parametrize(
    "bad",
    ["not base64!", base64.b64encode(b"k" * 31).decode(), base64.b64encode(b"k" * 33).decode()],
)
async def test_a_bad_face_key_is_a_bad_message_and_sends_no_templates(world: World, bad: Any) -> None:
    gate = terminal(world, bad)
    async with connected(gate):
        error = await gate.recv_type("error")
        assert error["code"] == "bad_message" and "faceKey" in error["message"], error
        snapshot = await gate.snapshot()
        assert "faceTemplates" not in snapshot


def face_event(seq: int, gate_id: str, at: str, person: str, distance: float, **extra: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "gateId": gate_id,
        "at": at,
        "credential": "",
        "granted": True,
        "reason": "ok",
        "direction": "OUT",
        "method": "FACE",
        "personId": person,
        "distance": distance,
        **extra,
    }


async def test_offline_face_decisions_upload_and_are_stored_once_with_method_face(site: Site, world: World) -> None:
    alice = world.ids.people["alice"]
    gate = terminal(world, X25519PrivateKey.generate())
    async with connected(gate):
        snapshot = await gate.snapshot()
        await gate.send({"type": "snapshot_ack", "issuedAt": snapshot["issuedAt"]})
        at = snapshot["issuedAt"]
        events = [
            face_event(9001, world.gate(OUT), at, alice, 0.21, liveness=True),
            # The terminal's figures are held to the server's rules: too far, or a failed liveness.
            face_event(9002, world.gate(OUT), at, alice, 0.58),
            face_event(9003, world.gate(OUT), at, alice, 0.2, liveness=False),
        ]
        for attempt in range(2):
            await gate.send({"type": "events", "ref": f"up-{attempt}", "events": events})
            ack = await gate.recv_type("events_ack")
            assert (ack["stored"], ack["duplicates"]) == ((3, 0) if attempt == 0 else (0, 3)), ack
        # Frames the contract cannot read: refused whole, nothing stored.
        for bad in (
            {**events[0], "seq": 9010, "method": "IRIS"},
            {**events[0], "seq": 9011, "personId": None},
            {**events[0], "seq": 9012, "distance": "near"},
        ):
            bad = {k: v for k, v in bad.items() if v is not None}
            await gate.send({"type": "events", "ref": "bad", "events": [bad]})
            error = await gate.recv_type("error")
            assert error["code"] == "bad_message" and error["ref"] == "bad", error
    stored = fs.rows(
        site,
        "SELECT device_seq, method, reason, decision, person_id, match_distance, liveness, offline FROM gate_event"
        " WHERE device_seq >= 9001 ORDER BY device_seq",
    )
    assert [tuple(r[:5]) for r in stored] == [
        (9001, "FACE", "ok", "GRANTED", int(alice)),
        (9002, "FACE", "face_unknown", "DENIED", None),
        (9003, "FACE", "liveness_failed", "DENIED", None),
    ]
    assert stored[0][5] == pytest.approx(0.21) and stored[0][6] == 1 and all(r[7] for r in stored)


async def test_the_reference_agent_opens_its_block_decides_a_face_offline_and_uploads_it(
    site: Site, world: World, tmp_path: Path
) -> None:
    agent = GateAgent(
        world.server.ws, world.demo.device_id, world.demo.device_secret, tmp_path / "gate", make_door("log"), faces=True
    )
    key_file = tmp_path / "gate" / "face.key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_bytes()) == 32
    link = asyncio.create_task(agent.run_link())
    try:
        deadline = time.monotonic() + 10
        while not agent.face_people:  # the snapshot, verified and opened
            assert time.monotonic() < deadline, "the agent opened no face templates"
            await asyncio.sleep(0.02)
        assert [p["personId"] for p in agent.face_people] == [world.ids.people["alice"]]
        alice_face = list(fs.embedding(fs.variants(fs.astronaut())["jpeg60"]))
        assert await agent.face_offline(world.gate(OUT), alice_face, liveness=True) == (True, "ok", True)
        grace = list(fs.embedding(fs.jpeg(fs.grace())))  # nobody enrolled her yet
        assert await agent.face_offline(world.gate(OUT), grace) == (False, "face_unknown", True)
        deadline = time.monotonic() + 10
        while agent.buffer.events:  # uploaded and acknowledged
            assert time.monotonic() < deadline, "the agent's face events were not acknowledged"
            await asyncio.sleep(0.02)
    finally:
        agent.stopping = True
        link.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await link
    stored = fs.rows(
        site,
        "SELECT method, reason, person_id, liveness, offline FROM gate_event"
        " WHERE device_seq IS NOT NULL AND device_seq < 9000 ORDER BY id",
    )
    assert stored == [("FACE", "ok", int(world.ids.people["alice"]), 1, 1), ("FACE", "face_unknown", None, None, 1)]


async def test_template_changes_resend_the_snapshot_and_the_limit_omits_the_block(world: World) -> None:
    alice, bob = int(world.ids.people["alice"]), int(world.ids.people["bob"])
    key = X25519PrivateKey.generate()
    gate = terminal(world, key)
    async with connected(gate):
        first = await gate.snapshot()
        assert set(opened(key, first)) == {alice}
        # A second template the terminal may match: over GATEHOUSE_FACE_OFFLINE_MAX=1, none are sent.
        await fs.enrol(world, "bob", fs.jpeg(fs.grace()))
        over = await gate.snapshot_where(lambda s: "omitted" in s["faceTemplates"])
        assert over["faceTemplates"] == {"omitted": "over_limit", "count": 2, "limit": 1}
        # Alice withdraws: a new snapshot without her template.
        answer = await world.api.ok(WITHDRAW, as_="alice")
        assert answer["withdrawFaceConsent"]["errors"] == []
        after = await gate.snapshot_where(lambda s: "omitted" not in s["faceTemplates"])
        assert after["issuedAt"] != first["issuedAt"] and set(opened(key, after)) == {bob}
        removed = await world.api.ok(REMOVE, {"id": str(bob)}, as_="hr")
        assert removed["removeFace"]["errors"] == []
        empty = await gate.snapshot_where(lambda s: s["faceTemplates"].get("count") == 0)
        assert empty["faceTemplates"]["count"] == 0 and opened(key, empty) == {}
