"""Personal data at rest (POLICY 6.3, contracts/README.md "Meaning"): ID and phone numbers are
stored encrypted, never in the clear.

Employees are onboarded through the API of a real server (SQLite, and PostgreSQL), their
personal data is read back, looked up, refused and audited; then the raw database is
searched: the SQLite file's bytes (and its write-ahead log), and on PostgreSQL every
column of every table. No full ID number and no phone number (with or without its '+')
may appear anywhere, and `idNumberMasked` shows at most the first 3 and last 4 characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from api.demo import make_prc_id
from tests.harness import Demo, GraphQLClient, ServerProcess, Site

DEMO_USERS = ["admin", "security", "hr", "guard", "alice", "carol", "bob", "dave"]

ONBOARD = """mutation OnboardEmployee($input: OnboardEmployeeInput!) {
  onboardEmployee(input: $input) {
    employee { id displayName idNumberMasked phoneMasked }
    initialPassword
    errors { code message field }
  }
}"""
# The same input, built from separately named variables (a client may well send it so).
ONBOARD_SPLIT = """mutation($name: String!, $number: String!, $contact: String!, $dept: ID!, $user: String!) {
  onboardEmployee(input: {displayName: $name, idNumber: $number, phone: $contact, departmentId: $dept,
                          position: "Analyst", username: $user}) {
    employee { id idNumberMasked } errors { code field }
  }
}"""
PERSONAL_DATA = "query($id: ID!) { personalData(personId: $id) { idNumber phone documentType } }"
BY_ID_NUMBER = "query($n: String!, $d: IdentityDocument!) { peopleByIdNumber(idNumber: $n, documentType: $d) { id } }"
LOGIN = """mutation($username: String!, $password: String!) { login(username: $username, password: $password) {
  session { accessToken } errors { code } } }"""
INVITE = """mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input) {
  visit { id inviteCode phoneMasked } errors { code field } } }"""
REGISTER = """mutation($code: String!, $input: VisitorDetailsInput!) {
  completeVisitorRegistration(inviteCode: $code, input: $input) { visit { id } errors { code field } } }"""


def demo_id_number(username: str) -> str:
    i = DEMO_USERS.index(username)
    return make_prc_id("110101", f"19{80 + i}0101", f"{100 + i:03d}")


def demo_phone(username: str) -> str:
    return f"+86138000000{DEMO_USERS.index(username):02d}"


def assert_masked(masked: str | None, full: str, head: int = 3, tail: int = 4) -> None:
    """At most the first `head` and the last `tail` characters show; every other one is '*'."""
    assert masked is not None
    assert len(masked) == len(full), (masked, full)
    assert masked[-tail:] == full[-tail:], masked
    for i, (shown, real) in enumerate(zip(masked[:-tail], full[:-tail], strict=True)):
        assert shown == "*" or (i < head and shown == real), f"{masked!r} reveals character {i} of {full!r}"
    assert masked.count("*") >= len(full) - head - tail, masked


@dataclass
class Secrets:
    """Every personal number the test handed to the server."""

    values: list[str] = field(default_factory=list)

    def add(self, value: str) -> str:
        self.values.append(value)
        if value.startswith("+"):
            self.values.append(value[1:])  # the phone without its '+'
        return value

    def needles(self) -> list[str]:
        return sorted(set(self.values))


async def exercise(server: ServerProcess, demo: Demo) -> Secrets:
    """Onboard, read back, look up, refuse and invite through the API; the personal numbers used."""
    secrets = Secrets()
    for username in DEMO_USERS:  # loaded by `gatehouse demo`: stored the same way
        secrets.add(demo_id_number(username))
        secrets.add(demo_phone(username))
    api = GraphQLClient(server, demo=demo).ok  # every answer here must be free of errors
    admin, hr = demo.tokens["admin"], demo.tokens["hr"]
    departments = {d["name"]: d["id"] for d in (await api("{ departments { id name } }", {}, admin))["departments"]}

    people = [
        ("ming", make_prc_id("440305", "19870612", "351"), "+8613987654321", "ID_CARD", hr),
        ("lan", make_prc_id("440305", "19930228", "462"), "+86 139-1234-0042", "ID_CARD", admin),
        ("pierre", "P9X7Y6Z5W4", "+33612345678", "PASSPORT", hr),
    ]
    for username, number, phone, document, token in people:
        secrets.add(number)
        secrets.add(phone)
        clean_phone = phone.replace(" ", "").replace("-", "")
        secrets.add(clean_phone)
        data = await api(
            ONBOARD,
            {
                "input": {
                    "displayName": f"Test {username}",
                    "idNumber": number,
                    "phone": phone,
                    "departmentId": departments["Engineering"],
                    "position": "Engineer",
                    "username": username,
                    "documentType": document,
                }
            },
            token,
        )
        payload = data["onboardEmployee"]
        assert payload["errors"] == [], payload
        employee = payload["employee"]
        assert_masked(employee["idNumberMasked"], number)
        assert_masked(employee["phoneMasked"], clean_phone, head=3, tail=2)

        # Unmasked only through personalData (audited), and the lookup by the number finds them.
        unmasked = (await api(PERSONAL_DATA, {"id": employee["id"]}, hr))["personalData"]
        assert unmasked == {"idNumber": number, "phone": clean_phone, "documentType": document}
        found = (await api(BY_ID_NUMBER, {"n": number, "d": document}, admin))["peopleByIdNumber"]
        assert found == [{"id": employee["id"]}]

        # A refused onboarding (the username is taken) is audited with its input: still no numbers.
        other = make_prc_id("440305", "19900101", f"{len(secrets.values):03d}")
        secrets.add(other)
        refused = await api(
            ONBOARD,
            {
                "input": {
                    "displayName": "Duplicate",
                    "idNumber": other,
                    "phone": "+8613700001111",
                    "departmentId": departments["Engineering"],
                    "position": "Engineer",
                    "username": username,
                }
            },
            hr,
        )
        secrets.add("+8613700001111")
        assert [(e["code"], e["field"]) for e in refused["onboardEmployee"]["errors"]] == [("CONFLICT", "username")]

    # A visitor's phone (invitation) and ID number (registration) are personal data too.
    alice = demo.tokens["alice"]
    zones = {z["name"]: z["id"] for z in (await api("{ zones { id name } }", {}, admin))["zones"]}
    start = datetime.now(UTC) + timedelta(hours=1)
    visitor_phone = secrets.add("+8613655554444")
    invite = (
        await api(
            INVITE,
            {
                "input": {
                    "visitorName": "Vera Visitor",
                    "phone": visitor_phone,
                    "purpose": "interview",
                    "expectedStart": start.isoformat(),
                    "expectedEnd": (start + timedelta(hours=1)).isoformat(),
                    "zoneIds": [zones["Engineering office"]],
                }
            },
            alice,
        )
    )["inviteVisitor"]
    assert invite["errors"] == [], invite
    assert_masked(invite["visit"]["phoneMasked"], visitor_phone, head=3, tail=2)
    visitor_id = secrets.add(make_prc_id("320102", "19950505", "123"))
    registered = (await api(REGISTER, {"code": invite["visit"]["inviteCode"], "input": {"idNumber": visitor_id}}))[
        "completeVisitorRegistration"
    ]
    assert registered["errors"] == [], registered
    return secrets


def found_in_bytes(blob: bytes, needles: list[str]) -> list[str]:
    return [n for n in needles if n.encode() in blob or n.encode("utf-16-le") in blob]


def sqlite_files(site: Site) -> list[Path]:
    path = Path(site.env["GATEHOUSE_DATABASE_URL"].removeprefix("sqlite://"))
    files = [path] + [p for p in (Path(f"{path}-wal"), Path(f"{path}-journal")) if p.exists()]
    assert path.stat().st_size > 0
    return files


async def test_sqlite_file_holds_no_personal_number_in_the_clear(sqlite_site: Site, server: ServerProcess) -> None:
    assert sqlite_site.demo is not None
    secrets = await exercise(server, sqlite_site.demo)
    needles = secrets.needles()
    assert len(needles) >= 30

    # While the server runs: the main file and the write-ahead log.
    for path in sqlite_files(sqlite_site):
        leaked = found_in_bytes(path.read_bytes(), needles)
        assert leaked == [], f"{path.name} holds {leaked} in the clear"
    # After a clean stop the log is folded into the file: search it once more.
    sqlite_site.stop()
    for path in sqlite_files(sqlite_site):
        leaked = found_in_bytes(path.read_bytes(), needles)
        assert leaked == [], f"{path.name} holds {leaked} in the clear (after shutdown)"

    # The search would have seen them: the masked forms and names are there, in the clear.
    blob = b"".join(p.read_bytes() for p in sqlite_files(sqlite_site))
    assert b"Test ming" in blob
    bob = demo_id_number("bob")
    assert (bob[:3] + "*" * 11 + bob[-4:]).encode() in blob


async def test_no_personal_number_in_the_clear_whatever_the_variables_are_called(
    sqlite_site: Site, server: ServerProcess
) -> None:
    assert sqlite_site.demo is not None
    api = GraphQLClient(server, demo=sqlite_site.demo).ok  # every answer here must be free of errors
    admin = sqlite_site.demo.tokens["admin"]
    departments = {d["name"]: d["id"] for d in (await api("{ departments { id name } }", {}, admin))["departments"]}
    number, phone = make_prc_id("440305", "19880808", "808"), "+8613988887777"
    data = await api(
        ONBOARD_SPLIT,
        {"name": "Split Vars", "number": number, "contact": phone, "dept": departments["Finance"], "user": "split"},
        admin,
    )
    assert data["onboardEmployee"]["errors"] == []
    assert_masked(data["onboardEmployee"]["employee"]["idNumberMasked"], number)
    sqlite_site.stop()
    blob = b"".join(p.read_bytes() for p in sqlite_files(sqlite_site))
    assert found_in_bytes(blob, [number, phone, phone[1:]]) == []


async def test_postgres_columns_hold_no_personal_number_in_the_clear(postgres_site: Site) -> None:
    import asyncpg

    site, postgres_url = postgres_site, postgres_site.database_url
    demo = site.demo
    assert demo is not None
    try:
        server = site.start_server()
        secrets = await exercise(server, demo)
    finally:
        site.stop()
    needles = secrets.needles()

    conn = await asyncpg.connect(postgres_url.replace("postgres://", "postgresql://", 1))
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
            )
        ]
        assert {"person", "audit_entry", "visit", "refresh_session"} <= set(tables)
        leaks: list[tuple[str, str, str]] = []
        cells = 0
        for table in tables:
            for row in await conn.fetch(f'SELECT * FROM "{table}"'):
                for column, value in row.items():
                    if value is None:
                        continue
                    cells += 1
                    if isinstance(value, (bytes, bytearray, memoryview)):
                        hits = found_in_bytes(bytes(value), needles)
                    else:
                        text = str(value)
                        hits = [n for n in needles if n in text]
                    leaks += [(table, column, n) for n in hits]
        assert leaks == [], f"personal numbers in the clear: {leaks}"
        assert cells > 500

        # The search saw the people: encrypted columns are filled and the masks read right.
        rows = await conn.fetch(
            "SELECT username, id_number_enc, phone_enc, id_number_masked FROM person WHERE username = ANY($1::text[])",
            ["ming", "lan", "pierre", "bob"],
        )
        assert len(rows) == 4
        for row in rows:
            assert isinstance(row["id_number_enc"], bytes) and len(row["id_number_enc"]) > 20
            assert isinstance(row["phone_enc"], bytes) and len(row["phone_enc"]) > 20
        masked = {r["username"]: r["id_number_masked"] for r in rows}
        assert_masked(masked["bob"], demo_id_number("bob"))
        assert_masked(masked["pierre"], "P9X7Y6Z5W4")
    finally:
        await conn.close()
