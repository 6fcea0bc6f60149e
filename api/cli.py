"""`gatehouse` — operator commands. Every command that opens the database first migrates it."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from resolvers.core import db
from resolvers.core.crypto import KeyError_
from resolvers.core.settings import (
    PROJECT_DIR,
    Settings,
    SettingsError,
    problems,
    settings_markdown,
    settings_table,
    unknown_variables,
)

if TYPE_CHECKING:
    from resolvers.runtime import Runtime

T = TypeVar("T")
DEMO_FILE = PROJECT_DIR / "var" / "demo-credentials.txt"
LISTEN_BACKLOG = 65535


class CommandError(Exception):
    """A clear message for the operator; the command exits 2 and changes nothing."""


async def _with_database(settings: Settings, work: Callable[..., Awaitable[T]]) -> T:
    from resolvers.runtime import Runtime

    await db.start(settings.database_url)
    rt = Runtime.create(settings)
    try:
        await rt.load_keys()  # the keys kept in the database (labels, badges, device secrets)
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


async def _erase_person(settings: Settings, username: str, reason: str) -> str:
    from resolvers.core.errors import UserError
    from resolvers.people import erasure

    async def work(rt: Runtime) -> str:
        try:
            done = await erasure.erase_by_username(rt, username, reason)
        except UserError as exc:
            raise CommandError(exc.message) from None
        return (
            f"personal data of {username!r} erased: now {done.person.display_name!r} (person {done.person.id}); "
            f"{done.audit_entries_redacted} earlier audit entries name them by that pseudonym"
        )

    return await _with_database(settings, work)


async def _purge(settings: Settings) -> str:
    from resolvers.attendance import retention

    async def work(rt: Runtime) -> str:
        done = await retention.purge(rt)
        return (
            f"deleted {done.passages} gate events before {done.passages_before.isoformat()}, "
            f"{done.attendance} attendance records before {done.attendance_before.isoformat()}, "
            f"{done.audit} audit entries before {done.audit_before.isoformat()}"
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


async def _rotate_key(settings: Settings) -> str:
    from resolvers.core.crypto import KeyError_, parse_master_key
    from resolvers.key_rotation import RotationError, jwt_grace_until, rotate

    if settings.secret_key and settings.previous_secret_key:
        try:
            same = parse_master_key(settings.secret_key, "GATEHOUSE_SECRET_KEY") == parse_master_key(
                settings.previous_secret_key, "GATEHOUSE_PREVIOUS_SECRET_KEY"
            )
        except KeyError_ as exc:
            raise CommandError(str(exc)) from None
        if same:
            raise CommandError("GATEHOUSE_PREVIOUS_SECRET_KEY is the same key as GATEHOUSE_SECRET_KEY")
    elif settings.previous_secret_key:
        raise CommandError(
            "GATEHOUSE_PREVIOUS_SECRET_KEY goes with GATEHOUSE_SECRET_KEY (with a key file, the command makes"
            " the new key itself)"
        )

    async def work(rt: object) -> str:
        from resolvers.runtime import Runtime

        assert isinstance(rt, Runtime)
        try:
            report = await rotate(rt, say=lambda line: print(line, flush=True))
        except (RotationError, KeyError_) as exc:
            raise CommandError(str(exc)) from None
        return "\n".join(report.lines(jwt_grace_until(rt, report.old_key)))

    try:
        return await _with_database(settings, work)
    except KeyError_ as exc:
        raise CommandError(str(exc)) from None


async def _nothing(rt: object) -> None:
    return None


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


def checked_tls_files(certfile: str | None, keyfile: str | None) -> tuple[str, str] | None:
    """The certificate chain and key to serve TLS with, loaded here as uvicorn will load them, so a
    missing, unreadable, encrypted or mismatched file is one line before anything starts."""
    if not certfile and not keyfile:
        return None
    if not certfile or not keyfile:
        raise CommandError("TLS needs both --ssl-certfile and --ssl-keyfile (GATEHOUSE_SSL_CERTFILE/_KEYFILE)")
    import ssl

    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    contents = {}
    for flag, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        try:
            with open(path, "rb") as f:
                contents[flag] = f.read()
        except FileNotFoundError:
            raise CommandError(f"{flag} {path!r}: no such file") from None
        except PermissionError:
            raise CommandError(f"{flag} {path!r}: not readable by this user") from None
        except OSError as exc:
            raise CommandError(f"{flag} {path!r}: {exc.strerror or exc}") from None
    try:
        x509.load_pem_x509_certificates(contents["--ssl-certfile"])
    except ValueError:
        raise CommandError(f"--ssl-certfile {certfile!r} holds no PEM certificate") from None
    try:
        load_pem_private_key(contents["--ssl-keyfile"], password=None)
    except TypeError:
        # Nobody is at a terminal under systemd: an encrypted key would stop the start-up at a prompt.
        raise CommandError(f"--ssl-keyfile {keyfile!r} is encrypted: give the key without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        raise CommandError(f"--ssl-keyfile {keyfile!r} holds no PEM private key") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(certfile, keyfile, lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        if reason == "KEY_VALUES_MISMATCH":
            reason = "the key does not belong to the certificate"
        raise CommandError(f"--ssl-certfile/--ssl-keyfile cannot be used: {reason}") from None
    return certfile, keyfile


def version() -> str:
    """The installed distribution's version; a source tree that was never installed reads its pyproject."""
    import importlib.metadata

    try:
        return importlib.metadata.version("gatehouse")
    except importlib.metadata.PackageNotFoundError:
        import tomllib

        with open(PROJECT_DIR / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f)["project"]["version"])


