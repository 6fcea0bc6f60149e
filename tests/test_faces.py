"""Face enrolment (issue 15): separate consent, refusals, deletion, nothing in clear at rest.

One server for the module on a SQLite copy of the demo site; the database file is read directly to
check what is (and is not) stored. Photos are real ones shipped inside packages (tests/face_samples.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.exceptions import InvalidTag

from api.demo import make_prc_id
from resolvers.faces.matcher import Gallery
from resolvers.faces.templates import embedding_bytes, open_sealed, seal
from tests import face_samples as fs
from tests.harness import GraphQLClient, ServerProcess, Site, SiteTemplate

pytestmark = pytest.mark.usefixtures("faces_installed")

STATUS = "enrolled consentVersion consentedAt"
ENROL_MINE = (
    "mutation($p: String!, $v: String!) { enrolMyFace(photo: $p, consentVersion: $v)"
    f" {{ face {{ {STATUS} }} errors {{ code message field }} }} }}"
)
ENROL = (
    "mutation($id: ID!, $p: String!, $v: String!) { enrolFace(personId: $id, photo: $p, consentVersion: $v)"
    f" {{ face {{ {STATUS} }} errors {{ code message field }} }} }}"
)
WITHDRAW = f"mutation {{ withdrawFaceConsent {{ face {{ {STATUS} }} errors {{ code message field }} }} }}"
MY_FACE = f"{{ myFace {{ {STATUS} }} }}"


@pytest.fixture(scope="module")
def faces_installed() -> None:
    fs.require_faces()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, demo_template: SiteTemplate) -> Iterator[Site]:
    fs.require_faces()
    site = demo_template.sqlite_copy(tmp_path_factory.mktemp("faces"))
    # The upkeep round (which deletes the face passes of visits that ended unnoticed) every second.
    site.start_server(GATEHOUSE_UPKEEP_SECONDS="1")
    try:
        yield site
    finally:
        site.let_go()


@pytest.fixture(scope="module")
def server(site: Site) -> ServerProcess:
    return site.servers[0]


@pytest.fixture
def api(site: Site, server: ServerProcess) -> GraphQLClient:
    return GraphQLClient(server, demo=site.demo)


def rows(site: Site, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    path = site.database_url.split("sqlite://", 1)[1]
    with sqlite3.connect(path) as db:
        return db.execute(sql, args).fetchall()


def database_bytes(site: Site) -> bytes:
    """The database file and its write-ahead log, as a copy of the disk would hold them."""
    path = Path(site.database_url.split("sqlite://", 1)[1])
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def person_id(site: Site, username: str) -> int:
    return int(rows(site, "SELECT id FROM person WHERE username = ?", username)[0][0])


async def current_version(api: GraphQLClient) -> str:
    data = await api.ok('{ faceConsent(language: "en") { version text } }', as_="alice")
    return str(data["faceConsent"]["version"])


async def test_consent_text_in_both_languages(api: GraphQLClient) -> None:
    zh = (await api.ok('{ faceConsent(language: "zh-CN") { version text } }', as_="lina"))["faceConsent"]
    en = (await api.ok('{ faceConsent(language: "en") { version text } }', as_="lina"))["faceConsent"]
    assert zh["version"] == en["version"]
    assert "敏感个人信息" in zh["text"] and "withdraw" in en["text"]
    other = (await api.ok('{ faceConsent(language: "fr") { version text } }', as_="lina"))["faceConsent"]
    assert other == en  # a language the text is not written in gets English


async def test_enrol_self_records_consent_and_keeps_only_a_sealed_template(site: Site, api: GraphQLClient) -> None:
    version = await current_version(api)
    photo = fs.jpeg(fs.astronaut())
    answer = (await api.ok(ENROL_MINE, {"p": fs.b64(photo), "v": version}, as_="alice"))["enrolMyFace"]
    assert answer["errors"] == [] and answer["face"]["enrolled"] is True
    assert answer["face"]["consentVersion"] == version
    assert (await api.ok(MY_FACE, as_="alice"))["myFace"]["enrolled"] is True
    alice = person_id(site, "alice")
    consents = rows(
        site, "SELECT text_version, given_via, given_by_id, withdrawn_at FROM face_consent WHERE person_id = ?", alice
    )
    assert consents == [(version, "SELF", None, None)]
    ((sealed, photo_kept),) = rows(site, "SELECT sealed, photo_sealed FROM face_template WHERE person_id = ?", alice)
    assert photo_kept is None  # GATEHOUSE_FACE_KEEP_PHOTO is off
    # A dump shows no template in clear: neither the float64 nor a float32 form of the embedding.
    vector = np.asarray(fs.embedding(photo))
    dump = await asyncio.to_thread(database_bytes, site)
    for form in (vector.astype("<f8").tobytes(), vector.astype("<f4").tobytes()):
        assert form[:32] not in bytes(sealed)
        assert form[:32] not in dump
    assert len(sealed) == 12 + 128 * 8 + 16  # nonce, the float64 vector, the GCM tag


async def test_hr_enrols_at_onboarding_attesting_consent(site: Site, api: GraphQLClient) -> None:
    version = await current_version(api)
    bob = person_id(site, "bob")
    answer = await api.ok(ENROL, {"id": str(bob), "p": fs.b64(fs.jpeg(fs.grace())), "v": version}, as_="hr")
    assert answer["enrolFace"]["errors"] == [] and answer["enrolFace"]["face"]["enrolled"] is True
    hr = person_id(site, "hr")
    assert rows(site, "SELECT given_via, given_by_id FROM face_consent WHERE person_id = ?", bob) == [("HR", hr)]
    # Only HR and ADMIN may enrol someone else.
    refused = await api(ENROL, {"id": str(bob), "p": "x", "v": version}, as_="alice")
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(
    ("photo", "field", "words"),
    [
        (lambda: fs.b64(fs.no_face()), "photo", "no face"),
        (lambda: fs.b64(fs.two_faces()), "photo", "more than one face"),
        (lambda: fs.b64(b"GIF89a not really a picture"), "photo", "not a JPEG or PNG"),
        (lambda: fs.b64(b"\xff" * (512 * 1024 + 1)), "photo", "larger than 512 KiB"),
        (lambda: "not base64!", "photo", "base64"),
    ],
    ids=["no-face", "two-faces", "not-an-image", "too-large", "not-base64"],
)
async def test_bad_photos_are_refused_with_a_reason_and_nothing_is_kept(
    site: Site, api: GraphQLClient, photo: Any, field: str, words: str
) -> None:
    version = await current_version(api)
    before = rows(site, "SELECT count(*) FROM face_consent WHERE person_id = ?", person_id(site, "zoe"))
    answer = (await api.ok(ENROL_MINE, {"p": photo(), "v": version}, as_="zoe"))["enrolMyFace"]
    assert answer["face"] is None
    [error] = answer["errors"]
    assert error["field"] == field and words in error["message"], error
    assert rows(site, "SELECT count(*) FROM face_consent WHERE person_id = ?", person_id(site, "zoe")) == before
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", person_id(site, "zoe")) == [(0,)]


async def test_unknown_consent_version_is_refused(site: Site, api: GraphQLClient) -> None:
    answer = await api.ok(ENROL_MINE, {"p": fs.b64(fs.jpeg(fs.astronaut())), "v": "1999-v0"}, as_="zoe")
    [error] = answer["enrolMyFace"]["errors"]
    assert error["field"] == "consentVersion"


async def test_withdrawal_deletes_the_template_at_once_and_keeps_the_consent_history(
    site: Site, api: GraphQLClient
) -> None:
    version = await current_version(api)
    lina = person_id(site, "lina")
    enrolled = await api.ok(ENROL_MINE, {"p": fs.b64(fs.jpeg(fs.astronaut(), 80)), "v": version}, as_="lina")
    assert enrolled["enrolMyFace"]["errors"] == []
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", lina) == [(1,)]
    answer = (await api.ok(WITHDRAW, as_="lina"))["withdrawFaceConsent"]
    assert answer["face"] == {"enrolled": False, "consentVersion": None, "consentedAt": None}
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", lina) == [(0,)]
    [(given_via, withdrawn_at)] = rows(
        site, "SELECT given_via, withdrawn_at FROM face_consent WHERE person_id = ?", lina
    )
    assert given_via == "SELF" and withdrawn_at is not None
    assert (await api.ok(MY_FACE, as_="lina"))["myFace"]["enrolled"] is False


async def test_offboarding_deletes_the_template(site: Site, api: GraphQLClient) -> None:
    version = await current_version(api)
    dave = person_id(site, "dave")
    answer = await api.ok(ENROL, {"id": str(dave), "p": fs.b64(fs.jpeg(fs.grace(), 70)), "v": version}, as_="hr")
    assert answer["enrolFace"]["errors"] == []
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", dave) == [(1,)]
    off = await api.ok(
        "mutation($id: ID!) { offboardEmployee(id: $id) { errors { code } } }", {"id": str(dave)}, as_="hr"
    )
    assert off["offboardEmployee"]["errors"] == []
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", dave) == [(0,)]
    assert rows(site, "SELECT withdrawn_at IS NOT NULL FROM face_consent WHERE person_id = ?", dave) == [(1,)]


async def test_hr_removes_a_face(site: Site, api: GraphQLClient) -> None:
    version = await current_version(api)
    amy = person_id(site, "amy")
    await api.ok(ENROL, {"id": str(amy), "p": fs.b64(fs.jpeg(fs.grace(), 75)), "v": version}, as_="hr")
    answer = await api.ok(
        "mutation($id: ID!) { removeFace(personId: $id) { face { enrolled } errors { code } } }",
        {"id": str(amy)},
        as_="hr",
    )
    assert answer["removeFace"] == {"face": {"enrolled": False}, "errors": []}
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", amy) == [(0,)]


async def registered_visitor(site: Site, api: GraphQLClient, phone: str, serial: str) -> tuple[int, GraphQLClient]:
    """A visit Alice invites, the visitor registered: the visit's id and the visitor's session."""
    assert site.ids is not None
    start = datetime.now(UTC).replace(microsecond=0)
    invite = await api.ok(
        "mutation($i: InviteVisitorInput!) { inviteVisitor(input: $i) { visit { id inviteCode } errors { code } } }",
        {
            "i": {
                "visitorName": "Zoë Visitor",
                "phone": phone,
                "purpose": "face pass",
                "expectedStart": start.isoformat(),
                "expectedEnd": (start + timedelta(hours=2)).isoformat(),
                "zoneIds": [site.ids.zones["Engineering office"]],
            }
        },
        as_="alice",
    )
    visit = invite["inviteVisitor"]["visit"]
    registered = await api.ok(
        "mutation($c: String!, $i: VisitorDetailsInput!) { completeVisitorRegistration(inviteCode: $c, input: $i)"
        " { session { accessToken } errors { code message } } }",
        {"c": visit["inviteCode"], "i": {"idNumber": make_prc_id("310101", "19910303", serial), "gender": "FEMALE"}},
    )
    assert registered["completeVisitorRegistration"]["errors"] == [], registered
    return int(visit["id"]), api.user(registered["completeVisitorRegistration"]["session"]["accessToken"])


async def test_a_visitor_enrols_from_their_session_and_the_end_of_the_visit_deletes_it(
    site: Site, api: GraphQLClient
) -> None:
    visit_id, visitor = await registered_visitor(site, api, "+8613900000077", "771")
    version = await current_version(api)
    enrolled = await visitor.ok(ENROL_MINE, {"p": fs.b64(fs.jpeg(fs.grace(), 85)), "v": version})
    assert enrolled["enrolMyFace"]["errors"] == [] and enrolled["enrolMyFace"]["face"]["enrolled"] is True
    [(visitor_id,)] = rows(site, "SELECT visitor_id FROM visit WHERE id = ?", visit_id)
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", visitor_id) == [(1,)]
    ended = await api.ok(
        "mutation($id: ID!) { endVisit(id: $id) { errors { code } } }", {"id": str(visit_id)}, as_="alice"
    )
    assert ended["endVisit"]["errors"] == []
    assert rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", visitor_id) == [(0,)]
    assert rows(site, "SELECT withdrawn_at IS NOT NULL FROM face_consent WHERE person_id = ?", visitor_id) == [(1,)]


async def test_a_visit_that_ended_by_itself_loses_its_face_pass_in_the_upkeep_round(
    site: Site, api: GraphQLClient
) -> None:
    visit_id, visitor = await registered_visitor(site, api, "+8613900000078", "772")
    version = await current_version(api)
    enrolled = await visitor.ok(ENROL_MINE, {"p": fs.b64(fs.jpeg(fs.grace(), 80)), "v": version})
    assert enrolled["enrolMyFace"]["errors"] == []
    [(visitor_id,)] = rows(site, "SELECT visitor_id FROM visit WHERE id = ?", visit_id)
    # As an expiry would leave it (no check-out, no end, nobody told the faces).
    rows(site, "UPDATE visit SET status = 'EXPIRED' WHERE id = ?", visit_id)
    deadline = asyncio.get_running_loop().time() + 10
    while rows(site, "SELECT count(*) FROM face_template WHERE person_id = ?", visitor_id) != [(0,)]:
        assert asyncio.get_running_loop().time() < deadline, "the upkeep round kept the template"
        await asyncio.sleep(0.1)


def test_matching_refuses_two_different_people_who_are_both_close() -> None:
    base = np.zeros(128)
    base[0] = 1.0
    near = base.copy()
    near[1] = 0.3  # 0.3 from base
    gallery = Gallery.of({1: base, 2: near})
    probe = base.copy()
    probe[1] = 0.15  # 0.15 from each: either could be the one shown
    assert gallery.match(probe, 0.45).problem == "ambiguous"
    assert gallery.match(base, 0.45).person_id == 1  # 0 and 0.3 apart: clearly person 1
    far = base.copy()
    far[2] = 0.7
    assert gallery.match(far, 0.45).problem == "unknown"


def test_a_sealed_template_opens_only_on_its_own_row_person_and_column() -> None:
    key = bytes(range(32))
    data = embedding_bytes(tuple(float(i) / 128 for i in range(128)))
    sealed = seal(key, 7, 3, data)
    assert open_sealed(key, 7, 3, sealed) == data
    for row, person, column in ((8, 3, "sealed"), (7, 4, "sealed"), (7, 3, "photo_sealed")):
        with pytest.raises(InvalidTag):
            open_sealed(key, row, person, sealed, column)
