"""`gatehouse` — operator commands. Every command that opens the database first migrates it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from resolvers.core import db
from resolvers.core.settings import PROJECT_DIR, Settings, SettingsError

T = TypeVar("T")
DEMO_FILE = PROJECT_DIR / "var" / "demo-credentials.txt"


class CommandError(Exception):
    """A clear message for the operator; the command exits 2 and changes nothing."""


async def _with_database(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from resolvers.runtime import Runtime

    await db.start(settings.database_url)
    rt = Runtime.create(settings)
    try:
        return await work(rt)
    finally:
        await db.close()


async def _create_admin(settings: Settings, username: str, password: str, name: str) -> str:
    from resolvers.core.errors import UserError
    from resolvers.people.admins import checked_input, create_admin

    try:
        checked_input(username, password, name)
    except UserError as exc:
        raise CommandError(f"{exc.field}: {exc.message}") from None

    async def work(rt: object) -> str:
        try:
            person = await create_admin(username, password, name)
        except UserError as exc:
            raise CommandError(f"{exc.field}: {exc.message}") from None
        return f"created admin {person.username!r} (person {person.id})"

    return await _with_database(settings, work)


async def _unlock(settings: Settings, username: str) -> str:
    from resolvers.core.models import Person
    from resolvers.people import ratelimit

    async def work(rt: object) -> str:
        if not await Person.filter(username=username).exists():
            raise CommandError(f"no account with username {username!r}")
        had = await ratelimit.unlock(username)
        return f"{username!r}: sign-in delay ended" if had else f"{username!r} had no sign-in delay"

    return await _with_database(settings, work)


async def _reset_password(settings: Settings, username: str) -> str:
    from resolvers.core.errors import UserError
    from resolvers.people.sessions import ISSUED_PASSWORD_DAYS, reset_password

    async def work(rt: object) -> str:
        try:
            person, password = await reset_password(username)
        except UserError as exc:
            raise CommandError(exc.message) from None
        return (
            f"new password for {person.username!r} (shown once; every session of theirs ended; "
            f"they must change it at first sign-in, within {ISSUED_PASSWORD_DAYS} days):\n{password}"
        )

    return await _with_database(settings, work)


async def _reset_second_factor(settings: Settings, username: str) -> str:
    from resolvers.core.errors import UserError
    from resolvers.people import audit, second_factor

    async def work(rt: object) -> str:
        try:
            person, ended = await second_factor.reset(username)
        except UserError as exc:
            raise CommandError(exc.message) from None
        # No caller signs in here: the entry names the command line as its origin.
        await audit.record(
            None,
            "resetSecondFactor",
            address="cli",
            target_type="person",
            target_id=person.id,
            detail={"username": username, "sessionsEnded": ended, "changes": [{"secondFactor": "removed"}]},
        )
        return (
            f"second factor of {person.username!r} removed and {ended} session(s) ended; they sign in with "
            "their password and enrol again"
        )

    return await _with_database(settings, work)


def _username_arg(text: str) -> str:
    """The account name as the server keeps it; a name that cannot be one is refused here."""
    from resolvers.core import validation
    from resolvers.core.errors import UserError

    try:
        return validation.username(text)
    except UserError as exc:
        raise CommandError(f"USER: {exc.message}") from None


async def _demo(settings: Settings) -> str:
    from api import demo

    async def work(rt: object) -> str:
        if not await demo.is_empty():
            if DEMO_FILE.exists():
                return "The database already has data; the demo site was loaded earlier.\n" + DEMO_FILE.read_text()
            return "The database already has data; the demo site was not loaded."
        site = await demo.load_demo(rt)  # type: ignore[arg-type]
        text = site.describe()
        if settings.database_url.startswith("sqlite"):
            DEMO_FILE.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(DEMO_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text + "\n")
        return "Loaded the demo site.\n" + text

    return await _with_database(settings, work)


async def _migrate(settings: Settings) -> str:
    applied = await db.start(settings.database_url)
    await db.close()
    return "applied: " + ", ".join(applied) if applied else "the database schema is up to date"


async def _backup(settings: Settings, to: str | None) -> str:
    from resolvers.ops import backups

    directory = Path(to) if to else settings.backup_dir
    if directory is None:
        raise CommandError("say where: --to DIR, or set GATEHOUSE_BACKUP_DIR")
    if not directory.is_dir():
        raise CommandError(f"the backup directory {directory} does not exist (mount or create it)")

    async def work(rt: object) -> str:
        run = await backups.backup(settings, directory, "manual")
        if not run.ok:
            raise CommandError(f"backup failed: {run.error}")
        text = f"wrote {directory / run.file_name} ({run.size} bytes, sha256 {run.sha256})"
        if run.offsite_ok is False:
            raise CommandError(f"{text}, but the off-site copy failed: {run.offsite_error}")
        return text + ("; copied off site" if run.offsite_ok else "")

    return await _with_database(settings, work)


def _backup_file(settings: Settings, command: str, file: str, key_file: str | None) -> str:
    """restore or verify-backup: neither opens the database through the ORM (that would migrate,
    and so fill, the empty database a restore wants)."""
    from resolvers.ops import restore
    from resolvers.ops.backup_file import BackupError

    key = Path(key_file) if key_file else None
    try:
        if command == "restore":
            return restore.restore(settings, Path(file), key)
        return restore.verify(settings, Path(file), key)
    except BackupError as exc:
        raise CommandError(str(exc)) from None


def raise_open_files_limit() -> int:
    """Every gate holds a socket: lift the soft limit on open files to the hard one (often 1,024
    against 524,288), so a campus of 10,000 gates is not refused at the 1,025th. Raising the hard
    limit itself is the service manager's job (systemd `LimitNOFILE=`, `ulimit -Hn`)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _serve(settings: Settings, host: str, port: int, workers: int) -> None:
    import uvicorn

    from devices.protocol import TRANSPORT_MAX_BYTES

    raise_open_files_limit()

    # Migrate once here so several workers do not race at start-up.
    asyncio.run(_migrate(settings))
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ws_max_size=TRANSPORT_MAX_BYTES,
        ws="websockets-sansio",
        log_level="info",
        lifespan="on",
        proxy_headers=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gatehouse", description="Gatehouse access-control server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    admin = sub.add_parser("create-admin", help="create an ADMIN account")
    admin.add_argument("--username", required=True)
    admin.add_argument("--password", help="omit to be asked (keeps it out of the shell history)")
    admin.add_argument("--name", default="Administrator")
    unlock = sub.add_parser("unlock", help="end an account's sign-in delay after failed sign-ins")
    unlock.add_argument("user", metavar="USER")
    reset = sub.add_parser("reset-password", help="issue a new password (printed once) and end every session")
    reset.add_argument("user", metavar="USER")
    reset_2fa = sub.add_parser(
        "reset-second-factor", help="remove an account's second factor (a lost phone) and end every session"
    )
    reset_2fa.add_argument("user", metavar="USER")
    sub.add_parser("demo", help="load the demo site into an empty database and print its logins")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser("print-schema", help="print the GraphQL schema (SDL)")
    sub.add_parser("print-permissions", help="print the permission matrix (Markdown)")
    backup = sub.add_parser(
        "backup", help='write one encrypted backup file (README "Backups"); the master key is not in it'
    )
    backup.add_argument("--to", metavar="DIR", help="the directory to write it to (default: GATEHOUSE_BACKUP_DIR)")
    restore = sub.add_parser("restore", help="restore a backup file into an empty database (GATEHOUSE_DATABASE_URL)")
    restore.add_argument("file", metavar="FILE", help="a .ghbackup file `gatehouse backup` wrote")
    restore.add_argument("--key-file", metavar="PATH", help="a file holding the base64 master key that made the backup")
    verify = sub.add_parser("verify-backup", help="check that a backup file opens whole with the key, changing nothing")
    verify.add_argument("file", metavar="FILE", help="a .ghbackup file `gatehouse backup` wrote")
    verify.add_argument("--key-file", metavar="PATH", help="a file holding the base64 master key that made the backup")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        if args.command == "serve":
            if not (0 < args.port < 65536):
                raise CommandError("--port must be 1-65535")
            if args.workers < 1:
                raise CommandError("--workers must be at least 1")
            if args.workers > 1 and not settings.redis_url:
                # Used tokens, presence, device connections and events live per process without
                # Redis: workers would each keep their own and disagree (a token used twice).
                raise CommandError(
                    f"--workers {args.workers} needs GATEHOUSE_REDIS_URL: without Redis each worker keeps its own"
                    " scan state and events (run one worker, or set GATEHOUSE_REDIS_URL)"
                )
            _serve(settings, args.host, args.port, args.workers)
            return 0
        if args.command == "create-admin":
            password = args.password if args.password is not None else getpass.getpass("Password: ")
            print(asyncio.run(_create_admin(settings, args.username, password, args.name)))
        elif args.command == "unlock":
            print(asyncio.run(_unlock(settings, _username_arg(args.user))))
        elif args.command == "reset-password":
            print(asyncio.run(_reset_password(settings, _username_arg(args.user))))
        elif args.command == "reset-second-factor":
            print(asyncio.run(_reset_second_factor(settings, _username_arg(args.user))))
        elif args.command == "demo":
            print(asyncio.run(_demo(settings)))
        elif args.command == "migrate":
            print(asyncio.run(_migrate(settings)))
        elif args.command == "backup":
            print(asyncio.run(_backup(settings, args.to)))
        elif args.command in ("restore", "verify-backup"):
            print(_backup_file(settings, args.command, args.file, args.key_file))
        elif args.command == "print-schema":
            from schema.root import sdl

            sys.stdout.write(sdl())
        elif args.command == "print-permissions":
            from schema.core.permission_matrix import markdown

            sys.stdout.write(markdown())
        return 0
    except (CommandError, SettingsError) as exc:
        print(f"gatehouse: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gatehouse: cannot reach the database or key file: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
