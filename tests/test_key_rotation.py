"""Key rotation (issue 17, README "Keys"): `gatehouse rotate-key` through the CLI against a real
server and database, scans and personal-data reads flowing while it runs; then the server is
restarted with only the new key. Unit tests of the sealed-blob versions and the key ring first."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from api.demo import make_prc_id
from resolvers.core.crypto import KeyRing, Keys, KeySource, Sealer, encode_master_key, key_id
from tests.harness import (
    FORK_SERVERS,
    PROJECT,
    Gate,
    GraphQLClient,
    Phone,
    ServerProcess,
    Site,
    SiteTemplate,
    _fork_context,
    eventually,
)
from tests.server_child import run_cli

# --------------------------------------------------------------------------- sealed blobs, unit


def _v1_blob(master: bytes, plaintext: bytes, purpose: str) -> bytes:
    """A blob as sealed before blobs named their key: 0x01, nonce, ciphertext."""
    nonce = secrets.token_bytes(12)
    return b"\x01" + nonce + AESGCM(Keys.from_master(master).data).encrypt(nonce, plaintext, purpose.encode())


def test_a_v1_blob_still_opens_and_a_new_seal_is_v2_naming_its_key() -> None:
    master = secrets.token_bytes(32)
    sealer = Sealer(KeyRing([master]))
    assert sealer.open(_v1_blob(master, b"110101198001010012", "person.id_number"), "person.id_number") == (
        b"110101198001010012"
    )
    sealed = sealer.seal("张伟 +8613800000001", "person.phone")
    assert sealed[:1] == b"\x02" and Sealer.key_id_of(sealed) == key_id(master)
    assert sealer.open_text(sealed, "person.phone") == "张伟 +8613800000001"
    assert Sealer.key_id_of(_v1_blob(master, b"x", "p")) is None
    with pytest.raises(InvalidTag):  # the column is bound in: another purpose does not open it
        sealer.open(sealed, "person.id_number")
    with pytest.raises(ValueError, match="version"):
        sealer.open(b"\x03" + sealed[1:], "person.phone")


def test_during_a_rotation_both_keys_open_and_the_new_one_seals() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    before = Sealer(KeyRing([old]))
    v2_old, v1_old = before.seal("Zoë", "p"), _v1_blob(old, b"Zoe", "p")
    during = Sealer(KeyRing([new, old]))
    assert during.open_text(v2_old, "p") == "Zoë" and during.open(v1_old, "p") == b"Zoe"
    assert Sealer.key_id_of(during.seal("x", "p")) == key_id(new)
    # Look-ups find rows hashed under either key while the rows are re-keyed.
    assert before.lookup_hash("1234", "p") in during.lookup_hashes("1234", "p")
    after = Sealer(KeyRing([new]))
    with pytest.raises(ValueError, match="does not hold"):
        after.open(v2_old, "p")
    with pytest.raises(ValueError, match="no key held"):
        after.open(v1_old, "p")


def test_stable_keys_are_todays_derivation_and_do_not_follow_the_master_key() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    ring = KeyRing([new, old])
    stable = Keys.from_master(old).stable()
    ring.set_stable(stable, None)
    assert (ring.keys.label, ring.keys.device, ring.keys.jwt) == (
        Keys.from_master(old).label,
        Keys.from_master(old).device,
        Keys.from_master(new).jwt,
    )


def test_a_running_process_notices_a_new_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "gatehouse.key"
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    key_file.write_text(encode_master_key(old) + "\n")
    source = KeySource(None, key_file)
    sealer = Sealer(KeyRing.from_source(source))
    sealed_old = sealer.seal("a", "p")
    source.previous_file.write_text(encode_master_key(old) + "\n")
    tmp = tmp_path / "next"
    tmp.write_text(encode_master_key(new) + "\n")
    os.replace(tmp, key_file)
    # A blob under the new key, met before any poll: the ring reads the files again.
    from_new = Sealer(KeyRing([new])).seal("b", "p")
    assert sealer.open_text(from_new, "p") == "b"
    assert Sealer.key_id_of(sealer.seal("c", "p")) == key_id(new)
    assert sealer.open_text(sealed_old, "p") == "a"
    source.previous_file.unlink()
    assert sealer.ring.reload_if_changed() and set(sealer.ring.masters) == {key_id(new)}


def test_a_retired_jwt_key_is_accepted_for_its_grace_period_only() -> None:
    old, new = secrets.token_bytes(32), secrets.token_bytes(32)
    ring = KeyRing([new])
    now = datetime.now(UTC)
    ring.grace_jwt = {key_id(old): (Keys.from_master(old).jwt, now + timedelta(minutes=16))}
    assert ring.jwt_keys(key_id(old), now) == [Keys.from_master(old).jwt]
    assert ring.jwt_keys(key_id(old), now + timedelta(minutes=17)) == []
    assert ring.jwt_keys(key_id(new), now) == [Keys.from_master(new).jwt]
    assert ring.jwt_keys("0123456789abcdef", now) is None  # unknown: the caller may look again


# --------------------------------------------------------------------------- a site on a key file

PURPOSE_ID = "person.id_number"
PERSONAL = "query($id: ID!) { personalData(personId: $id) { idNumber phone } }"
BY_ID_NUMBER = "query($n: String!) { peopleByIdNumber(idNumber: $n) { id } }"
ME = "{ me { id } }"
BLOCK = (
    "mutation($n: String!, $r: String!) { blockVisitor(idNumber: $n, reason: $r)"
    " { entry { id } errors { code message field } } }"
)
INVITE = (
    "mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input)"
    " { visit { id inviteCode } errors { code message field } } }"
)
REGISTER = (
    "mutation($c: String!, $input: VisitorDetailsInput!) { completeVisitorRegistration(inviteCode: $c, input: $input)"
    " { visit { id } errors { code message field } } }"
)
ASSET_LABELS = "{ assets(first: 100) { edges { node { id labelCode } } } }"
SCRAP = (
    "mutation($c: String!, $r: String!) { requestScrap(labelCode: $c, reason: $r)"
    " { request { id } errors { code message field } } }"
)
PASS_TOKEN = "{ passToken { token validUntil } }"
LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p)"
    " { session { accessToken } errors { code } } }"
)
# Reasons a scan may get here that have nothing to do with keys (the same phone token twice, the
# same person twice through an IN gate).
KEYLESS_REASONS = {"ok", "replayed", "anti_passback", "anti_passback_soft"}


async def _sql(site: Site, statement: str, *args: Any) -> list[tuple[Any, ...]]:
    """A statement on the site's database, outside the server (what an older release left)."""
    url = site.database_url
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://")

        def run() -> list[tuple[Any, ...]]:
            conn = sqlite3.connect(path, timeout=10)
            try:
                rows = conn.execute(re.sub(r"\$\d+", "?", statement), args).fetchall()
                conn.commit()
                return rows
            finally:
                conn.close()

        return await asyncio.to_thread(run)
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(statement, *args)]
    finally:
        await conn.close()