def _database_url_problem(url: str) -> str | None:
    """What would stop the database from opening, found without creating it or connecting."""
    if url.startswith("sqlite://"):
        if url.startswith("sqlite://:memory:"):
            return None
        path = Path(url.removeprefix("sqlite://"))
        if not str(path) or str(path) == ".":
            return "GATEHOUSE_DATABASE_URL names no file (sqlite:///abs/path.sqlite3)"
        if path.exists():
            if not path.is_file():
                return f"GATEHOUSE_DATABASE_URL: {str(path)!r} is not a file"
            if not os.access(path, os.R_OK | os.W_OK):
                return f"GATEHOUSE_DATABASE_URL: {str(path)!r} cannot be read and written by this user"
            return None
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            where = f"{str(parent)!r} is not a writable directory"
            return f"GATEHOUSE_DATABASE_URL: {str(path)!r} cannot be created ({where})"
        return None
    from tortoise.backends.base.config_generator import expand_db_url
    from tortoise.exceptions import ConfigurationError

    try:
        credentials = expand_db_url(url)["credentials"]
    except (ConfigurationError, ValueError) as exc:
        # The URL itself is not repeated: it may hold a password.
        return f"GATEHOUSE_DATABASE_URL is not a valid database URL: {exc}"
    if not credentials.get("database"):
        return "GATEHOUSE_DATABASE_URL names no database (postgres://user:pw@host:5432/db)"
    return None


def side_effect_free_problems(settings: Settings, font: bool) -> list[str]:
    """Everything `Settings.from_env` cannot see that would stop a command half way: the master key,
    the database URL, the print font. Asked before anything is created or migrated."""
    from resolvers.core.crypto import master_key_problem

    found = [p for p in (master_key_problem(settings.secret_key, settings.key_file),) if p]
    database = _database_url_problem(settings.database_url)
    if database:
        found.append(database)
    if font and not found:  # last: a font found writes its start-up line, which a refusal need not carry
        from resolvers.core import fonts

        try:
            fonts.face()  # found once per process: the server's start uses this very answer
        except fonts.FontError as exc:
            found.append(str(exc))
    return found


def _serve(settings: Settings, host: str, port: int, workers: int, tls: tuple[str, str] | None = None) -> None:
    import uvicorn

    from api import logs
    from api.health import shared_metrics
    from api.websocket_protocol import WebSocketProtocol
    from devices.protocol import TRANSPORT_MAX_BYTES

    raise_open_files_limit()

    if tls:
        # The app (every worker) builds its settings from the environment: the flags win there too (HSTS).
        os.environ["GATEHOUSE_SSL_CERTFILE"], os.environ["GATEHOUSE_SSL_KEYFILE"] = tls
    # Migrate once here so several workers do not race at start-up; then open the database's keys
    # with the master key given, so a wrong key is one line here (KeyError_, exit 2), not a
    # traceback from every worker's start.
    migrated = asyncio.run(_migrate(settings))
    logging.getLogger("gatehouse").info("database: %s", migrated)
    asyncio.run(_with_database(settings, _nothing))
    # Several workers share their metrics through a directory (README "Health and metrics").
    with shared_metrics(workers):
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            ws_max_size=TRANSPORT_MAX_BYTES,
            # Connections waiting to be accepted: a campus's gates all reconnect at once after a network
            # cut, and uvicorn's 2,048 dropped the rest's handshakes, which then came back only after
            # TCP's retries (1, 3, 7, 15 s...). The kernel caps it at net.core.somaxconn (README).
            backlog=LISTEN_BACKLOG,
            ws=WebSocketProtocol,
            ws_ping_interval=settings.ws_ping_seconds,
            ws_ping_timeout=settings.ws_ping_seconds,
            # The same configuration in every worker: uvicorn applies it in each process it starts.
            log_config=logs.config(settings.log_format, settings.log_level),
            log_level=settings.log_level,
            lifespan="on",
            proxy_headers=False,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )


