"""Faces at the gate (issue 15; DEVICE_PROTOCOL.md "Faces"): a face terminal on the device
WebSocket, real photos (tests/face_samples.py), the same policy as a pass, two factors, liveness,
bad frames, and a server without face recognition.

One server for the module on a SQLite copy of the demo site; the demo device (it serves every demo
gate) connects as a face terminal. Astronaut is enrolled as Alice (Engineering), Grace Hopper later
as Bob (Finance). Leaving through "Lobby turnstile out" is always allowed, so it shows recognition
alone; the Engineering door (BOTH) shows the policy and two factors.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import face_samples as fs
from tests.harness import REDIS_URL, Gate, ServerProcess, Site, SiteTemplate, World, connected

pytestmark = pytest.mark.usefixtures("faces_installed")

FACE_AND_PASS = (
    "mutation($z: ID!, $r: Boolean!) { setZoneFaceAndPass(zoneId: $z, required: $r)"
    " { zone { id faceAndPass } errors { code message } } }"
)
OUT = "Lobby turnstile out"
ENG = "Engineering door"


class FaceGate(Gate):
    firmware = "test-face-1.0"
    capabilities = ("face",)
    n = 0

    async def face(self, gate_id: str, **fields: Any) -> dict[str, Any]:
        """A face frame; the decision with its ref (or the error frame about it)."""
        FaceGate.n += 1
        ref = f"face-{FaceGate.n}"
        await self.send({"type": "face", "ref": ref, "gateId": gate_id, **fields})
        return await self.answer(ref)

    async def answer(self, ref: str) -> dict[str, Any]:
        while True:
            # A server's first photo starts its reading process and loads the models, at a lower CPU
            # priority than the gates (README "Faces"): on a loaded machine that takes a while.
            frame = await self.recv(timeout=60)
            if frame.get("ref") == ref and frame["type"] in ("decision", "error"):
                return frame


@pytest.fixture(scope="module")
def faces_installed() -> None:
    fs.require_faces()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_template: SiteTemplate) -> Iterator[Site]:
    fs.require_faces()
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("face-gate"))
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


def last_face_event(site: Site) -> tuple[Any, ...]:
    return fs.rows(
        site,
        "SELECT reason, decision, person_id, match_distance, liveness, method FROM gate_event"
        " WHERE method = 'FACE' ORDER BY id DESC LIMIT 1",
    )[0]


async def test_the_enrolled_face_is_recognised_through_changes_and_the_other_is_refused(
    site: Site, world: World
) -> None:
    await fs.enrol(world, "alice", fs.jpeg(fs.astronaut()))
    alice = int(world.ids.people["alice"])
    async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
        for name, photo in fs.variants(fs.astronaut()).items():
            reply = await gate.face(world.gate(OUT), image=fs.b64(photo))
            assert reply["granted"] is True and reply["reason"] == "ok", (name, reply)
            assert reply["person"] == {"displayName": "Alice Li"}
            assert set(reply) == {"type", "ref", "granted", "reason", "person", "open"}  # no distance
            reason, decision, person, distance, liveness, method = last_face_event(site)
            assert (reason, decision, person, method, liveness) == ("ok", "GRANTED", alice, "FACE", None)
            assert 0 < distance < 0.3, (name, distance)
        # Nobody enrolled Grace Hopper yet: refused, and the event names nobody.
        for photo in (fs.jpeg(fs.grace()), fs.variants(fs.grace())["flip"]):
            reply = await gate.face(world.gate(OUT), image=fs.b64(photo))
            assert (reply["granted"], reply["reason"]) == (False, "face_unknown") and "person" not in reply
            reason, _, person, distance, _, _ = last_face_event(site)
            assert (reason, person) == ("face_unknown", None) and distance > 0.6


async def test_each_of_two_enrolled_people_is_recognised_by_image_and_by_embedding(world: World) -> None:
    await fs.enrol(world, "bob", fs.jpeg(fs.grace()))
    people = {"Alice Li": fs.astronaut(), "Bob Wang": fs.grace()}
    async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
        for name, pixels in people.items():
            for variant, photo in fs.variants(pixels).items():
                by_image = await gate.face(world.gate(OUT), image=fs.b64(photo))
                by_embedding = await gate.face(world.gate(OUT), embedding=list(fs.embedding(photo)), liveness=True)
                for reply in (by_image, by_embedding):
                    assert reply["granted"] and reply["person"] == {"displayName": name}, (name, variant, reply)


async def test_the_policy_of_a_pass_applies_to_a_face(site: Site, world: World) -> None:
    """Bob (Finance) has no grant for the Engineering office: his face is refused there as his pass is."""
    async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
        reply = await gate.face(world.gate(ENG), image=fs.b64(fs.jpeg(fs.grace())), direction="IN")
        assert (reply["granted"], reply["reason"]) == (False, "no_access")
        assert last_face_event(site)[:3] == ("no_access", "DENIED", int(world.ids.people["bob"]))
        # QR keeps working beside faces.
        token = await (await world.pass_of("carol")).fresh()
        scan = await gate.scan(world.gate(ENG), token, direction="IN")
        assert scan["granted"] is True and scan["reason"] == "ok"


async def test_liveness_false_is_refused_and_a_missing_verdict_is_recorded_as_such(site: Site, world: World) -> None:
    embedding = list(fs.embedding(fs.jpeg(fs.astronaut())))
    async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
        refused = await gate.face(world.gate(OUT), embedding=embedding, liveness=False)
        assert (refused["granted"], refused["reason"]) == (False, "liveness_failed")
        assert last_face_event(site)[:5] == ("liveness_failed", "DENIED", None, None, 0)
        checked = await gate.face(world.gate(OUT), embedding=embedding, liveness=True)
        assert checked["granted"] and last_face_event(site)[4] == 1
        unchecked = await gate.face(world.gate(OUT), embedding=embedding)
        assert unchecked["granted"] and last_face_event(site)[4] is None
        # The device's retry of that frame (same ref, same face) is answered again, not decided again.
        events = fs.rows(site, "SELECT count(*) FROM gate_event")
        await gate.send({"type": "face", "ref": unchecked["ref"], "gateId": world.gate(OUT), "embedding": embedding})
        assert await gate.answer(unchecked["ref"]) == unchecked
        assert fs.rows(site, "SELECT count(*) FROM gate_event") == events


async def test_a_face_and_pass_zone_needs_both_from_the_same_person_within_30_seconds(site: Site, world: World) -> None:
    zone = world.ids.zones["Engineering office"]
    set_zone = await world.api.ok(FACE_AND_PASS, {"z": zone, "r": True}, as_="security")
    assert set_zone["setZoneFaceAndPass"]["zone"]["faceAndPass"] is True
    alice_face = fs.b64(fs.variants(fs.astronaut())["jpeg60"])
    alice_pass = await world.pass_of("alice")
    eng = world.gate(ENG)
    try:
        async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
            # A face alone: nothing opens, the pass is asked for.
            first = await gate.face(eng, image=alice_face, direction="IN")
            assert (first["granted"], first["reason"], first["next"]) == (False, "second_factor", "scan")
            assert "open" not in first
            done = await gate.scan(eng, await alice_pass.fresh(), direction="IN")
            assert (done["granted"], done["reason"]) == (True, "ok") and "next" not in done
            # The pass first, then the face.
            first = await gate.scan(eng, await alice_pass.fresh(), direction="IN")
            assert (first["granted"], first["reason"], first.get("next")) == (False, "second_factor", "face"), first
            done = await gate.face(eng, image=alice_face, direction="IN")
            assert (done["granted"], done["reason"]) == (True, "ok")
            # Another person's face in between cancels the waiting face.
            await gate.face(eng, image=alice_face, direction="IN")
            other = await gate.face(eng, image=fs.b64(fs.jpeg(fs.grace())), direction="IN")
            assert other["reason"] == "no_access"
            again = await gate.scan(eng, await alice_pass.fresh(), direction="IN")
            assert (again["granted"], again["reason"], again["next"]) == (False, "second_factor", "face")
            # ...and a first factor waits 30 s, no longer (the pass above waits now).
            site.clock.advance(31)
            late = await gate.face(eng, image=alice_face, direction="IN")
            assert (late["granted"], late["reason"], late["next"]) == (False, "second_factor", "scan")
            # Leaving never waits for a second factor.
            out = await gate.face(eng, image=alice_face, direction="OUT")
            assert out["granted"] is True
    finally:
        await world.api.ok(FACE_AND_PASS, {"z": zone, "r": False}, as_="security")


async def test_bad_face_frames_get_bad_message_and_no_decision(site: Site, world: World) -> None:
    embedding = list(fs.embedding(fs.jpeg(fs.astronaut())))
    image = fs.b64(fs.jpeg(fs.astronaut()))
    out = world.gate(OUT)
    before = fs.rows(site, "SELECT count(*) FROM gate_event")
    # A device whose hello did not declare "face": both kinds of face frame are refused.
    async with connected(Gate(world.server, world.demo.device_id, world.demo.device_secret)) as plain:
        for fields in ({"image": image}, {"embedding": embedding}):
            await plain.send({"type": "face", "ref": "plain-1", "gateId": out, **fields})
            reply = await plain.recv()
            assert (reply["type"], reply["code"], reply["ref"]) == ("error", "bad_message", "plain-1"), reply
    async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
        bad: list[dict[str, Any]] = [
            {"image": image, "embedding": embedding},
            {},
            {"embedding": embedding[:127]},
            {"embedding": [*embedding, 0.1]},
            {"embedding": [*embedding[:127], "0.1"]},
            {"embedding": embedding, "liveness": "yes"},
            {"embedding": embedding, "liveness": None},
            {"image": fs.b64(b"\xff\xd8" + b"\0" * (512 * 1024))},
            {"image": "not base64!"},
        ]
        for fields in bad:
            reply = await gate.face(out, **fields)
            assert (reply["type"], reply["code"]) == ("error", "bad_message"), (fields.keys(), reply)
        # NaN is not a finite number (Python's json reads it; the contract refuses it).
        raw = json.dumps({"type": "face", "ref": "nan-1", "gateId": out, "embedding": [float("nan"), *embedding[1:]]})
        await gate.send(raw)
        reply = await gate.answer("nan-1")
        assert (reply["type"], reply["code"]) == ("error", "bad_message")
        assert fs.rows(site, "SELECT count(*) FROM gate_event") == before
        # A JPEG that decodes but shows no face, or two, or a picture that is no JPEG: face_bad_image.
        for photo in (fs.jpeg(fs.astronaut()[:, :120].copy()), fs.two_faces(), fs.png(fs.astronaut()[:160].copy())):
            reply = await gate.face(out, image=fs.b64(photo))
            assert (reply["type"], reply["granted"], reply["reason"]) == ("decision", False, "face_bad_image")


async def test_face_recognitions_feed_the_device_health_figures(site: Site, world: World) -> None:
    [(attempts, successes)] = fs.rows(
        site,
        "SELECT sum(recognition_attempts), sum(recognition_successes) FROM device_health_sample WHERE device_id = ?",
        int(world.demo.device_id),
    )
    assert attempts > successes > 0  # face_unknown and face_bad_image above were attempts too


async def test_a_server_without_face_recognition_refuses_faces_and_keeps_passes(site: Site, world: World) -> None:
    off = site.start_server(GATEHOUSE_FACES="off")
    plain_world = World(site, off)
    try:
        async with connected(FaceGate(off, world.demo.device_id, world.demo.device_secret)) as gate:
            reply = await gate.face(world.gate(OUT), image=fs.b64(fs.jpeg(fs.astronaut())))
            assert (reply["granted"], reply["reason"]) == (False, "face_unavailable")
            token = await (await plain_world.pass_of("carol")).fresh()
            scan = await gate.scan(world.gate(OUT), token)
            assert scan["granted"] is True
        version = "2026-11-v1"
        answer = await plain_world.api.ok(
            fs.ENROL, {"id": world.ids.people["zoe"], "p": fs.b64(fs.jpeg(fs.astronaut())), "v": version}, as_="hr"
        )
        [error] = answer["enrolFace"]["errors"]
        assert error["code"] == "UNAVAILABLE" and "GATEHOUSE_FACES=off" in error["message"]
    finally:
        off.stop(wait=False)


async def test_a_template_enrolled_on_one_worker_is_matched_at_once_on_another(
    tmp_path: Path, demo_template: SiteTemplate, require_redis: None
) -> None:
    """Two server processes on one database and Redis: the second's matrix is dropped by the
    faces_changed message, not by any timer."""
    site = demo_template.sqlite_copy(tmp_path, REDIS_URL)
    try:
        first, second = site.start_server(), site.start_server()
        at_first, at_second = World(site, first), World(site, second)
        gate = FaceGate(second, site.demo.device_id, site.demo.device_secret) if site.demo else None
        assert gate is not None
        photo = fs.b64(fs.jpeg(fs.astronaut()))
        async with connected(gate):
            before = await gate.face(at_second.gate(OUT), image=photo)
            assert before["reason"] == "face_unknown"  # the second worker has read its (empty) matrix
            await fs.enrol(at_first, "alice", fs.jpeg(fs.astronaut()))
            after = await gate.face(at_second.gate(OUT), image=photo)
            assert (after["granted"], after["person"]) == (True, {"displayName": "Alice Li"}), after
    finally:
        site.let_go()


async def test_a_terminal_sending_faces_faster_than_people_show_them_is_answered_unavailable(world: World) -> None:
    """Past its face budget (devices/frames/budget.py) a terminal's faces are refused undecided, at
    once; the connection stays and its passes are decided as ever."""
    from devices.frames.budget import FACE_EMBEDDINGS_BURST

    unknown = [0.05] * 128  # nobody's face: each decided one is face_unknown
    async with connected(FaceGate(world.server, world.demo.device_id, world.demo.device_secret)) as gate:
        refs = [f"burst-{i}" for i in range(int(FACE_EMBEDDINGS_BURST) + 10)]
        for ref in refs:  # all at once, without waiting for answers
            await gate.send({"type": "face", "ref": ref, "gateId": world.gate(OUT), "embedding": unknown})
        by_ref: dict[str, dict[str, Any]] = {}
        while len(by_ref) < len(refs):  # the undecided answers come first, out of order
            frame = await gate.recv()
            if frame.get("type") == "decision" and frame.get("ref") in refs:
                by_ref[frame["ref"]] = frame
        answers = [by_ref[ref] for ref in refs]
        reasons = [a["reason"] for a in answers]
        assert reasons.count("unavailable") >= 5 and "face_unknown" in reasons, reasons
        assert all(a["granted"] is False for a in answers)
        token = await (await world.pass_of("carol")).fresh()
        scan = await gate.scan(world.gate(ENG), token, direction="IN")
        assert scan["granted"] is True, scan
