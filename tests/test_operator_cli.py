"""The operator's command line (issue 17): `--version`, help that lists every option's default and
every GATEHOUSE_* variable, a warning for a variable nothing reads, and every bad setting refused in
one line with exit code 2 before anything is created or migrated.

Each refusal runs the real `gatehouse` entry point in a process of its own (forked from the
harness's preloaded fork server, or a fresh interpreter with GATEHOUSE_TEST_FORK=0), with its own
environment, on a fresh directory: the test then looks at what the command left behind.
"""

from __future__ import annotations

import base64
import importlib.metadata
import io
import os
import re
import subprocess
import tokenize
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from api import cli
from resolvers.core.settings import NOT_SETTINGS, REGISTRY, SETTINGS, settings_markdown, unknown_variables
from tests.harness import FORK_SERVERS, GATEHOUSE, PROJECT, _fork_context


@dataclass
class Run:
    returncode: int
    output: str  # stdout and stderr together, as an operator's terminal shows them

    @property
    def lines(self) -> list[str]:
        return self.output.strip().splitlines()


def _env(tmp: Path, **settings: str) -> dict[str, str]:
    """A clean environment: no GATEHOUSE_* variable of the test run's own, a fresh directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env["GATEHOUSE_DATABASE_URL"] = f"sqlite://{tmp / 'gatehouse.sqlite3'}"
    env["GATEHOUSE_KEY_FILE"] = str(tmp / "gatehouse.key")
    env.update(settings)
    return env


def run_all(cases: list[tuple[list[str], dict[str, str]]], tmp: Path) -> list[Run]:
    """Run the commands side by side (each a real CLI process) and collect their exits and output."""
    if FORK_SERVERS:
        from tests.server_child import run_cli

        started = []
        for n, (argv, env) in enumerate(cases):
            out = tmp / f"cli-{n}.out"
            process = _fork_context().Process(target=run_cli, args=(argv, env, str(PROJECT), str(out)))
            process.start()
            started.append((process, out))
        runs = []
        for process, out in started:
            process.join(60)
            assert process.exitcode is not None, "the command did not end"
            runs.append(Run(process.exitcode, out.read_text()))
        return runs
    procs = [
        subprocess.Popen(
            [*GATEHOUSE, *argv], cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for argv, env in cases
    ]
    return [Run(p.wait(60), p.communicate()[0]) for p in procs]


def _dirs(tmp: Path, n: int) -> Iterator[Path]:
    for i in range(n):
        d = tmp / f"site{i}"
        d.mkdir()
        yield d


GOOD_KEY = base64.b64encode(bytes(range(32))).decode()


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"gatehouse {importlib.metadata.version('gatehouse')}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", cli.version())


def _help(argv: list[str]) -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "-h"])
    assert exit_.value.code == 0
    return re.sub(r"\n +", " ", out.getvalue())  # argparse wraps a help line where it likes


def test_every_option_of_every_command_has_help() -> None:
    import argparse

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert {"serve", "migrate", "demo", "settings", "check-settings"} <= set(commands)
    for name, command in commands.items():
        for action in command._actions:
            assert action.help, (name, action.dest)


def test_help_shows_each_options_default_and_every_setting() -> None:
    serve = _help(["serve"])
    assert "--port PORT" in serve and "(default: 8000)" in serve and "(default: 127.0.0.1)" in serve
    assert "(default: 1)" in serve  # --workers
    for setting in REGISTRY:
        assert setting.name in serve, setting.name
        assert f"{setting.name}  (default: {setting.default.replace('`', '')})" in serve, setting.name
    assert "GATEHOUSE_LOG_FORMAT  (default: text)" in serve
    top = _help([])
    assert all(s.name in top for s in REGISTRY)
    # Every subcommand's options with a default show it; the others point at the list of settings.
    admin = _help(["create-admin"])
    assert "(default: Administrator)" in admin and "gatehouse settings" in admin
    assert "the account's username" in _help(["unlock"])
    listing = io.StringIO()
    with redirect_stdout(listing):
        assert cli.main(["settings"]) == 0
    assert all(f"{s.name}  (default: {s.default.replace('`', '')})" in listing.getvalue() for s in REGISTRY)


def test_unknown_variable_is_warned_about_with_the_closest_setting() -> None:
    env = {
        "GATEHOUSE_TIMEZONE": "Asia/Shanghai",
        "GATEHOUSE_SECRETKEY": "x",
        "GATEHOUSE_NOTHING_LIKE_IT": "1",
        "GATEHOUSE_TIME_ZONE": "UTC",
        "GATEHOUSE_TEST_FORK": "1",  # the tests' own: not a server setting, not warned about
        "OTHER": "1",
    }
    assert unknown_variables(env) == [
        "GATEHOUSE_NOTHING_LIKE_IT is not a Gatehouse setting (gatehouse settings lists them)",
        "GATEHOUSE_SECRETKEY is not a Gatehouse setting (did you mean GATEHOUSE_SECRET_KEY?)",
        "GATEHOUSE_TIMEZONE is not a Gatehouse setting (did you mean GATEHOUSE_TIME_ZONE?)",
    ]


def test_bad_settings_are_one_line_each_exit_2_and_create_nothing(tmp_path: Path) -> None:
    sites = list(_dirs(tmp_path, 12))
    unreadable = sites[3] / "gatehouse.key"
    unreadable.mkdir()  # a key "file" that cannot be read
    (sites[4] / "gatehouse.key").write_text("not a key\n")
    cases = [
        # A malformed key on serve, migrate and demo: before this, serve created and migrated a new
        # database and then printed a 36-line traceback.
        (["serve", "--port", "1"], _env(sites[0], GATEHOUSE_SECRET_KEY="not-base64!")),
        (["migrate"], _env(sites[1], GATEHOUSE_SECRET_KEY=base64.b64encode(b"short").decode())),
        (["demo"], _env(sites[2], GATEHOUSE_SECRET_KEY="x" * 44)),
        (["migrate"], _env(sites[3])),
        (["serve"], _env(sites[4])),
        (["migrate"], _env(sites[5], GATEHOUSE_TIME_ZONE="Mars/Olympus_Mons")),
        (["demo"], _env(sites[6], GATEHOUSE_HEARTBEAT_SECONDS="thirty", GATEHOUSE_LOG_FORMAT="xml")),
        (["migrate"], _env(sites[7], GATEHOUSE_DATABASE_URL="postgres://u:secret@db:port/x")),
        (["check-settings"], _env(sites[8], GATEHOUSE_FONT=str(sites[8] / "missing.ttf"))),
        # The account commands read the same settings the same way.
        (["create-admin", "--username", "root2", "--password", "x" * 20], _env(sites[9], GATEHOUSE_SECRET_KEY="?")),
        (["unlock", "alice"], _env(sites[10], GATEHOUSE_SECOND_FACTOR="sometimes")),
        (["reset-password", "bob"], _env(sites[11], GATEHOUSE_REDIS_URL="http://cache")),
    ]
    runs = run_all(cases, tmp_path)
    expected = [
        ["GATEHOUSE_SECRET_KEY must be 32 bytes in standard base64"],
        ["GATEHOUSE_SECRET_KEY must be 32 bytes in standard base64"],
        ["GATEHOUSE_SECRET_KEY must be 32 bytes in standard base64"],
        [f"GATEHOUSE_KEY_FILE '{unreadable}' cannot be read"],
        [f"GATEHOUSE_KEY_FILE '{sites[4] / 'gatehouse.key'}' does not hold a 32-byte base64 key"],
        ["GATEHOUSE_TIME_ZONE 'Mars/Olympus_Mons' is not an IANA time zone"],
        # Every bad setting at once, one line each.
        [
            "GATEHOUSE_HEARTBEAT_SECONDS must be a whole number, got 'thirty'",
            "GATEHOUSE_LOG_FORMAT must be text or json",
        ],
        ["GATEHOUSE_DATABASE_URL is not a valid database URL: Port is not an integer"],
        ["GATEHOUSE_FONT="],
        ["GATEHOUSE_SECRET_KEY must be 32 bytes in standard base64"],
        ["GATEHOUSE_SECOND_FACTOR must be required or optional"],
        ["GATEHOUSE_REDIS_URL must start with redis://"],
    ]
    for run, site, want, (argv, _) in zip(runs, sites, expected, cases, strict=True):
        assert run.returncode == 2, (argv, run.output)
        assert len(run.lines) == len(want), (argv, run.output)
        for line, start in zip(run.lines, want, strict=True):
            assert line.startswith(f"gatehouse: {start}"), (argv, line)
        assert "Traceback" not in run.output and "secret" not in run.output, run.output
        # Nothing created: no database, no key file, no other file.
        left = {p.name for p in site.iterdir()} - ({"gatehouse.key"} if site in sites[3:5] else set())
        assert left == set(), (argv, left)


def test_good_settings_pass_the_check_with_the_unknown_variable_warned(tmp_path: Path) -> None:
    ok, unknown = run_all(
        [
            (["check-settings"], _env(tmp_path, GATEHOUSE_SECRET_KEY=GOOD_KEY)),
            (["check-settings"], _env(tmp_path, GATEHOUSE_TIMEZONE="Asia/Shanghai", GATEHOUSE_LOG_FORMAT="json")),
        ],
        tmp_path,
    )
    assert (ok.returncode, ok.lines) == (0, ["settings are valid"]), ok.output
    assert unknown.returncode == 0, unknown.output
    warning, verdict = unknown.lines
    assert verdict == "settings are valid"
    import json

    entry = json.loads(warning)
    assert entry["level"] == "WARNING" and entry["logger"] == "gatehouse.settings", entry
    assert entry["message"] == "GATEHOUSE_TIMEZONE is not a Gatehouse setting (did you mean GATEHOUSE_TIME_ZONE?)"
    # A check creates nothing either: the key file is made by the first real start.
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("cli-")) == []


# --------------------------------------------------------------------------- the registry stays whole

SOURCE_DIRS = ("api", "schema", "resolvers", "realtime", "devices", "tests", "bench", "mobile_contracts")
NAME = re.compile(r"GATEHOUSE_[A-Z0-9_]*[A-Z0-9]")
# This file names misspelt variables on purpose; the registry's own entries are not readers of it.
NOT_SCANNED = {"tests/test_operator_cli.py"}


def _registry_lines() -> range:
    lines = (PROJECT / "resolvers/core/settings.py").read_text().splitlines()
    start = next(i for i, line in enumerate(lines, 1) if line.startswith("REGISTRY:"))
    end = next(i for i, line in enumerate(lines, 1) if line.startswith("SETTINGS:"))
    return range(start, end)


def _names_in_string_literals() -> dict[str, set[str]]:
    """Every GATEHOUSE_* name inside a Python string literal of the project, and where it is."""
    found: dict[str, set[str]] = {}
    registry = _registry_lines()
    for top in SOURCE_DIRS:
        for path in sorted((PROJECT / top).rglob("*.py")):
            where = str(path.relative_to(PROJECT))
            if where in NOT_SCANNED:
                continue
            source = path.read_bytes()
            if b"GATEHOUSE_" not in source:  # most files: no need to tokenize them
                continue
            for token in tokenize.tokenize(io.BytesIO(source).readline):
                if where == "resolvers/core/settings.py" and token.start[0] in registry:
                    continue
                if token.type in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)):
                    for name in NAME.findall(token.string):
                        found.setdefault(name, set()).add(where)
    makefile = (PROJECT / "Makefile").read_text()
    for name in NAME.findall(makefile):
        found.setdefault(name, set()).add("Makefile")
    return found


def test_every_variable_the_source_names_is_in_the_registry() -> None:
    """A setting added in one branch (env.get("GATEHOUSE_...")) and forgotten in the registry would
    be missing from the help, the README table, and warned about as unknown: fail here instead.
    NOT_SETTINGS lists the names that are not server settings (the tests' own)."""
    found = _names_in_string_literals()
    assert "GATEHOUSE_DATABASE_URL" in found and "GATEHOUSE_TEST_FORK" in found  # the scan works
    missing = {
        name: sorted(where) for name, where in found.items() if name not in SETTINGS and name not in NOT_SETTINGS
    }
    assert missing == {}, f"add these to REGISTRY (or NOT_SETTINGS) in resolvers/core/settings.py: {missing}"
    assert not set(SETTINGS) & set(NOT_SETTINGS)
    # And nothing in the registry that no code reads: a stale entry would document a dead setting.
    unread = sorted(set(SETTINGS) - set(found))
    assert unread == [], f"registered but never read: {unread}"


def test_the_readme_table_is_the_registry() -> None:
    readme = (PROJECT / "README.md").read_text()
    block = readme.split("<!-- settings:start -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert block == settings_markdown(), "README settings table is stale: run `gatehouse settings --markdown`"


def test_the_registry_defaults_are_the_ones_in_force() -> None:
    """The defaults the help shows are the ones from_env applies with nothing set."""
    from resolvers.core.settings import Settings

    plain = Settings.from_env({})
    shown = {s.name: s.default for s in REGISTRY}
    assert shown["GATEHOUSE_TIME_ZONE"] == plain.time_zone
    assert shown["GATEHOUSE_REDIS_PREFIX"] == plain.redis_prefix
    assert shown["GATEHOUSE_SECOND_FACTOR"] == plain.second_factor
    assert shown["GATEHOUSE_LOG_FORMAT"] == plain.log_format and shown["GATEHOUSE_LOG_LEVEL"] == plain.log_level
    assert ",".join(plain.approval_fallback_roles) == shown["GATEHOUSE_APPROVAL_FALLBACK_ROLES"]
    numbers = {
        "GATEHOUSE_HEARTBEAT_SECONDS": plain.heartbeat_seconds,
        "GATEHOUSE_ACCESS_TOKEN_MINUTES": plain.access_token_minutes,
        "GATEHOUSE_REFRESH_TOKEN_DAYS": plain.refresh_token_days,
        "GATEHOUSE_DOOR_OPEN_MS": plain.door_open_ms,
        "GATEHOUSE_MAX_BODY_BYTES": plain.max_body_bytes,
        "GATEHOUSE_OPERATION_SECONDS": plain.operation_seconds,
        "GATEHOUSE_VISITOR_RETENTION_DAYS": plain.visitor_retention_days,
        "GATEHOUSE_UPKEEP_SECONDS": plain.upkeep_seconds,
        "GATEHOUSE_APPROVAL_ESCALATE_HOURS": plain.approval_escalate_hours,
        "GATEHOUSE_EMERGENCY_ESCALATE_MINUTES": plain.emergency_escalate_minutes,
        "GATEHOUSE_CONFIRMATION_MINUTES": plain.confirmation_minutes,
    }
    for name, value in numbers.items():
        assert float(shown[name]) == value, name


def test_version_falls_back_to_the_pyproject_of_a_tree_never_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import tomllib

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    with (PROJECT / "pyproject.toml").open("rb") as f:
        assert cli.version() == tomllib.load(f)["project"]["version"]


def test_paths_that_cannot_be_created_are_found_before_anything_is(tmp_path: Path) -> None:
    """A key file or database under a path that is a file, or a database path that is a directory:
    found by looking, with nothing created (in-process: no start-up is needed to see it)."""
    from resolvers.core.settings import Settings

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "a-dir").mkdir()
    settings = Settings.from_env(
        {
            "GATEHOUSE_KEY_FILE": str(blocker / "keys" / "gatehouse.key"),
            "GATEHOUSE_DATABASE_URL": f"sqlite://{tmp_path / 'a-dir'}",
        }
    )
    assert cli.side_effect_free_problems(settings, font=False) == [
        f"GATEHOUSE_KEY_FILE '{blocker / 'keys' / 'gatehouse.key'}' cannot be created: '{blocker}' is not a writable"
        " directory",
        f"GATEHOUSE_DATABASE_URL: '{tmp_path / 'a-dir'}' is not a file",
    ]
    under_file = Settings.from_env(
        {"GATEHOUSE_SECRET_KEY": GOOD_KEY, "GATEHOUSE_DATABASE_URL": f"sqlite://{blocker}/db/gatehouse.sqlite3"}
    )
    assert cli.side_effect_free_problems(under_file, font=False) == [
        f"GATEHOUSE_DATABASE_URL: '{blocker}/db/gatehouse.sqlite3' cannot be created"
        f" ('{blocker}' is not a writable directory)"
    ]
    no_database = Settings.from_env({"GATEHOUSE_SECRET_KEY": GOOD_KEY, "GATEHOUSE_DATABASE_URL": "postgres://h:5432/"})
    assert cli.side_effect_free_problems(no_database, font=False) == [
        "GATEHOUSE_DATABASE_URL names no database (postgres://user:pw@host:5432/db)"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-dir", "a-file"]
