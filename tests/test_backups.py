"""Backups (issue 17, POLICY 6.1): the restore drill, file verification, and the schedule.

The drill: a site with people, a bound phone, gate events, a visit and items is backed up through
`gatehouse backup` while its server runs, restored with `gatehouse restore` into a fresh database,
and served again with the same master key: the same phone's next token opens the same gate over
the device WebSocket, every table has the same rows count, and the audit log is the same row for
row. On SQLite here; on PostgreSQL too (required under CI=true).

Verification and the schedule run in this process (`api.cli.main`, `run_due` with the clock
given), on SQLite files in the test's directory.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import sqlite3
import struct
import subprocess
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from api import cli
from resolvers.core import db
from resolvers.core.models import BackupRun
from resolvers.core.settings import Settings, SettingsError
from resolvers.ops import backup_file, backups, restore, tools
from resolvers.ops.backup_file import BackupError
from resolvers.ops.schedule import run_due
from resolvers.ops.tools import sqlite_path
from resolvers.runtime import Runtime
from tests.harness import (
    FORK_SERVERS,
    GATEHOUSE,
    IN_CI,
    PROJECT,
    Demo,
    Gate,
    GraphQLClient,
    Site,
    SiteTemplate,
    World,
    _fork_context,
    create_postgres_database,
    drop_postgres_database,
    eventually,
)

LOBBY_IN = "Lobby turnstile in"
LOBBY_OUT = "Lobby turnstile out"
INVITE = (
    "mutation($input: InviteVisitorInput!) { inviteVisitor(input: $input) { visit { id status } errors { message } } }"
)
MUSTER = "{ muster { person { displayName } } }"
BACKUP_RUNS = "query($n: Int!) { backupRuns(limit: $n) { kind ok error fileName size sha256 offsiteOk } }"


def run_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """`gatehouse ARGS` in a process of its own: forked from the preloaded parent as the harness
    starts servers (a fresh interpreter costs seconds here), or a fresh one under GATEHOUSE_TEST_FORK=0."""
    if not FORK_SERVERS:
        done = subprocess.run([*GATEHOUSE, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr
    from tests.server_child import run_cli as forked_cli

    with tempfile.NamedTemporaryFile(suffix=".out") as out:
        process = _fork_context().Process(target=forked_cli, args=(list(args), env, str(PROJECT), out.name))
        process.start()
        process.join(120)
        assert process.exitcode is not None, f"gatehouse {' '.join(args)} did not finish"
        return process.exitcode, Path(out.name).read_text()


# --------------------------------------------------------------------------- reading a database


async def table_counts(url: str) -> dict[str, int]:
    if url.startswith("sqlite://"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            return {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        names = [r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        return {n: await conn.fetchval(f'SELECT count(*) FROM "{n}"') for n in names}
    finally:
        await conn.close()


async def audit_rows(url: str) -> list[tuple[Any, ...]]:
    if url.startswith("sqlite://"):
        with sqlite3.connect(sqlite_path(url)) as conn:
            return list(conn.execute("SELECT * FROM audit_entry ORDER BY id"))
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        return [tuple(r.values()) for r in await conn.fetch("SELECT * FROM audit_entry ORDER BY id")]
    finally:
        await conn.close()


def without_runs(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if k != "backup_run"}


# --------------------------------------------------------------------------- the drill


async def drill(site: Site, restore_url: str, tmp: Path) -> None:
    """Use the site, back it up while its server runs, restore into `restore_url` (empty), serve
    that with the same key and check it is the same site. Two tokens of one phone in all: a third
    could wait for the next 15 s step (FreshPass)."""
    world = World(site)
    admin = world.client("admin")
    phone = await world.pass_of("alice")
    gate = await world.connect_device()
    granted = await gate.scan(world.gate(LOBBY_IN), await phone.fresh(), direction="IN")
    assert granted["granted"], granted
    refused = await gate.scan(world.gate(LOBBY_IN), "NOT-A-PASS", direction="IN")
    assert not refused["granted"]
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    invited = await world.client("alice").ok(
        INVITE,
        {
            "input": {
                "visitorName": "李娜",
                "phone": "+8613900000077",
                "purpose": "backup drill",
                "expectedStart": start.isoformat(),
                "expectedEnd": (start + timedelta(hours=2)).isoformat(),
                "zoneIds": [world.ids.zones["Engineering office"]],
            }
        },
    )
    assert invited["inviteVisitor"]["errors"] == [], invited
    await world.close()

    async def stored() -> bool:
        counts = await table_counts(site.database_url)
        return counts["gate_event"] >= 2 and counts["visit"] >= 1 and counts["item"] >= 1 and counts["credential"] >= 1

    await eventually(stored, 10, "the scans, the visit and the items stored")
    before = await table_counts(site.database_url)
    audit_before = await audit_rows(site.database_url)

    # While the server runs: the online backup (SQLite) and pg_dump's snapshot do not stop it.
    out_dir = tmp / "backups"
    out_dir.mkdir()
    code, text = await asyncio.to_thread(run_cli, site.env, "backup", "--to", str(out_dir))
    assert code == 0, text
    (file,) = out_dir.iterdir()
    master = site.env["GATEHOUSE_SECRET_KEY"]
    assert master.encode() not in file.read_bytes() and base64.b64decode(master) not in file.read_bytes()
    verified = await asyncio.to_thread(restore.verify, Settings.from_env(site.env), file)
    assert verified.startswith(f"{file.name}: good;"), verified
    after = await table_counts(site.database_url)
    assert without_runs(after) == without_runs(before), "the site changed during the drill"
    assert after["backup_run"] == before["backup_run"] + 1

    runs = (await admin.ok(BACKUP_RUNS, {"n": 5}, as_="audrey"))["backupRuns"]  # an AUDITOR reads them
    assert runs[0]["kind"] == "MANUAL" and runs[0]["ok"] and runs[0]["fileName"] == file.name, runs
    assert runs[0]["sha256"] == hashlib.sha256(file.read_bytes()).hexdigest()
    assert runs[0]["size"] == file.stat().st_size
    too_many = await admin.raw(BACKUP_RUNS, {"n": 0})
    assert too_many["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", too_many

    restore_env = {**site.env, "GATEHOUSE_DATABASE_URL": restore_url}
    code, text = await asyncio.to_thread(run_cli, restore_env, "restore", str(file))
    assert code == 0 and "restored" in text, text
    with pytest.raises(BackupError, match="restore only into an empty one"):
        restore.restore(Settings.from_env(restore_env), file)

    counts = await table_counts(restore_url)
    assert without_runs(counts) == without_runs(before)
    assert counts["backup_run"] == before["backup_run"]  # the run that made it is recorded after the dump
    assert await audit_rows(restore_url) == audit_before

    # Served again with the same master key: the same phone's next token opens the same gate.
    (tmp / "restored").mkdir()
    copy = Site(tmp / "restored", restore_url, secret_key=site.env["GATEHOUSE_SECRET_KEY"])
    assert site.demo is not None
    demo: Demo = site.demo
    server = await asyncio.to_thread(copy.start_server)
    try:
        gate = await Gate(server, demo.device_id, demo.device_secret).connect()
        try:
            # She came in before the backup: the restored site knows she is inside, and lets her out.
            muster = await GraphQLClient(server, demo=demo, as_="guard").ok(MUSTER)
            assert "Alice Li" in {line["person"]["displayName"] for line in muster["muster"]}, muster
            reply = await gate.scan(demo.gates[LOBBY_OUT], await phone.fresh(), direction="OUT")
        finally:
            await gate.close()
        assert reply["granted"] and reply["reason"] == "ok", reply
        assert reply["person"] == {"displayName": "Alice Li"}
        me = await GraphQLClient(server, demo=demo, as_="alice").ok("{ me { displayName } }")
        assert me["me"]["displayName"] == "Alice Li"
    finally:
        await asyncio.to_thread(copy.stop)


async def test_restore_drill_on_sqlite(tmp_path: Path, demo_template: SiteTemplate) -> None:
    site = demo_template.sqlite_copy(tmp_path)
    # The schedule is on in this server: its first look makes the daily backup it missed.
    scheduled = tmp_path / "scheduled"
    scheduled.mkdir()
    site.start_server(GATEHOUSE_BACKUP_DIR=str(scheduled))
    try:
        await eventually(lambda: any(scheduled.glob("gatehouse-*.ghbackup")), 20, "the scheduled backup")

        async def recorded() -> bool:
            return (await table_counts(site.database_url))["backup_run"] == 1

        await eventually(recorded, 10, "the scheduled run recorded")
        restore_dir = tmp_path / "restore"
        restore_dir.mkdir()
        await drill(site, f"sqlite://{restore_dir / 'gatehouse.sqlite3'}", tmp_path)
    finally:
        await asyncio.to_thread(site.stop)


@pytest.fixture
def postgres_client_tools() -> None:
    """pg_dump, pg_restore and psql, as `gatehouse backup` finds them: under CI=true the drill
    must run, so their absence fails; on a laptop it skips with the reason."""
    try:
        for tool in ("pg_dump", "pg_restore", "psql"):
            tools.pg_tool(Settings.from_env({}), tool)
    except BackupError as exc:
        if IN_CI:
            pytest.fail(f"{exc}: under CI=true the PostgreSQL restore drill must run")
        pytest.skip(f"{exc} (the drill runs under CI=true, where they must be installed)")


def test_postgres_connection_goes_through_the_environment() -> None:
    name, env = tools.pg_parts("postgres://gate%40house:p%40ss:w@db.example:5433/site_1")
    assert name == "site_1"
    assert (env["PGUSER"], env["PGPASSWORD"], env["PGHOST"], env["PGPORT"], env["PGDATABASE"]) == (
        "gate@house",
        "p@ss:w",
        "db.example",
        "5433",
        "site_1",
    )


async def test_restore_drill_on_postgres(tmp_path: Path, postgres_client_tools: None, postgres_site: Site) -> None:
    await asyncio.to_thread(postgres_site.start_server)
    target = await create_postgres_database()
    try:
        await drill(postgres_site, target, tmp_path)
    finally:
        await drop_postgres_database(target)


# --------------------------------------------------------------------------- verify-backup and restore, refused


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture(scope="module")
def module_backup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A backup of a migrated, empty SQLite database in 4 KiB chunks (so there are several to
    reorder), made once for the module; and the key that made it."""
    tmp = tmp_path_factory.mktemp("small-backup")
    key = new_key()
    url = f"sqlite://{tmp / 'source.sqlite3'}"
    settings = Settings.from_env(
        {"GATEHOUSE_DATABASE_URL": url, "GATEHOUSE_SECRET_KEY": key, "GATEHOUSE_KEY_FILE": str(tmp / "unused.key")}
    )

    async def make() -> BackupRun:
        await db.start(url)
        try:
            return await backups.backup(settings, tmp, "manual")
        finally:
            await db.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(backup_file, "CHUNK", 4096)
        # Its own thread and loop: the tests' loops are per test.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            run = pool.submit(asyncio.run, make()).result()
    assert run.ok, run.error
    return tmp / run.file_name, key