class _Help(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Each option's default in its help (none for required ones or those without a default);
    the epilog (the table of settings) as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.required or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


# Commands that do not open the database: their settings are not checked beyond from_env.
NO_DATABASE = ("print-schema", "print-permissions", "settings")
SETTINGS_EPILOG = "settings (environment variables; `gatehouse settings` lists them too):\n"
SHORT_EPILOG = (
    "Settings come from GATEHOUSE_* environment variables (GATEHOUSE_DATABASE_URL,\n"
    "GATEHOUSE_SECRET_KEY, ...): `gatehouse settings` lists every one with its default."
)


def _start_logs(settings: Settings, command: str, env: dict[str, str]) -> None:
    """Logs configured before anything else is said; a one-shot command prints its result on stdout
    and writes only warnings and errors (a demo load would otherwise interleave start-up lines)."""
    from api import logs

    level = settings.log_level if command == "serve" else max(settings.log_level, "warning", key=_severity)
    logs.configure(settings.log_format, level)
    warn = logging.getLogger("gatehouse.settings").warning
    for message in unknown_variables(env):
        warn("%s", message)


def _severity(level: str) -> int:
    return int(logging.getLevelName(level.upper()))


async def _test_webhook(settings: Settings, name: str) -> str:
    from resolvers.notifications.channels.base import DeliveryError
    from resolvers.notifications.channels.webhook import send_test

    if settings.webhooks is None or settings.webhooks.target(name) is None:
        known = ", ".join(t.name for t in settings.webhooks.targets) if settings.webhooks else "none"
        raise CommandError(f"no webhook target named {name!r} in GATEHOUSE_WEBHOOKS (targets: {known})")
    try:
        return await send_test(settings.webhooks, name)
    except DeliveryError as exc:
        later = "a temporary failure: retried later" if exc.retryable else "refused: not retried"
        raise CommandError(f"{exc} ({later})") from None


def _vapid_keys(out: str) -> int:
    """A new P-256 key pair: the private key to a new file only this user reads, the public key printed."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from resolvers.core.settings_webpush import private_key_pem, public_key_text

    key = ec.generate_private_key(ec.SECP256R1())
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        why = f"{exc.strerror} (an existing key file is never overwritten)"
        print(f"gatehouse: cannot create {out}: {why}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "wb") as file:
        file.write(private_key_pem(key))
    print(f"wrote the VAPID private key to {out}; set GATEHOUSE_VAPID_PRIVATE_KEY_FILE={out}")
    print(f"public key (pushPublicKey): {public_key_text(key)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatehouse",
        description="Gatehouse access-control server",
        epilog=SETTINGS_EPILOG + settings_table(),
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=8000, help="TCP port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes; more than one needs GATEHOUSE_REDIS_URL"
    )
    serve.add_argument("--ssl-certfile", help="serve HTTPS/WSS: the PEM certificate chain (GATEHOUSE_SSL_CERTFILE)")
    serve.add_argument("--ssl-keyfile", help="the PEM private key, without a passphrase (GATEHOUSE_SSL_KEYFILE)")
    admin = sub.add_parser("create-admin", help="create an ADMIN account")
    admin.add_argument("--username", required=True, help="the account's sign-in name")
    admin.add_argument("--password", help="omit to be asked (keeps it out of the shell history)")
    admin.add_argument("--name", default="Administrator", help="the person's name, in any script")
    unlock = sub.add_parser("unlock", help="end an account's sign-in delay after failed sign-ins")
    unlock.add_argument("user", metavar="USER", help="the account's username")
    reset = sub.add_parser("reset-password", help="issue a new password (printed once) and end every session")
    reset.add_argument("user", metavar="USER", help="the account's username")
    reset_2fa = sub.add_parser(
        "reset-second-factor", help="remove an account's second factor (a lost phone) and end every session"
    )
    reset_2fa.add_argument("user", metavar="USER", help="the account's username")
    erase = sub.add_parser(
        "erase-person",
        help="erase an offboarded person's personal data on request (PIPL art. 47); counts and the audit trail stay",
    )
    erase.add_argument("user", metavar="USER", help="the offboarded person's username")
    erase.add_argument("--reason", required=True, help="why (kept in the audit log; must not name the person)")
    sub.add_parser("purge", help="delete passages, attendance records and audit entries past their retention now")
    sub.add_parser("demo", help="load the demo site into an empty database and print its logins")
    sub.add_parser("migrate", help="bring the database schema up to date")
    sub.add_parser(
        "rotate-key",
        help='move personal data and keys to a new master key while the servers run (README "Keys")',
        description=(
            "With a key file: puts a new master key in it (the old one in <key file>.previous), re-seals every"
            " personal value and keyed hash under the new key in small batches, re-wraps the stored keys, then"
            " removes the old key; running servers pick the new key up by themselves. With GATEHOUSE_SECRET_KEY:"
            " give the new key there and the old one as GATEHOUSE_PREVIOUS_SECRET_KEY (to every server too, by"
            " a rolling restart). Run it again to finish a rotation that was interrupted. Access tokens signed"
            " with the old key stay valid for one access-token lifetime."
        ),
    )
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
    test_webhook = sub.add_parser(
        "test-webhook",
        help='post a test message to one GATEHOUSE_WEBHOOKS target and print its answer (README "Webhooks and robots")',
    )
    test_webhook.add_argument("name", metavar="NAME", help="the target's name in GATEHOUSE_WEBHOOKS")
    vapid = sub.add_parser(
        "vapid-keys", help="make a VAPID key pair for Web Push (GATEHOUSE_VAPID_PRIVATE_KEY_FILE), print the public key"
    )
    vapid.add_argument("--out", required=True, metavar="FILE", help="where to write the private key (PEM, mode 0600)")
    listing = sub.add_parser("settings", help="list every GATEHOUSE_* variable with its default and meaning")
    listing.add_argument("--markdown", action="store_true", help="as the README's table")
    sub.add_parser(
        "check-settings",
        help="check every setting (master key, database URL, font included) and exit 0, or 2 with one line per problem",
    )
    for name, command in sub.choices.items():
        command.formatter_class = _Help
        if command.epilog is None:
            command.epilog = SETTINGS_EPILOG + settings_table() if name in ("serve", "check-settings") else SHORT_EPILOG
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "settings":
        sys.stdout.write(settings_markdown() if args.markdown else settings_table() + "\n")
        return 0
    if args.command == "vapid-keys":
        return _vapid_keys(args.out)
    env = dict(os.environ)
    # Every bad setting, one line each, before anything is created, migrated or even logged.
    bad = problems(env)
    if bad:
        for problem in bad:
            print(f"gatehouse: {problem}", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env(env)
        _start_logs(settings, args.command, env)
        tls: tuple[str, str] | None = None
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
            tls = checked_tls_files(
                args.ssl_certfile or (str(settings.ssl_certfile) if settings.ssl_certfile else None),
                args.ssl_keyfile or (str(settings.ssl_keyfile) if settings.ssl_keyfile else None),
            )
        if args.command not in NO_DATABASE:
            bad = side_effect_free_problems(settings, font=args.command in ("serve", "check-settings"))
            if bad:
                for problem in bad:
                    print(f"gatehouse: {problem}", file=sys.stderr)
                return 2
        if args.command == "check-settings":
            print("settings are valid")
            return 0
        if args.command == "serve":
            _serve(settings, args.host, args.port, args.workers, tls)
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
        elif args.command == "erase-person":
            print(asyncio.run(_erase_person(settings, _username_arg(args.user), args.reason)))
        elif args.command == "purge":
            print(asyncio.run(_purge(settings)))
        elif args.command == "demo":
            print(asyncio.run(_demo(settings)))
        elif args.command == "migrate":
            print(asyncio.run(_migrate(settings)))
        elif args.command == "rotate-key":
            print(asyncio.run(_rotate_key(settings)))
        elif args.command == "backup":
            print(asyncio.run(_backup(settings, args.to)))
        elif args.command in ("restore", "verify-backup"):
            print(_backup_file(settings, args.command, args.file, args.key_file))
        elif args.command == "test-webhook":
            print(asyncio.run(_test_webhook(settings, args.name)))
        elif args.command == "print-schema":
            from schema.root import sdl

            sys.stdout.write(sdl())
        elif args.command == "print-permissions":
            from schema.core.permission_matrix import markdown

            sys.stdout.write(markdown())
        return 0
    except (CommandError, SettingsError, KeyError_) as exc:
        print(f"gatehouse: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"gatehouse: cannot reach the database or key file: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