@dataclass(frozen=True)
class CliResult:
    returncode: int
    output: str  # stdout and stderr together, as an operator's terminal shows them


def _cli(site: Site, *args: str, **env: str) -> CliResult:
    """`gatehouse ...` as its own process with the site's environment (and clock): forked from the
    harness's preloaded parent, as servers are (a fresh interpreter costs seconds of imports)."""
    full_env = {**site.env, **env}
    if not FORK_SERVERS:
        done = subprocess.run(
            [sys.executable, "-m", "tests.server_child", *args],
            cwd=PROJECT,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return CliResult(done.returncode, done.stdout + done.stderr)
    out = site.tmp / f"cli-{secrets.token_hex(4)}.out"
    process = _fork_context().Process(target=run_cli, args=(list(args), full_env, str(PROJECT), str(out)))
    process.start()
    process.join(120)
    assert process.exitcode is not None, "gatehouse did not finish"
    text = out.read_text()
    out.unlink()
    return CliResult(process.exitcode, text)


def _on_key_file(site: Site) -> bytes:
    """The site's master key moved from GATEHOUSE_SECRET_KEY into a key file (the default set-up),
    with key reloads looked for every 0.2 s (a test need not wait 2 s)."""
    master = base64.b64decode(site.env["GATEHOUSE_SECRET_KEY"])
    key_file = site.tmp / "keys" / "gatehouse.key"
    key_file.parent.mkdir()
    key_file.write_text(encode_master_key(master) + "\n")
    key_file.chmod(0o600)
    site.env.update(GATEHOUSE_SECRET_KEY="", GATEHOUSE_KEY_FILE=str(key_file), GATEHOUSE_KEY_RELOAD_SECONDS="0.2")
    return master


async def _as_before_migration_0020(site: Site, master: bytes, blocked_legacy: str) -> None:
    """The database as an older release left it: no stored keys yet (the first start makes them),
    a watchlist entry that kept only the hash of its number, and a v1 sealed phone number."""
    await _sql(site, 'DELETE FROM "key_material"')
    legacy_hash = Sealer(Keys.from_master(master)).lookup_hash(blocked_legacy, PURPOSE_ID)
    created: object = datetime.now(UTC)
    if site.database_url.startswith("sqlite"):
        created = datetime.now(UTC).isoformat()
    await _sql(
        site,
        'INSERT INTO "watchlist_entry" ("id_number_hash", "id_number_masked", "reason", "created_at")'
        " VALUES ($1, $2, $3, $4)",
        legacy_hash,
        "310**********" + blocked_legacy[-4:],
        "entered before 0020",
        created,
    )
    [(bob_phone,)] = await _sql(site, """SELECT "phone_enc" FROM "person" WHERE "username" = 'bob'""")
    plain = Sealer(KeyRing([master])).open(bytes(bob_phone), "person.phone")
    await _sql(
        site,
        """UPDATE "person" SET "phone_enc" = $1 WHERE "username" = 'bob'""",
        _v1_blob(master, plain, "person.phone"),
    )


class Journey:
    """What the site holds before the rotation, read back after it."""

    def __init__(self, site: Site) -> None:
        self.site = site
        assert site.demo is not None and site.ids is not None
        self.demo = site.demo
        self.ids = site.ids
        self.blocked_new = make_prc_id("310101", "19900303", f"{secrets.randbelow(900) + 100:03d}")
        self.blocked_legacy = make_prc_id("310101", "19900404", f"{secrets.randbelow(900) + 100:03d}")
        self.phone = Phone(site.clock)

    def use(self, server: ServerProcess) -> None:
        self.server = server
        self.api = GraphQLClient(server, demo=self.demo, as_="admin")

    def restart(self) -> None:
        """Every server of the site stopped, and one started with the site's environment now."""
        self.site.stop()
        self.site.servers.clear()
        self.use(self.site.start_server())

    async def sign_in_again(self, *usernames: str) -> None:
        """Fresh sessions for demo users (the template's tokens are signed with the old key)."""
        for username in usernames:
            answer = await GraphQLClient(self.server).ok(LOGIN, {"u": username, "p": self.demo.passwords[username]})
            self.demo.tokens[username] = answer["login"]["session"]["accessToken"]
        self.use(self.server)

    async def personal(self, who: str) -> dict[str, str]:
        data = await self.api.ok(PERSONAL, {"id": self.ids.people[who]})
        numbers: dict[str, str] = data["personalData"]
        return numbers

    async def labels(self) -> dict[str, str]:
        data = await self.api.ok(ASSET_LABELS, as_="amy")
        return {e["node"]["id"]: e["node"]["labelCode"] for e in data["assets"]["edges"]}

    async def visitor_refused(self, id_number: str) -> bool:
        """Whether a visitor with this ID number is turned away at registration (the watchlist)."""
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        invite = (
            await self.api.ok(
                INVITE,
                {
                    "input": {
                        "visitorName": "Blocked Bai 白",
                        "phone": "+8613900000009",
                        "purpose": "design review",
                        "expectedStart": start.isoformat(),
                        "expectedEnd": (start + timedelta(hours=1)).isoformat(),
                        "zoneIds": [self.ids.zones["Engineering office"]],
                    }
                },
                as_="alice",
            )
        )["inviteVisitor"]
        assert invite["errors"] == [], invite
        answer = (
            await GraphQLClient(self.server).ok(
                REGISTER, {"c": invite["visit"]["inviteCode"], "input": {"idNumber": id_number, "gender": "FEMALE"}}
            )
        )["completeVisitorRegistration"]
        return [(e["code"], e["field"]) for e in answer["errors"]] == [("NOT_ALLOWED", "idNumber")]

    async def pass_token(self) -> str:
        token: str = (await self.api.ok(PASS_TOKEN, as_="bob"))["passToken"]["token"]
        return token

    async def signed_in(self, token: str) -> bool:
        answer = await self.api.raw(ME, None, token)
        if answer.get("errors"):
            assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"], answer
            return False
        return answer["data"]["me"] is not None


async def _keep_scanning(journey: Journey, stop: asyncio.Event, seen: list[str]) -> None:
    """What runs while `rotate-key` does: gate scans, a gate reconnecting (its secret checked),
    personal data read (opened), a custodial pass token made (its sealed key opened)."""
    lobby_in = journey.demo.gates["Lobby turnstile in"]
    expected = await journey.personal("alice")
    while not stop.is_set():
        gate = await Gate(journey.server, journey.demo.device_id, journey.demo.device_secret).connect()
        try:
            for _ in range(3):
                reply = await gate.scan(lobby_in, journey.phone.token())
                seen.append(reply["reason"])
                assert reply["reason"] in KEYLESS_REASONS, reply
        finally:
            await gate.close()
        assert await journey.personal("alice") == expected
        assert await journey.pass_token()


def _switched_key_files(site: Site, old: bytes, new: bytes) -> None:
    """The key files as `rotate-key` leaves them once the new key is in place."""
    key_file = Path(site.env["GATEHOUSE_KEY_FILE"])
    key_file.with_name("gatehouse.key.previous").write_text(encode_master_key(old) + "\n")
    key_file.write_text(encode_master_key(new) + "\n")


def _new_key_from_file(site: Site) -> bytes:
    key_file = Path(site.env["GATEHOUSE_KEY_FILE"])
    assert not key_file.with_name("gatehouse.key.previous").exists()
    return base64.b64decode(key_file.read_text())


def _assert_key_nowhere(root: Path, master: bytes) -> None:
    """Neither the master key (raw or as written in a key file) nor its JWT key in the clear in
    any file under `root`."""
    jwt_key = Keys.from_master(master).jwt
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert master not in data and encode_master_key(master).encode() not in data, path
            assert jwt_key not in data, path


async def _rotation_journey(site: Site, env_mode: bool) -> None:
    """The whole journey with a key file (SQLite); with environment keys (PostgreSQL) the parts
    that depend on neither the database nor how the key is given are left out (traffic during
    the rotation, the grace period's end), to keep the suite fast."""
    full = not env_mode
    master = base64.b64decode(site.env["GATEHOUSE_SECRET_KEY"])
    if not env_mode:
        _on_key_file(site)
    journey = Journey(site)
    await _as_before_migration_0020(site, master, journey.blocked_legacy)
    journey.use(site.start_server())

    # Before: a watchlist entry (number sealed too), numbers, labels, a bound phone, a pass.
    block = (await journey.api.ok(BLOCK, {"n": journey.blocked_new, "r": "threatened staff"}, as_="security"))[
        "blockVisitor"
    ]
    assert block["errors"] == [], block
    alice_numbers = await journey.personal("alice")
    bob_numbers = await journey.personal("bob")  # bob's phone is a v1 blob
    labels = await journey.labels()
    await journey.phone.bind(journey.api.user("alice"))
    old_token = journey.demo.tokens["admin"]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    assert old_kid == key_id(master)
    assert await journey.pass_token()

    if env_mode:
        # Step 1 of the procedure with GATEHOUSE_SECRET_KEY: a rolling restart gives the servers
        # the new key, and the old one as the previous.
        new_master = secrets.token_bytes(32)
        site.env["GATEHOUSE_SECRET_KEY"] = encode_master_key(new_master)
        site.env["GATEHOUSE_PREVIOUS_SECRET_KEY"] = encode_master_key(master)
        journey.restart()
        assert await journey.signed_in(old_token)

    # The rotation, with scans flowing.
    if full:
        stop = asyncio.Event()
        seen: list[str] = []
        traffic = asyncio.create_task(_keep_scanning(journey, stop, seen))
        await eventually(lambda: len(seen) >= 3 or traffic.done(), 20, "scans before the rotation")
        scans_before = len(seen)
        result = await asyncio.to_thread(_cli, site, "rotate-key")
        await eventually(lambda: len(seen) >= scans_before + 3 or traffic.done(), 20, "scans after the rotation")
        stop.set()
        await traffic  # raises what went wrong (a scan refused for a key reason, a read failing)
    else:
        result = await asyncio.to_thread(_cli, site, "rotate-key")
    assert result.returncode == 0, result.output
    out = result.output
    if env_mode:
        assert "rotation finished" in out, out
        assert "without GATEHOUSE_PREVIOUS_SECRET_KEY" in out, out
    else:
        assert "rotation started and finished" in out, out
        assert "previous key file was removed" in out, out
        new_master = _new_key_from_file(site)
    new_kid = key_id(new_master)
    assert f"{old_kid} -> {new_kid}" in out, out
    assert "1 watchlist entry from before migration 0020" in out and journey.blocked_legacy[-4:] in out, out

    # Running again finds nothing left to do (the command is safe to repeat).
    if env_mode:
        again = await asyncio.to_thread(_cli, site, "rotate-key")
        assert again.returncode == 0 and "re-sealed 0 value(s)" in again.output, again.output

    # After: the numbers read back, look-ups and the watchlist match, labels verify.
    assert await journey.personal("alice") == alice_numbers
    assert await journey.personal("bob") == bob_numbers
    found = (await journey.api.ok(BY_ID_NUMBER, {"n": alice_numbers["idNumber"]}))["peopleByIdNumber"]
    assert [p["id"] for p in found] == [journey.ids.people["alice"]]
    assert await journey.visitor_refused(journey.blocked_new)
    assert await journey.visitor_refused(journey.blocked_legacy)
    assert await journey.labels() == labels
    if full:
        assert not await journey.visitor_refused(make_prc_id("310101", "19910505", "777"))
        code = next(iter(labels.values()))
        scrap = (await journey.api.ok(SCRAP, {"c": code, "r": "hinge broken"}, as_="alice"))["requestScrap"]
        assert scrap["errors"] == [], scrap
    # Every sealed value is under the new key, and its hash is the new key's.
    for table, column in (("person", "id_number_enc"), ("person", "phone_enc"), ("watchlist_entry", "id_number_enc")):
        rows = await _sql(site, f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
        assert rows and {Sealer.key_id_of(bytes(r[0])) for r in rows} == {new_kid}, table
    assert await _sql(site, 'SELECT DISTINCT "master_id" FROM "key_material"') == [(new_kid,)]

    # JWT: the old token works within the grace period; a new one carries the new kid.
    assert await journey.signed_in(old_token)
    if full:
        await journey.sign_in_again("admin", "alice", "bob")
        new_token = journey.demo.tokens["bob"]
        assert jwt.get_unverified_header(new_token)["kid"] == new_kid
        site.clock.advance(16 * 60 + 5)  # past the grace period (access-token lifetime + 1 minute)
        await eventually(lambda: _refused(journey, old_token), 10, "the old kid refused after the grace period")
        assert await journey.signed_in(new_token)

    # A restart with only the new key: the gate reconnects with its same secret, the phone scans.
    if env_mode:
        site.env.pop("GATEHOUSE_PREVIOUS_SECRET_KEY")
    journey.restart()
    gate = await Gate(journey.server, journey.demo.device_id, journey.demo.device_secret).connect()
    try:
        reply = await gate.scan(journey.demo.gates["Lobby turnstile out"], journey.phone.token())
        assert reply["reason"] in KEYLESS_REASONS and reply["granted"], reply
    finally:
        await gate.close()
    assert await journey.pass_token()
    assert await journey.personal("alice") == alice_numbers
    assert await journey.visitor_refused(journey.blocked_legacy)

    # The old key appears nowhere: not in any file of the site (the database and its write-ahead
    # log, the key files, the logs).
    _assert_key_nowhere(site.tmp, master)


async def _refused(journey: Journey, token: str) -> bool:
    return not await journey.signed_in(token)


@pytest.fixture
def key_site(tmp_path: Path, demo_template: SiteTemplate) -> Iterator[Site]:
    site = demo_template.sqlite_copy(tmp_path)
    try:
        yield site
    finally:
        site.let_go()


async def test_rotate_key_with_a_key_file_on_sqlite_while_gates_scan(key_site: Site) -> None:
    await _rotation_journey(key_site, env_mode=False)


async def test_rotate_key_with_environment_keys_on_postgres(postgres_site: Site) -> None:
    await _rotation_journey(postgres_site, env_mode=True)


async def test_rotate_key_refuses_bad_keys_in_one_line_and_changes_nothing(key_site: Site) -> None:
    kid = key_id(base64.b64decode(key_site.env["GATEHOUSE_SECRET_KEY"]))
    stored = await _sql(key_site, 'SELECT "name", "master_id", "wrapped" FROM "key_material" ORDER BY "name"')
    assert {row[1] for row in stored} == {kid}
    for env, why in (
        ({"GATEHOUSE_PREVIOUS_SECRET_KEY": "not base64!"}, "GATEHOUSE_PREVIOUS_SECRET_KEY must be 32 bytes"),
        ({"GATEHOUSE_PREVIOUS_SECRET_KEY": key_site.env["GATEHOUSE_SECRET_KEY"]}, "is the same key"),
        (
            {"GATEHOUSE_SECRET_KEY": "", "GATEHOUSE_PREVIOUS_SECRET_KEY": encode_master_key(secrets.token_bytes(32))},
            "goes with GATEHOUSE_SECRET_KEY",
        ),
    ):
        result = _cli(key_site, "rotate-key", **env)
        assert result.returncode == 2, result
        assert result.output.count("\n") == 1 and why in result.output, result.output
    # A key that is not the site's: the stored keys do not open with it.
    wrong = _cli(key_site, "rotate-key", GATEHOUSE_SECRET_KEY=encode_master_key(secrets.token_bytes(32)))
    assert wrong.returncode == 2 and "not the key given" in wrong.output and wrong.output.count("\n") == 1, wrong
    # `serve` with that key stops before it listens, in one line too (not a traceback per worker).
    wrong = _cli(key_site, "serve", "--port", "9", GATEHOUSE_SECRET_KEY=encode_master_key(secrets.token_bytes(32)))
    lines = [line for line in wrong.output.splitlines() if line.startswith("gatehouse:") or "Traceback" in line]
    assert wrong.returncode == 2 and len(lines) == 1 and "not the key given" in lines[0], wrong
    help_text = _cli(key_site, "rotate-key", "--help")
    assert help_text.returncode == 0 and "re-seals every" in help_text.output
    assert await _sql(key_site, 'SELECT "name", "master_id", "wrapped" FROM "key_material" ORDER BY "name"') == stored
    # Upgrading a database from before migration 0020 with the wrong key: refused before any key
    # is derived from it and stored.
    await _sql(key_site, 'DELETE FROM "key_material"')
    wrong = _cli(key_site, "rotate-key", GATEHOUSE_SECRET_KEY=encode_master_key(secrets.token_bytes(32)))
    assert wrong.returncode == 2 and "does not open the personal data" in wrong.output, wrong
    assert await _sql(key_site, 'SELECT "name" FROM "key_material"') == []


async def test_an_interrupted_rotation_is_finished_by_running_the_command_again(key_site: Site) -> None:
    """The command stopped right after putting the new key in place (the old one in `.previous`,
    nothing re-sealed yet): running it again finishes that rotation instead of starting another."""
    master = _on_key_file(key_site)
    new = secrets.token_bytes(32)
    _switched_key_files(key_site, master, new)
    result = await asyncio.to_thread(_cli, key_site, "rotate-key")
    assert result.returncode == 0, result.output
    assert f"rotation finished: master key {key_id(master)} -> {key_id(new)}" in result.output, result.output
    assert "started" not in result.output and "previous key file was removed" in result.output, result.output
    assert _new_key_from_file(key_site) == new
    rows = await _sql(key_site, 'SELECT "id_number_enc" FROM "person" WHERE "id_number_enc" IS NOT NULL')
    assert rows and {Sealer.key_id_of(bytes(r[0])) for r in rows} == {key_id(new)}
    assert await _sql(key_site, 'SELECT DISTINCT "master_id" FROM "key_material"') == [(key_id(new),)]