@pytest.fixture
def small_backup(module_backup: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """The module's small backup; the CLI's environment names its key and an empty target."""
    for name, value in {
        "GATEHOUSE_DATABASE_URL": f"sqlite://{tmp_path / 'target' / 'gatehouse.sqlite3'}",
        "GATEHOUSE_SECRET_KEY": module_backup[1],
        "GATEHOUSE_KEY_FILE": str(tmp_path / "unused.key"),
    }.items():
        monkeypatch.setenv(name, value)
    return module_backup


def chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    """The file's header part and its sealed chunks (each with its length prefix)."""
    (length,) = struct.unpack(">I", data[8:12])
    at = 12 + length
    prefix, parts = data[:at], []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at : at + 4])
        parts.append(data[at : at + 4 + n])
        at += 4 + n
    return prefix, parts


def gatehouse(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, (captured.out + captured.err).strip()


def test_verify_backup(small_backup: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file, _ = small_backup
    data = file.read_bytes()
    code, text = gatehouse(capsys, "verify-backup", str(file))
    assert code == 0 and "good" in text, text
    prefix, parts = chunks(data)
    assert len(parts) > 3

    def variant(name: str, content: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(content)
        return str(path)

    flipped = bytearray(data)
    flipped[len(prefix) + 100] ^= 0x01
    header_flipped = bytearray(data)
    header_flipped[prefix.index(b'"created_at"') + 20] ^= 0x01  # a digit of the date: still valid JSON
    swapped = prefix + parts[1] + parts[0] + b"".join(parts[2:])
    future_head = json.dumps({**json.loads(prefix[12:]), "format": 2}).encode()
    future = b"GHBACKUP" + struct.pack(">I", len(future_head)) + future_head + b"".join(parts)
    bad = {
        "future-format": (future, "is in backup format 2; this Gatehouse reads format 1"),
        "flipped": (bytes(flipped), "damaged or was changed (chunk 0"),
        "header-flipped": (bytes(header_flipped), "damaged or was changed (chunk 0"),
        "truncated": (data[:-10], "cut short"),
        "last-chunk-dropped": (prefix + b"".join(parts[:-1]), "cut short"),
        "reordered": (swapped, "damaged or was changed (chunk 0"),
        "appended": (data + b"x", "data after its end"),
        "not-a-backup": (b"SQLite format 3\x00" + b"\x00" * 100, "is not a Gatehouse backup"),
        "empty": (b"", "is not a Gatehouse backup"),
    }
    for name, (content, message) in bad.items():
        code, text = gatehouse(capsys, "verify-backup", variant(name, content))
        assert code == 2, (name, text)
        assert message in text and len(text.splitlines()) == 1, (name, text)
    code, text = gatehouse(capsys, "verify-backup", str(tmp_path / "nowhere.ghbackup"))
    assert code == 2 and "cannot read" in text


def test_a_wrong_key_is_named(
    small_backup: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file, key = small_backup
    made_with = backup_file.fingerprint(base64.b64decode(key))
    other = new_key()
    monkeypatch.setenv("GATEHOUSE_SECRET_KEY", other)
    code, text = gatehouse(capsys, "verify-backup", str(file))
    assert code == 2
    assert text == (
        f"gatehouse: this backup was made with key {made_with}; the current key is "
        f"{backup_file.fingerprint(base64.b64decode(other))} (pass --key-file with the key that made it)"
    )
    code, text = gatehouse(capsys, "restore", str(file))
    assert code == 2 and made_with in text
    target = sqlite_path(os.environ["GATEHOUSE_DATABASE_URL"])
    assert not target.exists()
    key_file = tmp_path / "old.key"
    key_file.write_text(key + "\n")
    code, text = gatehouse(capsys, "verify-backup", str(file), "--key-file", str(key_file))
    assert code == 0, text
    code, text = gatehouse(capsys, "restore", str(file), "--key-file", str(key_file))
    assert code == 0, text
    assert f"sealed with key {made_with}" in text  # the server's current key cannot read it
    key_file.write_text("not base64 at all\n")
    code, text = gatehouse(capsys, "verify-backup", str(file), "--key-file", str(key_file))
    assert code == 2 and "cannot read the key" in text


def test_restore_changes_nothing_when_refused(
    small_backup: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file, _ = small_backup
    target = sqlite_path(os.environ["GATEHOUSE_DATABASE_URL"])
    target.parent.mkdir()
    damaged = tmp_path / "damaged.ghbackup"
    damaged.write_bytes(file.read_bytes()[:-60])
    code, text = gatehouse(capsys, "restore", str(damaged))
    assert code == 2 and "cut short" in text
    assert list(target.parent.iterdir()) == []  # no database, no temporary file left

    code, text = gatehouse(capsys, "restore", str(file))
    assert code == 0, text
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM gatehouse_migration").fetchone()[0] > 0
    held = target.read_bytes()
    code, text = gatehouse(capsys, "restore", str(file))
    assert code == 2 and "already holds a database" in text
    assert target.read_bytes() == held


def test_backup_refuses_a_missing_directory(
    small_backup: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GATEHOUSE_BACKUP_DIR", raising=False)
    code, text = gatehouse(capsys, "backup")
    assert code == 2 and text == "gatehouse: say where: --to DIR, or set GATEHOUSE_BACKUP_DIR"
    code, text = gatehouse(capsys, "backup", "--to", str(tmp_path / "not-mounted"))
    assert code == 2 and "does not exist" in text
    assert not (tmp_path / "not-mounted").exists()
    monkeypatch.setenv("GATEHOUSE_BACKUP_AT", "25:00")
    code, text = gatehouse(capsys, "backup", "--to", str(tmp_path))
    assert code == 2 and text == "gatehouse: GATEHOUSE_BACKUP_AT must be a local time HH:MM, got '25:00'"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEHOUSE_BACKUP_AT", "2:3"),
        ("GATEHOUSE_BACKUP_AT", "noon"),
        ("GATEHOUSE_BACKUP_WEEKLY_DAY", "someday"),
        ("GATEHOUSE_BACKUP_KEEP_DAILY", "0"),
        ("GATEHOUSE_BACKUP_KEEP_WEEKLY", "many"),
        ("GATEHOUSE_BACKUP_OFFSITE_COMMAND", "rsync 'unclosed"),
        ("GATEHOUSE_BACKUP_OFFSITE_SECONDS", "0"),
        ("GATEHOUSE_PG_BIN_DIR", "/no/such/dir"),
    ],
)
def test_bad_backup_settings(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


async def test_a_backup_taken_while_writes_go_on_is_whole(tmp_path: Path) -> None:
    """SQLite's online backup while another connection commits as fast as it can (as a busy
    server's does, in WAL mode): the copy restores to a sound database holding an unbroken
    prefix of the writes, every committed row up to some point and none half-written."""
    url = f"sqlite://{tmp_path / 'busy.sqlite3'}"
    env = {"GATEHOUSE_DATABASE_URL": url, "GATEHOUSE_SECRET_KEY": new_key(), "GATEHOUSE_KEY_FILE": "unused"}
    settings = Settings.from_env(env)
    path = sqlite_path(url)
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE tick (n INTEGER PRIMARY KEY, pad TEXT NOT NULL)")
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None, timeout=30)) as conn:
            conn.execute("PRAGMA synchronous=OFF")  # many commits, not durable ones
            n = 0
            while not stop.is_set():
                n += 1
                conn.execute("BEGIN")
                conn.execute("INSERT INTO tick (n, pad) VALUES (?, ?)", (n, "x" * 2000))
                conn.execute("COMMIT")
                written.append(n)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        await eventually(lambda: len(written) >= 50, 10, "writes under way")
        await db.start(url)
        try:
            run = await backups.backup(settings, tmp_path, "manual")
            # The backup left no lock behind: the writer goes on committing. (Whether it committed
            # *during* the copy depends on how the two cores were shared at that moment: in WAL mode
            # a reader never blocks a writer, and a timing check of it failed on a loaded machine.)
            after = len(written)
            await eventually(lambda: len(written) >= after + 20, 10, "writes after the backup")
        finally:
            await db.close()
    finally:
        stop.set()
        thread.join(30)
    assert run.ok, run.error
    target = tmp_path / "restored" / "gh.sqlite3"
    restore.restore(
        Settings.from_env({**env, "GATEHOUSE_DATABASE_URL": f"sqlite://{target}"}), tmp_path / run.file_name
    )
    with contextlib.closing(sqlite3.connect(target)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, top = conn.execute("SELECT count(*), max(n) FROM tick").fetchone()
    assert 50 <= count == top <= len(written)  # 1..top, no gap


# --------------------------------------------------------------------------- the schedule

# The off-site "copy": cp into another directory; and one that fails as rsync to a full disk would.
FAILING_COPY = ("sh", "-c", "echo the remote disk is full >&2; exit 3", "sh")


async def test_schedule_daily_weekly_retention_and_offsite(tmp_path: Path) -> None:
    backup_dir, offsite = tmp_path / "backups", tmp_path / "offsite"
    backup_dir.mkdir()
    offsite.mkdir()
    url = f"sqlite://{tmp_path / 'gh.sqlite3'}"
    settings = Settings.from_env(
        {
            "GATEHOUSE_DATABASE_URL": url,
            "GATEHOUSE_SECRET_KEY": new_key(),
            "GATEHOUSE_TIME_ZONE": "Asia/Shanghai",
            "GATEHOUSE_BACKUP_DIR": str(backup_dir),
            "GATEHOUSE_BACKUP_AT": "02:30",
            "GATEHOUSE_BACKUP_WEEKLY_DAY": "sunday",
            "GATEHOUSE_BACKUP_KEEP_DAILY": "2",
            "GATEHOUSE_BACKUP_KEEP_WEEKLY": "1",
            "GATEHOUSE_BACKUP_OFFSITE_COMMAND": f"cp -t {offsite}",
        }
    )
    rt = Runtime.create(settings)
    # Files the feature did not write are never pruned, nor are manual backups.
    (backup_dir / "notes.txt").write_text("keep me")
    (backup_dir / "gatehouse-daily-20200101T000000Z.ghbackup").write_text("not ours: no magic")
    shanghai = settings.tz

    def at(day: int, hh: int, mm: int = 0) -> datetime:
        return datetime(2026, 11, day, hh, mm, tzinfo=shanghai)  # 2026-11-23 is a Monday

    await db.start(url)
    try:
        manual = await backups.backup(settings, backup_dir, "manual", at(22, 12))
        assert manual.ok
        held = (backup_dir / manual.file_name).read_bytes()
        twin = await backups.backup(settings, backup_dir, "manual", at(22, 12))
        assert not twin.ok and twin.error.endswith("already exists"), twin
        assert (backup_dir / manual.file_name).read_bytes() == held
        # Before 02:30 on Monday the latest slot is Sunday's, not yet made (the server was down): made late.
        late = await run_due(rt, at(23, 2, 29))
        assert late is not None and late.ok and late.kind == "weekly", late
        assert await run_due(rt, at(23, 2, 29)) is None  # that slot is done
        # Two workers of one host look at once: one makes it.
        both = await asyncio.gather(run_due(rt, at(23, 2, 30)), run_due(rt, at(23, 2, 30)))
        assert both.count(None) == 1, both
        run = next(r for r in both if r is not None)
        assert run.ok and run.kind == "daily" and run.offsite_ok is True, run
        assert (offsite / run.file_name).read_bytes() == (backup_dir / run.file_name).read_bytes()
        assert await run_due(rt, at(23, 9)) is None
        for day in (24, 25, 26, 27, 28):
            run = await run_due(rt, at(day, 3))
            assert run is not None and run.kind == "daily" and run.ok
        sunday = await run_due(rt, at(29, 2, 45))
        assert sunday is not None and sunday.kind == "weekly" and sunday.ok
        names = sorted(p.name for p in backup_dir.iterdir())
        dailies = [n for n in names if n.startswith("gatehouse-daily-2026")]
        weeklies = [n for n in names if n.startswith("gatehouse-weekly-")]
        assert dailies == sorted(
            [r.file_name for r in await BackupRun.filter(kind="daily").order_by("-started_at").limit(2)]
        )
        assert weeklies == [sunday.file_name]
        assert manual.file_name in names and "notes.txt" in names
        assert "gatehouse-daily-20200101T000000Z.ghbackup" in names
        beside = os.listdir(tmp_path)
        assert not [n for n in beside if n.startswith(".gh.sqlite3.backup-")]  # no plain copy left there
        assert [n for n in names if n.startswith(".")] == [".gatehouse-backup.lock"]  # nothing half-written

        # The off-site copy fails: the backup is still good, the failure is on the run.
        rt.settings = dataclasses.replace(settings, backup_offsite_command=FAILING_COPY)
        failed_copy = await run_due(rt, at(30, 2, 31))
        assert failed_copy is not None and failed_copy.ok and failed_copy.offsite_ok is False
        assert failed_copy.offsite_error == "exited 3: the remote disk is full"

        # The backup disk is gone: the run is recorded as failed, and the next slot tries again.
        backup_dir.rename(tmp_path / "unmounted")
        lost = await run_due(rt, at(30, 3))  # still the 30th's slot: already run
        assert lost is None
        lost = await run_due(rt, datetime(2026, 12, 1, 3, tzinfo=shanghai))
        assert lost is not None and not lost.ok and "does not exist" in lost.error and lost.offsite_ok is None
        good = await backups.last_good_run()
        assert good is not None and good.id == failed_copy.id
        assert [r.id for r in await backups.recent_runs(2)] == [lost.id, failed_copy.id]
    finally:
        await db.close()
