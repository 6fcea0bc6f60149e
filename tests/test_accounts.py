"""Accounts and sessions (issue 11, items 7–10 and 16), through the public interface of a real
server: logout, password change, issued passwords, refresh-token reuse, sign-in delays that
expire (per account and per address, the same for unknown names), the CLI's unlock and
reset-password, GUARD only from ADMIN, and private database files.

Where a test needs time to pass (an issued password 7 days old, a delay that has run out) it
moves the stored instant back in the database instead of waiting.
"""

from __future__ import annotations

import sqlite3
import stat
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from api.demo import make_prc_id
from tests.harness import Demo, GraphQLClient, ServerProcess, Site

LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) {
    session { accessToken refreshToken mustChangePassword } errors { code field } } }"""
REFRESH = """mutation($t: String!) {
  refreshSession(refreshToken: $t) { session { accessToken refreshToken mustChangePassword } errors { code } } }"""
ME = "{ me { username mustChangePassword } }"
LOGOUT = "mutation { logout { sessionsEnded errors { code } } }"
LOGOUT_ALL = "mutation { logoutEverywhere { sessionsEnded errors { code } } }"
CHANGE = """mutation($c: String!, $n: String!) {
  changePassword(currentPassword: $c, newPassword: $n) {
    person { username mustChangePassword } errors { code field } } }"""
ONBOARD = """mutation($input: OnboardEmployeeInput!) {
  onboardEmployee(input: $input) {
    employee { id username mustChangePassword } initialPassword errors { code field } } }"""
OFFBOARD = "mutation($id: ID!) { offboardEmployee(id: $id) { employee { status } errors { code } } }"
UNLOCK = "mutation($id: ID!) { unlockAccount(personId: $id) { person { username } errors { code } } }"
DEPARTMENTS = "{ departments { id name } }"
PEOPLE = "{ people(first: 100) { edges { node { id username } } } }"


async def post(
    server: ServerProcess,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
    address: str = "127.0.0.1",
) -> dict[str, Any]:
    """One request from a chosen loopback source address (the server sees it as the client's)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(timeout=30, transport=transport) as client:
        r = await client.post(
            server.http + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
    assert r.status_code in (200, 400), (r.status_code, r.text)
    body: dict[str, Any] = r.json()
    return body


def codes(answer: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in answer.get("errors") or []]


async def login(server: ServerProcess, username: str, password: str, address: str = "127.0.0.1") -> dict[str, Any]:
    answer = await post(server, LOGIN, {"u": username, "p": password}, address=address)
    if answer.get("errors"):
        return answer
    payload: dict[str, Any] = answer["data"]["login"]
    return payload


async def session_of(server: ServerProcess, username: str, password: str) -> dict[str, Any]:
    payload = await login(server, username, password)
    assert payload.get("errors") == [], payload
    session: dict[str, Any] = payload["session"]
    return session


def db(site: Site) -> sqlite3.Connection:
    return sqlite3.connect(site.env["GATEHOUSE_DATABASE_URL"].removeprefix("sqlite://"), timeout=10)


def stored_instant(when: datetime) -> str:
    """The text Tortoise writes for a UTC instant in SQLite."""
    return when.astimezone(UTC).isoformat(" ")


async def ids_of(api: GraphQLClient, admin: str) -> tuple[dict[str, str], dict[str, str]]:
    departments = {d["name"]: d["id"] for d in (await api.ok(DEPARTMENTS, token=admin))["departments"]}
    people = {e["node"]["username"]: e["node"]["id"] for e in (await api.ok(PEOPLE, token=admin))["people"]["edges"]}
    return departments, people


def onboard_input(department_id: str, username: str, roles: list[str], n: int) -> dict[str, Any]:
    return {
        "displayName": f"New {username}",
        "idNumber": make_prc_id("310104", f"19{70 + n}0202", f"{500 + n:03d}"),
        "phone": f"+86139000000{n:02d}",
        "departmentId": department_id,
        "position": "Staff",
        "username": username,
        "roles": roles,
    }


# =========================================================================== item 8: sessions


async def test_logout_ends_this_session_and_logout_everywhere_ends_them_all(server: ServerProcess, demo: Demo) -> None:
    password = demo.passwords["alice"]
    # The demo template may hold sessions of its own (the test harness signs everyone in once):
    # end them first, so the counts below are this test's sessions alone.
    zero = await session_of(server, "alice", password)
    assert (await post(server, LOGOUT_ALL, token=zero["accessToken"]))["data"]["logoutEverywhere"]["errors"] == []
    one, two, three = [await session_of(server, "alice", password) for _ in range(3)]

    assert codes(await post(server, LOGOUT)) == ["UNAUTHENTICATED"]
    ended = (await post(server, LOGOUT, token=one["accessToken"]))["data"]["logout"]
    assert ended == {"sessionsEnded": 1, "errors": []}
    assert codes(await post(server, ME, token=one["accessToken"])) == ["UNAUTHENTICATED"]
    spent = (await post(server, REFRESH, {"t": one["refreshToken"]}))["data"]["refreshSession"]
    assert spent == {"session": None, "errors": [{"code": "INVALID"}]}
    # The other sessions go on.
    assert (await post(server, ME, token=two["accessToken"]))["data"]["me"]["username"] == "alice"

    everywhere = (await post(server, LOGOUT_ALL, token=two["accessToken"]))["data"]["logoutEverywhere"]
    assert everywhere == {"sessionsEnded": 2, "errors": []}
    for session in (two, three):
        assert codes(await post(server, ME, token=session["accessToken"])) == ["UNAUTHENTICATED"]
        refused = (await post(server, REFRESH, {"t": session["refreshToken"]}))["data"]["refreshSession"]
        assert refused["errors"] == [{"code": "INVALID"}]
    # The operator reads why, once a minute per reason however often the tokens come back.
    forged = one["accessToken"][:-4] + ("AAAA" if not one["accessToken"].endswith("AAAA") else "BBBB")
    for _ in range(3):
        assert codes(await post(server, ME, token=forged)) == ["UNAUTHENTICATED"]
    log = server.log()
    assert log.count("a bearer token was refused: its session has ended or its person is not active") == 1, log
    assert log.count("a bearer token was refused: its signature, expiry or claims do not hold") == 1, log
    # Other people's sessions are untouched, and alice may sign in again.
    bob = await session_of(server, "bob", demo.passwords["bob"])
    assert (await post(server, ME, token=bob["accessToken"]))["data"]["me"]["username"] == "bob"
    await session_of(server, "alice", password)


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_session(server: ServerProcess, demo: Demo) -> None:
    first = await session_of(server, "carol", demo.passwords["carol"])
    # A thief rotates first...
    stolen = (await post(server, REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]["session"]
    assert (await post(server, ME, token=stolen["accessToken"]))["data"]["me"]["username"] == "carol"
    # ...then the owner presents the spent token: refused, and the session ends for both.
    reused = (await post(server, REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert reused == {"session": None, "errors": [{"code": "INVALID"}]}
    thief = (await post(server, REFRESH, {"t": stolen["refreshToken"]}))["data"]["refreshSession"]
    assert thief == {"session": None, "errors": [{"code": "INVALID"}]}
    assert codes(await post(server, ME, token=stolen["accessToken"])) == ["UNAUTHENTICATED"]
    assert codes(await post(server, ME, token=first["accessToken"])) == ["UNAUTHENTICATED"]
    # Carol's other sessions are not this one: signing in again works.
    again = await session_of(server, "carol", demo.passwords["carol"])
    assert (await post(server, ME, token=again["accessToken"]))["data"]["me"]["username"] == "carol"


async def test_an_issued_password_must_be_changed_and_stops_working_once_changed(
    api: GraphQLClient, server: ServerProcess, demo: Demo
) -> None:
    admin = (await session_of(server, "admin", demo.passwords["admin"]))["accessToken"]
    hr = (await session_of(server, "hr", demo.passwords["hr"]))["accessToken"]
    departments, _ = await ids_of(api, admin)
    made = await post(server, ONBOARD, {"input": onboard_input(departments["Finance"], "newbie", [], 1)}, hr)
    payload = made["data"]["onboardEmployee"]
    assert payload["errors"] == [] and payload["employee"]["mustChangePassword"] is True
    issued = payload["initialPassword"]

    session = await session_of(server, "newbie", issued)
    assert session["mustChangePassword"] is True
    other = await session_of(server, "newbie", issued)
    token = session["accessToken"]
    # The session works as usual and says so.
    assert (await post(server, ME, token=token))["data"]["me"] == {"username": "newbie", "mustChangePassword": True}
    renewed = (await post(server, REFRESH, {"t": session["refreshToken"]}))["data"]["refreshSession"]["session"]
    assert renewed["mustChangePassword"] is True
    token = renewed["accessToken"]

    assert codes(await post(server, CHANGE, {"c": issued, "n": "a-new-secret-1"})) == ["UNAUTHENTICATED"]
    bad = [
        ("wrong-current-1", "a-new-secret-1", [{"code": "INVALID", "field": "currentPassword"}]),
        (issued, "short", [{"code": "INVALID", "field": "newPassword"}]),
        (issued, "x" * 201, [{"code": "INVALID", "field": "newPassword"}]),
        (issued, issued, [{"code": "INVALID", "field": "newPassword"}]),
    ]
    for current, new, errors in bad:
        answer = (await post(server, CHANGE, {"c": current, "n": new}, token))["data"]["changePassword"]
        assert answer == {"person": None, "errors": errors}, (current, new)
    assert (await login(server, "newbie", issued))["errors"] == []  # nothing changed

    changed = (await post(server, CHANGE, {"c": issued, "n": "a-new-secret-1"}, token))["data"]["changePassword"]
    assert changed == {"person": {"username": "newbie", "mustChangePassword": False}, "errors": []}
    # This session goes on; the others ended; the issued password no longer works.
    assert (await post(server, ME, token=token))["data"]["me"]["mustChangePassword"] is False
    assert codes(await post(server, ME, token=other["accessToken"])) == ["UNAUTHENTICATED"]
    assert (await login(server, "newbie", issued))["errors"] == [{"code": "INVALID", "field": None}]
    fresh = await session_of(server, "newbie", "a-new-secret-1")
    assert fresh["mustChangePassword"] is False


async def test_an_issued_password_expires_after_seven_days_and_the_cli_issues_a_new_one(
    sqlite_site: Site, server: ServerProcess, demo: Demo
) -> None:
    now = datetime.now(UTC)
    with db(sqlite_site) as conn:  # the demo's passwords were issued: make bob's 6 days old, alice's 7
        conn.execute(
            "UPDATE person SET password_issued_at = ? WHERE username = 'bob'", [stored_instant(now - timedelta(days=6))]
        )
        conn.execute(
            "UPDATE person SET password_issued_at = ? WHERE username = 'alice'",
            [stored_instant(now - timedelta(days=7, minutes=1))],
        )
    assert (await login(server, "bob", demo.passwords["bob"]))["errors"] == []
    expired = await login(server, "alice", demo.passwords["alice"])
    assert expired == {"session": None, "errors": [{"code": "EXPIRED", "field": "password"}]}
    # A wrong password says nothing about expiry.
    assert (await login(server, "alice", "not-her-password"))["errors"] == [{"code": "INVALID", "field": None}]

    bob = await session_of(server, "bob", demo.passwords["bob"])
    reset = sqlite_site.cli("reset-password", "bob")
    assert reset.returncode == 0
    lines = reset.stdout.strip().splitlines()
    new_password = lines[-1]
    assert new_password != demo.passwords["bob"] and len(new_password) == 19
    assert "bob" in lines[0] and new_password not in reset.stderr
    # Every earlier session ended; the old password is gone; the new one must be changed.
    assert codes(await post(server, ME, token=bob["accessToken"])) == ["UNAUTHENTICATED"]
    assert (await login(server, "bob", demo.passwords["bob"]))["errors"] == [{"code": "INVALID", "field": None}]
    assert (await session_of(server, "bob", new_password))["mustChangePassword"] is True

    for args, needle in (
        (("reset-password", "nobody"), "nobody"),
        (("reset-password", "bad name!"), "USER"),
        (("unlock", "nobody"), "nobody"),
        (("unlock", "x" * 200), "USER"),
    ):
        refused = sqlite_site.cli(*args, check=False)
        assert refused.returncode == 2, (args, refused)
        assert refused.stdout == "" and len(refused.stderr.strip().splitlines()) == 1, (args, refused.stderr)
        assert needle in refused.stderr


# =========================================================================== items 7, 9: throttling


async def test_failed_sign_ins_bring_growing_delays_that_expire(
    sqlite_site: Site, server: ServerProcess, demo: Demo
) -> None:
    right = demo.passwords["alice"]
    for _ in range(5):
        assert (await login(server, "alice", "wrong-password"))["errors"] == [{"code": "INVALID", "field": None}]
    for password in ("wrong-password", right):
        limited = await login(server, "alice", password)
        assert codes(limited) == ["RATE_LIMITED"] and limited["data"] is None
        assert 0 < limited["errors"][0]["extensions"]["retryAfter"] <= 30
    # Another account, even from the same address, is not delayed.
    assert (await login(server, "bob", demo.passwords["bob"]))["errors"] == []

    def let_the_delay_run_out() -> None:
        with db(sqlite_site) as conn:
            past = stored_instant(datetime.now(UTC) - timedelta(seconds=1))
            assert (
                conn.execute(
                    "UPDATE login_throttle SET blocked_until = ? WHERE blocked_until IS NOT NULL", [past]
                ).rowcount
                >= 1
            )

    # When the delay is over, one more failure doubles it (still no permanent lock)...
    let_the_delay_run_out()
    assert (await login(server, "alice", "wrong-password"))["errors"] == [{"code": "INVALID", "field": None}]
    doubled = await login(server, "alice", right)
    assert codes(doubled) == ["RATE_LIMITED"]
    assert 30 < doubled["errors"][0]["extensions"]["retryAfter"] <= 60
    # ...and the right password works once it has run out, which forgets the failures.
    let_the_delay_run_out()
    assert (await login(server, "alice", right))["errors"] == []
    for _ in range(4):
        assert (await login(server, "alice", "wrong-password"))["errors"] == [{"code": "INVALID", "field": None}]
    assert (await login(server, "alice", right))["errors"] == []

    # An admin (GraphQL) or the operator (CLI) can end a delay at once.
    admin = (await session_of(server, "admin", demo.passwords["admin"]))["accessToken"]
    # (from another address: this one has spent 15 of its 20 free failures on alice)
    for _ in range(5):
        await login(server, "alice", "wrong-password", address="127.0.0.6")
    assert codes(await login(server, "alice", right)) == ["RATE_LIMITED"]
    out = sqlite_site.cli("unlock", "alice")
    assert out.returncode == 0 and "alice" in out.stdout
    assert (await login(server, "alice", right))["errors"] == []
    for _ in range(5):
        await login(server, "alice", "wrong-password", address="127.0.0.6")
    assert codes(await login(server, "alice", right)) == ["RATE_LIMITED"]
    _, people = await ids_of(GraphQLClient(server), admin)
    unlocked = (await post(server, UNLOCK, {"id": people["alice"]}, admin))["data"]["unlockAccount"]
    assert unlocked == {"person": {"username": "alice"}, "errors": []}
    assert (await login(server, "alice", right))["errors"] == []


async def test_the_address_limit_does_not_refuse_another_address(server: ServerProcess, demo: Demo) -> None:
    guesser = "127.0.0.2"
    for i in range(20):
        wrong = await login(server, f"nobody-{i}", "wrong", address=guesser)
        assert wrong["errors"] == [{"code": "INVALID", "field": None}], i
    limited = await post(server, LOGIN, {"u": "bob", "p": demo.passwords["bob"]}, address=guesser)
    assert codes(limited) == ["RATE_LIMITED"]
    assert 0 < limited["errors"][0]["extensions"]["retryAfter"] <= 30
    # The right password from another address is not refused by that address's limit.
    assert (await login(server, "bob", demo.passwords["bob"], address="127.0.0.3"))["errors"] == []
    assert (await login(server, "bob", demo.passwords["bob"]))["errors"] == []


async def timed_login(
    server: ServerProcess, username: str, password: str, address: str
) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    answer = await post(server, LOGIN, {"u": username, "p": password}, address=address)
    return time.perf_counter() - start, answer


async def test_unknown_and_known_names_get_the_same_answers_in_similar_time(server: ServerProcess, demo: Demo) -> None:
    answers: dict[str, list[dict[str, Any]]] = {"bob": [], "nobody-at-all": []}
    times: dict[str, list[float]] = {"bob": [], "nobody-at-all": []}
    for _ in range(7):  # 5 failures each, then 2 delayed answers each
        for name, address in (("bob", "127.0.0.4"), ("nobody-at-all", "127.0.0.5")):
            took, answer = await timed_login(server, name, "wrong-password", address)
            times[name].append(took)
            answers[name].append(answer)

    def shape(answer: dict[str, Any]) -> Any:
        if answer.get("errors"):
            return [(e["extensions"]["code"], e["message"], "retryAfter" in e["extensions"]) for e in answer["errors"]]
        return answer["data"]

    assert [shape(a) for a in answers["bob"]] == [shape(a) for a in answers["nobody-at-all"]]
    assert codes(answers["bob"][5]) == ["RATE_LIMITED"]
    # Both kinds of answer cost one password hash, known name or not (it was 6–12 ms for a
    # locked account against 60–160 ms for an unknown name).
    for phase in (slice(0, 5), slice(5, 7)):
        known, unknown = statistics.median(times["bob"][phase]), statistics.median(times["nobody-at-all"][phase])
        assert 1 / 3 < known / unknown < 3, (phase, times)
    # A delayed answer costs a hash too (a cheap refusal, ~10× faster, would tell the name exists);
    # a third, as above, leaves room for a loaded machine's stretched hashes.
    assert statistics.median(times["bob"][5:7]) > statistics.median(times["bob"][0:5]) / 3, times


# =========================================================================== item 10: GUARD


async def test_only_an_admin_gives_or_takes_the_guard_role(
    api: GraphQLClient, server: ServerProcess, demo: Demo
) -> None:
    admin = (await session_of(server, "admin", demo.passwords["admin"]))["accessToken"]
    hr = (await session_of(server, "hr", demo.passwords["hr"]))["accessToken"]
    departments, people = await ids_of(api, admin)
    security = departments["Security"]
    refused = await post(server, ONBOARD, {"input": onboard_input(security, "newguard", ["GUARD"], 2)}, hr)
    assert codes(refused) == ["FORBIDDEN"] and refused["data"] is None
    assert "GUARD" in refused["errors"][0]["message"]
    assert (await login(server, "newguard", "whatever-password"))["errors"] == [{"code": "INVALID", "field": None}]
    assert codes(await post(server, OFFBOARD, {"id": people["guard"]}, hr)) == ["FORBIDDEN"]
    assert (await login(server, "guard", demo.passwords["guard"]))["errors"] == []  # still active

    made = await post(server, ONBOARD, {"input": onboard_input(security, "newguard", ["GUARD"], 2)}, admin)
    assert made["data"]["onboardEmployee"]["errors"] == []
    keeper = await post(server, ONBOARD, {"input": onboard_input(security, "keeper", ["WAREHOUSE"], 3)}, hr)
    assert keeper["data"]["onboardEmployee"]["errors"] == []


# =========================================================================== item 16: file modes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_files_are_private(sqlite_site: Site, server: ServerProcess, demo: Demo) -> None:
    # A write through the server, so the WAL and its index exist while it runs.
    await session_of(server, "alice", demo.passwords["alice"])
    path = Path(sqlite_site.env["GATEHOUSE_DATABASE_URL"].removeprefix("sqlite://"))
    files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    assert path in files and len(files) >= 2, files
    for file in files:
        assert _mode(file) == 0o600, (file, oct(_mode(file)))

    # A database an older version left readable is narrowed the next time it is opened.
    other = sqlite_site.tmp / "old.sqlite3"
    sqlite3.connect(other).close()
    other.chmod(0o644)
    env_site = Site(sqlite_site.tmp)
    env_site.env["GATEHOUSE_DATABASE_URL"] = f"sqlite://{other}"
    assert env_site.cli("migrate").returncode == 0
    assert _mode(other) == 0o600


# =========================================================================== PostgreSQL, two workers


async def test_delays_sessions_and_passwords_hold_across_two_workers_on_postgres(scale_site: Site) -> None:
    one, two = scale_site.servers
    assert scale_site.demo is not None
    passwords = scale_site.demo.passwords
    for _ in range(5):
        assert (await login(one, "alice", "wrong-password"))["errors"] == [{"code": "INVALID", "field": None}]
    limited = await login(two, "alice", passwords["alice"])
    assert codes(limited) == ["RATE_LIMITED"] and 0 < limited["errors"][0]["extensions"]["retryAfter"] <= 30
    assert scale_site.cli("unlock", "alice").returncode == 0
    assert (await login(two, "alice", passwords["alice"]))["errors"] == []

    first = await session_of(one, "bob", passwords["bob"])
    rotated = (await post(two, REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]["session"]
    reused = (await post(one, REFRESH, {"t": first["refreshToken"]}))["data"]["refreshSession"]
    assert reused["errors"] == [{"code": "INVALID"}]
    assert codes(await post(two, ME, token=rotated["accessToken"])) == ["UNAUTHENTICATED"]

    carol = await session_of(one, "carol", passwords["carol"])
    assert carol["mustChangePassword"] is True
    changed = await post(two, CHANGE, {"c": passwords["carol"], "n": "carols-own-secret"}, carol["accessToken"])
    assert changed["data"]["changePassword"]["errors"] == []
    assert (await login(one, "carol", passwords["carol"]))["errors"] == [{"code": "INVALID", "field": None}]
    ended = (await post(one, LOGOUT, token=carol["accessToken"]))["data"]["logout"]
    assert ended == {"sessionsEnded": 1, "errors": []}
    assert codes(await post(two, ME, token=carol["accessToken"])) == ["UNAUTHENTICATED"]
