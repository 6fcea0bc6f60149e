"""Test harness: real server processes, real clients, real databases.

A `Site` is a database loaded with the demo site, served by one or more real
`gatehouse serve` processes on free loopback ports. The demo is loaded once per test
session (`gatehouse demo` into a `SiteTemplate`, every demo user signed in once); each
test serves its own copy of that database (a file copy on SQLite, `CREATE DATABASE ...
TEMPLATE` on PostgreSQL), so nothing leaks between tests and no test pays for the load.

Servers are forked from a process that imported the server once (tests/server_child.py)
and read the time on their site's `ServerClock`, which a test moves forward instead of
waiting. `GraphQLClient` is the suite's one client; `World` is a site as a test sees it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import mmap
import multiprocessing
import os
import re
import secrets
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken

PROJECT = Path(__file__).resolve().parent.parent
GATEHOUSE = [sys.executable, "-m", "api.cli"]
POSTGRES_URL = os.environ.get("GATEHOUSE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEHOUSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Servers are forked from a process that has imported the server once (tests/server_child.py);
# GATEHOUSE_TEST_FORK=0 starts each one in a fresh interpreter instead (`python -m tests.server_child serve`).
FORK_SERVERS = os.environ.get("GATEHOUSE_TEST_FORK", "1").lower() not in ("0", "false", "no")
# Tokens signed in on the template outlive any test session.
TEMPLATE_TOKEN_MINUTES = "720"
DEMO_USERS = (
    "admin",
    "security",
    "hr",
    "guard",
    "alice",
    "carol",
    "bob",
    "dave",
    "fiona",
    "wendy",
    "paul",
    "amy",
    "eve",
    "audrey",
    "lina",
    "zhangwei",
    "zoe",
    "sophie",
    "marta",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> str | None:
    """None when the service answers; else why to skip (or, under CI, fail)."""
    if reachable(host, port):
        return None
    return f"{name} is not reachable at {host}:{port}"


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float, what: str) -> None:
    """Wait until `check()` holds (polling every 20 ms); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- HTTP


@cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def http_client(**kwargs: Any) -> httpx.AsyncClient:
    """An httpx client. Building one loads the CA bundle (~20-60 ms of CPU) unless it is handed a
    ready SSL context: the suite makes thousands, so they share one (loopback is plain HTTP anyway)."""
    kwargs.setdefault("timeout", 30)
    return httpx.AsyncClient(verify=_ssl_context(), **kwargs)


def sync_http_client(**kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 30)
    return httpx.Client(verify=_ssl_context(), **kwargs)


def _healthy(port: int) -> bool:
    """GET /healthz answers 200 (a raw request: cheaper than a client per poll)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


# --------------------------------------------------------------------------- PostgreSQL


def _admin_dsn() -> str:
    return POSTGRES_URL.replace("postgres://", "postgresql://", 1)


def postgres_url_of(name: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


async def create_postgres_database(template: str | None = None) -> str:
    """A fresh database on the test server (empty, or a copy of `template`); returns its URL."""
    import asyncpg

    name = "gh_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(_admin_dsn())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    finally:
        await conn.close()
    return postgres_url_of(name)


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_admin_dsn())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --------------------------------------------------------------------------- the demo site


@dataclass
class Demo:
    passwords: dict[str, str]
    device_id: str
    device_secret: str
    gates: dict[str, str]
    # The sessions of the demo users, signed in once on the template (see SiteTemplate).
    tokens: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Demo:
        passwords = dict(re.findall(r"^\s+(\w+)\s+(\S{4}-\S{4}-\S{4}-\S{4})\s", text, re.M))
        m = re.search(r"id (\d+)\s+secret (\S+)", text)
        assert m, text
        gates = dict(re.findall(r"([A-Z][\w ]+?) = (\d+)", text.split("Gates:", 1)[1]))
        return cls(passwords, m.group(1), m.group(2), {k.strip(): v for k, v in gates.items()})


@dataclass(frozen=True)
class Ids:
    """Names → ids of the demo site, as an admin reads them through the API."""

    zones: dict[str, str]
    departments: dict[str, str]
    people: dict[str, str]  # username → person id
    members: dict[str, list[str]]  # department name → usernames, by id

    QUERY = (
        "{ zones { id name } departments { id name }"
        " people(first: 100) { edges { node { id username department { name } } } } }"
    )

    @classmethod
    async def read(cls, server: ServerProcess, token: str) -> Ids:
        """Read again now (after a test changed the site)."""
        return cls.of(await GraphQLClient(server, token).ok(cls.QUERY))

    @classmethod
    def of(cls, data: dict[str, Any]) -> Ids:
        members: dict[str, list[str]] = {}
        people: dict[str, str] = {}
        for edge in data["people"]["edges"]:
            node = edge["node"]
            if node["username"]:
                people[node["username"]] = node["id"]
            if node["department"]:
                members.setdefault(node["department"]["name"], []).append(node["username"])
        return cls(
            {z["name"]: z["id"] for z in data["zones"]},
            {d["name"]: d["id"] for d in data["departments"]},
            people,
            members,
        )


# --------------------------------------------------------------------------- the servers' clock


class ServerClock:
    """The wall clock of a site's servers, which the test moves forward instead of waiting.

    The servers read the time through `resolvers.core.clock`; the harness's servers read it as the
    real clock plus an offset kept in a small file both sides map (tests/server_child.py). The
    test's phones sign pass tokens on the same clock. Offsets only grow: time never runs back.

    One thing does not follow: PyJWT checks an access token's `iat` and `exp` against the real
    clock (resolvers/people/auth_tokens.py), so a session signed in *after* the clock moved is
    "not yet valid" until real time catches up. Sign in first (the template's sessions are), then
    move the clock."""

    def __init__(self, path: Path) -> None:
        path.write_bytes(struct.pack("d", 0.0))
        self.path = path
        fd = os.open(path, os.O_RDWR)
        self._shared = mmap.mmap(fd, 8)
        os.close(fd)

    @property
    def offset(self) -> float:
        value: float = struct.unpack_from("d", self._shared)[0]
        return value

    def unix(self) -> float:
        return time.time() + self.offset

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.unix(), UTC)

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "the servers' clock only moves forward"
        struct.pack_into("d", self._shared, 0, self.offset + seconds)

    def advance_to(self, moment: datetime) -> None:
        """The servers' time is now `moment` (if it was not later already)."""
        self.advance(max(0.0, (moment - self.now()).total_seconds()))

    def start_of_step(self, period: int = passtoken.DEFAULT_PERIOD) -> float:
        """Move just past the next pass-token step boundary: a whole step lies ahead, so tokens of
        steps −1, 0 and +1 stay valid for the next 14 s whatever the machine's load. The time."""
        now = self.unix()
        self.advance(period - now % period + 0.05)
        return self.unix()


# --------------------------------------------------------------------------- server processes


class _ForkedProcess:
    """The parts of `subprocess.Popen` the tests use, for a process forked by the fork server."""

    def __init__(self, process: multiprocessing.process.BaseProcess) -> None:
        self.process = process

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.exitcode

    def terminate(self) -> None:
        self.process.terminate()

    def kill(self) -> None:
        self.process.kill()

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired("gatehouse serve", timeout or 0)
        return self.process.exitcode


@cache
def _fork_context() -> Any:
    from tests.server_child import PRELOAD

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    # The fork server must import `tests.server_child` and the server from this tree, wherever
    # pytest was started: it inherits PYTHONPATH from this process when it starts.
    paths = [str(PROJECT), str(PROJECT / "devices" / "gate_agent")]
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, *([old] if old else [])])
    try:
        from multiprocessing import forkserver

        forkserver.ensure_running()
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    return context


@dataclass
class ServerProcess:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | _ForkedProcess | None = None
    log_path: Path | None = None
    clock: ServerClock | None = None  # when the server follows a test clock
    args: list[str] = field(default_factory=list)  # more `gatehouse serve` flags

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> None:
        """Start the server and wait until it serves; on a port another process took between
        `free_port` and the bind (a server of another test process, a client's ephemeral port),
        again on a new port."""
        for attempt in range(3):
            if attempt:
                self.port = free_port()
            if self._start_once(log_dir):
                return
        raise RuntimeError(f"server could not bind a free port: {self.log()}")

    def _start_once(self, log_dir: Path) -> bool:
        self.log_path = log_dir / f"server-{self.port}.log"
        argv = ["serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        if FORK_SERVERS:
            from tests.server_child import run_cli

            process = _fork_context().Process(
                target=run_cli, args=(argv, self.env, str(PROJECT), str(self.log_path)), daemon=True
            )
            process.start()
            self.proc = _ForkedProcess(process)
        else:
            with open(self.log_path, "wb") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "tests.server_child", *argv],
                    cwd=PROJECT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        # Only this server's own log says it bound the port: until then a /healthz answer on the
        # port may come from another test's server (CI once sent a guard's token to one).
        bound = re.compile(rf"running on https?://127\.0\.0\.1:{self.port}\b")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "address already in use" in self._whole_log():
                    return False
                raise RuntimeError(f"server exited: {self.log()}")
            if bound.search(self._whole_log()) and self.healthy():
                return True
            time.sleep(0.02)  # polling the condition: is the server up?
        raise RuntimeError(f"server did not start: {self.log()}")

    def healthy(self) -> bool:
        return _healthy(self.port)

    def stop(self, wait: bool = True) -> None:
        """SIGTERM: the server shuts down cleanly. `wait=False` lets it finish on its own."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            if wait:
                self.wait_stopped()

    def wait_stopped(self) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _whole_log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log(self) -> str:
        """The end of the server's log ("" until the forked child has opened it)."""
        return self._whole_log()[-5000:]


_stopping: list[ServerProcess] = []


def reap_servers() -> None:
    """Wait for the servers let go of (Site.let_go) to have exited."""
    while _stopping:
        _stopping.pop().wait_stopped()


def _site_env(tmp: Path, database_url: str | None, secret_key: str | None) -> dict[str, str]:
    return {
        **os.environ,
        "GATEHOUSE_DATABASE_URL": database_url or f"sqlite://{tmp / 'gatehouse.sqlite3'}",
        "GATEHOUSE_SECRET_KEY": secret_key or base64.b64encode(secrets.token_bytes(32)).decode(),
        "GATEHOUSE_KEY_FILE": str(tmp / "unused.key"),
        "GATEHOUSE_GRAPHIQL": "0",
        # Most tests act as the demo admin, signed in once on the template with a password alone,
        # and run dangerous operations long (on the moved clock) after that sign-in: the second
        # factor and the confirmation window are tested with their defaults in test_second_factor.py.
        "GATEHOUSE_SECOND_FACTOR": "optional",
        "GATEHOUSE_CONFIRMATION_MINUTES": str(10 * 366 * 24 * 60),
    }


class Site:
    """A demo site on a database, and the server processes that serve it."""

    def __init__(
        self, tmp: Path, database_url: str | None = None, redis_url: str | None = None, secret_key: str | None = None
    ) -> None:
        self.tmp = tmp
        self.env = _site_env(tmp, database_url, secret_key)
        if redis_url:
            self.env["GATEHOUSE_REDIS_URL"] = redis_url
            self.env["GATEHOUSE_REDIS_PREFIX"] = f"ghtest:{uuid.uuid4().hex[:8]}:"
        self.clock = ServerClock(tmp / "clock")
        self.env["GATEHOUSE_TEST_CLOCK_FILE"] = str(self.clock.path)
        self.servers: list[ServerProcess] = []
        self.demo: Demo | None = None
        self.ids: Ids | None = None

    @property
    def database_url(self) -> str:
        return self.env["GATEHOUSE_DATABASE_URL"]

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*GATEHOUSE, *args], cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"gatehouse {' '.join(args)} failed: {result.stderr}")
        return result

    def load_demo(self) -> Demo:
        """`gatehouse demo` into this site's (empty) database."""
        if FORK_SERVERS:  # the same command, in a process forked from the preloaded parent
            from tests.server_child import run_cli

            out = self.tmp / "demo.out"
            process = _fork_context().Process(target=run_cli, args=(["demo"], self.env, str(PROJECT), str(out)))
            process.start()
            process.join(120)
            text = out.read_text()
            if process.exitcode != 0:
                raise RuntimeError(f"gatehouse demo failed ({process.exitcode}): {text}")
        else:
            text = self.cli("demo").stdout
        self.demo = Demo.parse(text)
        return self.demo

    def start_server(self, **extra_env: str) -> ServerProcess:
        server = ServerProcess(env={**self.env, **extra_env}, clock=self.clock)
        server.start(self.tmp)
        self.servers.append(server)
        return server

    def stop(self) -> None:
        """Every server stopped cleanly (they shut down side by side)."""
        for server in self.servers:
            server.stop(wait=False)
        for server in self.servers:
            server.wait_stopped()

    def let_go(self) -> None:
        """Every server told to stop, without waiting for it (a test's teardown: nothing reads
        this site again; `reap_servers` collects them before the session ends)."""
        for server in self.servers:
            server.stop(wait=False)
        _stopping.extend(self.servers)

    def client(self, username: str | None = None, server: int = 0) -> GraphQLClient:
        """A client of one of the servers, signed in as a demo user (or anonymous)."""
        return GraphQLClient(self.servers[server], demo=self.demo, as_=username)


@dataclass(frozen=True)
class SiteTemplate:
    """The demo site loaded once (`gatehouse demo`), every demo user signed in, names → ids read;
    each test serves its own copy (same secret key, passwords, tokens and ids)."""

    env: dict[str, str]
    demo: Demo
    ids: Ids

    @classmethod
    def build(cls, tmp: Path, database_url: str | None = None) -> SiteTemplate:
        site = Site(tmp, database_url)
        demo = site.load_demo()
        server = site.start_server(GATEHOUSE_ACCESS_TOKEN_MINUTES=TEMPLATE_TOKEN_MINUTES)
        try:
            with sync_http_client() as http:

                def ask(query: str, variables: dict[str, Any], token: str | None = None) -> Any:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    body = http.post(
                        server.http + "/graphql", json={"query": query, "variables": variables}, headers=headers
                    ).json()
                    assert not body.get("errors"), body
                    return body["data"]

                for username in DEMO_USERS:
                    login = ask(LOGIN, {"u": username, "p": demo.passwords[username]})["login"]
                    assert login["errors"] == [], login
                    demo.tokens[username] = login["session"]["accessToken"]
                    demo.refresh_tokens[username] = login["session"]["refreshToken"]
                ids = Ids.of(ask(Ids.QUERY, {}, demo.tokens["admin"]))
        finally:
            site.stop()  # a clean shutdown folds SQLite's write-ahead log into the file
        return cls(site.env, demo, ids)

    @property
    def database_url(self) -> str:
        return self.env["GATEHOUSE_DATABASE_URL"]

    def sqlite_copy(self, tmp: Path, redis_url: str | None = None) -> Site:
        source = Path(self.database_url.removeprefix("sqlite://"))
        for suffix in ("", "-wal"):  # the file, and its write-ahead log if one was left
            if Path(f"{source}{suffix}").exists():
                shutil.copy(f"{source}{suffix}", tmp / f"gatehouse.sqlite3{suffix}")
        return self._site(tmp, None, redis_url)

    async def postgres_copy(self, tmp: Path, redis_url: str | None = None) -> Site:
        url = await create_postgres_database(template=self.database_url.rsplit("/", 1)[1])
        return self._site(tmp, url, redis_url)

    def _site(self, tmp: Path, database_url: str | None, redis_url: str | None) -> Site:
        site = Site(tmp, database_url, redis_url, secret_key=self.env["GATEHOUSE_SECRET_KEY"])
        site.demo = Demo(
            dict(self.demo.passwords),
            self.demo.device_id,
            self.demo.device_secret,
            dict(self.demo.gates),
            dict(self.demo.tokens),
            dict(self.demo.refresh_tokens),
        )
        site.ids = self.ids
        return site


# --------------------------------------------------------------------------- GraphQL over HTTP

LOGIN = (
    "mutation($u:String!,$p:String!){login(username:$u,password:$p)"
    "{session{accessToken refreshToken} errors{code message field}}}"
)


def error_codes(answer: dict[str, Any]) -> list[str | None]:
    """The `extensions.code` of each top-level error."""
    return [(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []]


class GraphQLClient:
    """GraphQL over HTTP to one server: the suite's one client.

    A client has a default caller (`token`); any request may name another with `as_` (a demo
    username, whose token the template signed in, or a bearer token) or `token`. Every answer
    is a 200 or 400, never a 500 nor an INTERNAL_SERVER_ERROR. `op` posts a contract operation
    by name with its `operationName`, as the apps do, from `operations` (name → document).
    """

    def __init__(
        self,
        server: ServerProcess,
        token: str | None = None,
        *,
        demo: Demo | None = None,
        as_: str | None = None,
        operations: dict[str, str] | None = None,
    ) -> None:
        self.server = server
        self.demo = demo
        self.operations = operations if operations is not None else {}
        self.token = self._token_of(as_) if as_ is not None else token

    @property
    def tokens(self) -> dict[str, str]:
        """Demo username → the token that stands for it (a test may swap in a session of its own)."""
        assert self.demo is not None
        return self.demo.tokens

    def _token_of(self, caller: str) -> str:
        """A demo username stands for its token; anything else is a token already."""
        if self.demo is not None and caller in self.demo.tokens:
            return self.demo.tokens[caller]
        return caller

    def user(self, caller: str | None) -> GraphQLClient:
        """This server, as another caller: a demo username, a token, or None (anonymous)."""
        client = GraphQLClient(self.server, demo=self.demo, operations=self.operations)
        client.token = None if caller is None else self._token_of(caller)
        return client

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        as_: str | None = None,
        op: str | None = None,
    ) -> dict[str, Any]:
        """The whole answer. `op` names a contract operation to send instead of `query`."""
        token = self._token_of(as_) if as_ is not None else self.token
        body: dict[str, Any] = {"query": self.operations[op] if op else query, "variables": variables or {}}
        if op:
            body["operationName"] = op
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http_client() as client:
            r = await client.post(self.server.http + "/graphql", json=body, headers=headers)
        assert r.status_code in (200, 400), (r.status_code, r.text)
        answer: dict[str, Any] = r.json()
        assert "INTERNAL_SERVER_ERROR" not in error_codes(answer), answer
        return answer

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None, *, as_: str | None = None
    ) -> dict[str, Any]:
        return await self.raw(query, variables, as_ if as_ is not None else token)

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None, *, as_: str | None = None
    ) -> Any:
        """The `data` of an answer that must have no errors."""
        body = await self.raw(query, variables, as_ if as_ is not None else token)
        assert not body.get("errors"), body
        return body["data"]

    async def op(self, name: str, variables: dict[str, Any] | None = None, as_: str | None = None) -> dict[str, Any]:
        """A contract operation, sent exactly as the apps send it; the whole answer."""
        return await self.raw("", variables, as_, op=name)

    async def op_ok(self, name: str, variables: dict[str, Any] | None = None, as_: str | None = None) -> Any:
        body = await self.op(name, variables, as_)
        assert not body.get("errors"), body
        return body["data"]

    async def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """The `login` payload (session and errors): a real password check on the server."""
        data = await self.ok(LOGIN, {"u": username, "p": password})
        payload: dict[str, Any] = data["login"]
        return payload

    async def login(self, username: str, password: str) -> GraphQLClient:
        """Signs in for real; a client holding the new session."""
        payload = await self.sign_in(username, password)
        assert payload["errors"] == [], payload
        return self.user(payload["session"]["accessToken"])


def operation_index(documents: dict[str, str]) -> dict[str, str]:
    """Operation name → the text of the document that holds it (contract files hold several)."""
    from graphql import OperationDefinitionNode, parse

    index: dict[str, str] = {}
    for text in documents.values():
        for definition in parse(text).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                index[definition.name.value] = text
    return index


# --------------------------------------------------------------------------- phones and gates


class Phone:
    """A phone holding its own Ed25519 key, as the employee app does."""

    def __init__(self, clock: ServerClock | None = None) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.cid: str | None = None
        self.clock = clock  # a phone bound through a server keeps that server's time

    def time(self) -> float:
        return self.clock.unix() if self.clock is not None else time.time()

    @property
    def public_key(self) -> str:
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    async def bind(self, client: GraphQLClient, name: str = "test phone") -> str:
        data = await client.ok(
            "mutation($k:String!,$n:String!){bindPhone(publicKey:$k,deviceName:$n)"
            "{credential{id periodSeconds status} errors{code message field}}}",
            {"k": self.public_key, "n": name},
        )
        assert data["bindPhone"]["errors"] == [], data
        self.cid = data["bindPhone"]["credential"]["id"]
        if self.clock is None:
            self.clock = client.server.clock
        return self.cid

    def token(self, at: float | None = None, step_offset: int = 0) -> str:
        assert self.cid is not None
        step = passtoken.current_step(self.time() if at is None else at, 15) + step_offset
        return passtoken.sign(self.cid, step, self.key)


class FreshPass:
    """A bound phone that never shows the same (credential, step) twice: a token verified at one
    gate is `replayed` everywhere after, so each scan needs a step no gate has seen. It hands out
    the next step, the current one, or the one before while it stays safely inside the server's
    window (steps −1..+1); with all three used it waits for the next step boundary."""

    def __init__(self, phone: Phone | None = None, period: int = passtoken.DEFAULT_PERIOD) -> None:
        self.phone = phone or Phone()
        self.period = period
        self.used: set[int] = set()

    @property
    def cid(self) -> str:
        assert self.phone.cid is not None
        return self.phone.cid

    async def fresh(self) -> str:
        while True:
            now = self.phone.time()
            current = passtoken.current_step(now, self.period)
            boundary = (current + 1) * self.period
            for step in (current + 1, current, current - 1):
                if step in self.used or (step == current - 1 and boundary - now < 3):
                    continue
                self.used.add(step)
                return passtoken.sign(self.cid, step, self.phone.key)
            # Every step the server accepts now has been shown: wait for the next one. (Moving the
            # servers' clock instead would make any session signed in after it "not yet valid":
            # PyJWT checks `iat` against the real clock.) Rare: a fourth scan by one phone in 15 s.
            await asyncio.sleep(boundary - now + 0.05)

    token = fresh

    def forged(self) -> str:
        """This credential's id and a current step, signed with a key that is not the phone's."""
        step = passtoken.current_step(self.phone.time(), self.period)
        return passtoken.sign(self.cid, step, Ed25519PrivateKey.generate())


class Gate:
    """A gate device on the real WebSocket protocol."""

    firmware = "test-1.0"
    capabilities: tuple[str, ...] = ()

    def __init__(self, server: ServerProcess, device_id: str, secret: str) -> None:
        self.server = server
        self.device_id = device_id
        self.secret = secret
        self.ws: Any = None
        self.welcome: dict[str, Any] = {}
        self._n = 0
        self.pending: list[dict[str, Any]] = []

    async def connect(self) -> Any:
        self.ws = await websockets.connect(self.server.ws + "/devices/ws", max_size=None)
        hello: dict[str, Any] = {
            "type": "hello",
            "deviceId": self.device_id,
            "secret": self.secret,
            "firmware": self.firmware,
        }
        if self.capabilities:
            hello["capabilities"] = list(self.capabilities)
        await self.ws.send(json.dumps(hello))
        self.welcome = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        assert self.welcome["type"] == "welcome", self.welcome
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))

    async def recv(self, timeout: float = 10) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return frame

    async def recv_type(self, kind: str, timeout: float = 10) -> dict[str, Any]:
        """The next frame of `kind`; frames of other kinds are kept in `pending`."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - time.monotonic()))
            if frame.get("type") == kind:
                return frame
            self.pending.append(frame)

    async def scan(
        self, gate_id: str, credential: str, direction: str | None = None, ref: str | None = None
    ) -> dict[str, Any]:
        self._n += 1
        frame: dict[str, Any] = {
            "type": "scan",
            "ref": ref or f"{self.device_id}-{self._n:06d}",
            "gateId": gate_id,
            "credential": credential,
        }
        if direction:
            frame["direction"] = direction
        await self.send(frame)
        while True:
            reply = await self.recv_type("decision")
            if reply.get("ref") == frame["ref"]:
                return reply


class OfflineGate(Gate):
    """A device whose hello announces the `offline` capability: it gets snapshots and revocations."""

    firmware = "test-offline-1.0"
    capabilities = ("offline",)


@contextlib.asynccontextmanager
async def connected(gate: Gate) -> Any:
    """The gate connected for the block, closed after it (whatever the block did to the link)."""
    await gate.connect()
    try:
        yield gate
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(gate.close(), 5)


COMMISSION_DEVICE = "mutation($id: ID!) { commissionDevice(id: $id) { device { id status } errors { code message } } }"


async def commission_device(
    admin: GraphQLClient, device_id: str, secret: str, gate_id: str, gate_class: type[Gate] | None = None
) -> None:
    """What an installer does with a new device before it opens doors (POLICY 5.2): connect it
    (network reached), let it run on its configuration (a heartbeat after `welcome`; an offline
    device acknowledges its snapshot instead), decide a test scan (refused `device_not_in_service`:
    it is not in service yet), then `commissionDevice`. The device is disconnected again."""
    gate = (gate_class or Gate)(admin.server, device_id, secret)
    async with connected(gate):
        if "offline" in gate.capabilities:
            snapshot = await gate.recv_type("snapshot")
            await gate.send({"type": "snapshot_ack", "issuedAt": snapshot["snapshot"]["issuedAt"]})
        else:
            await gate.send({"type": "heartbeat", "at": "2026-11-27T08:00:00Z", "stats": {}})
        test = await gate.scan(gate_id, "INSTALLER-TEST-SCAN", direction="IN")
        assert test["reason"] == "device_not_in_service" and not test["granted"], test

    async def commissioned() -> bool:
        # The test scan is answered before the server notes it on the checklist: ask again until it has.
        payload = (await admin.ok(COMMISSION_DEVICE, {"id": device_id}))["commissionDevice"]
        if payload["errors"]:
            assert "checklist" in payload["errors"][0]["message"], payload
            return False
        assert payload["device"]["status"] == "COMMISSIONED", payload
        return True

    await eventually(commissioned, 10, f"device {device_id} commissioned")


# --------------------------------------------------------------------------- a site as the tests see it


class World:
    """A demo site served by a fresh server, as a test sees it: one client that can be any demo
    user (`api`, `client(username)`), names → ids, the demo gate device (connected on first use)
    and phones bound on demand. Test files extend it with their domain's steps."""

    def __init__(self, site: Site, server: ServerProcess | None = None, operations: dict[str, str] | None = None):
        assert site.demo is not None and site.ids is not None, "a World is a copy of the demo template"
        self.site = site
        self.server = server or site.servers[0]
        self.demo: Demo = site.demo
        self.ids: Ids = site.ids
        self.api = GraphQLClient(self.server, demo=self.demo, operations=operations)
        self.device_: Gate | None = None
        self.passes: dict[str, FreshPass] = {}

    def client(self, username: str | None) -> GraphQLClient:
        """The server as a demo user (signed in on the template), or anonymous."""
        return self.api.user(username)

    def gate(self, name: str) -> str:
        """The id of the demo gate called `name`."""
        return self.demo.gates[name]

    async def connect_device(self, gate_class: type[Gate] = Gate) -> Gate:
        """The demo's gate device (it serves every demo gate), connected."""
        assert self.device_ is None, "one connection of the demo device at a time"
        self.device_ = await gate_class(self.server, self.demo.device_id, self.demo.device_secret).connect()
        return self.device_

    @property
    def device(self) -> Gate:
        assert self.device_ is not None
        return self.device_

    async def pass_of(self, username: str) -> FreshPass:
        """The user's phone, bound on first use, handing out tokens no gate has seen."""
        if username not in self.passes:
            fresh = FreshPass()
            await fresh.phone.bind(self.client(username))
            self.passes[username] = fresh
        return self.passes[username]

    async def close(self) -> None:
        if self.device_ is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.device_.close(), 5)


# --------------------------------------------------------------------------- time a test moves


class SteppedClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock a test moves forward: timers (`asyncio.sleep`, `call_later`,
    timeouts) fall due when the test says time has passed, not when the machine gets round to it.
    For code that runs in the test's own process (the gate agent, the offline decider)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = 0.0

    def time(self) -> float:
        return super().time() + self.offset

    async def advance(self, seconds: float) -> None:
        """Let `seconds` pass on this loop's clock, then run what fell due (and what that wakes)."""
        self.offset += seconds
        for _ in range(20):  # turns of the loop, not time: due timers run, then the tasks they resume
            await asyncio.sleep(0)


async def on_stepped_clock(scenario: Callable[[SteppedClockLoop], Awaitable[T]]) -> T:
    """Run `scenario(loop)` on a SteppedClockLoop of its own (in a worker thread, beside the test's loop)."""

    def run() -> T:
        loop = SteppedClockLoop()
        try:
            return loop.run_until_complete(scenario(loop))
        finally:
            loop.close()

    return await asyncio.to_thread(run)


# --------------------------------------------------------------------------- a guard's live feed

# The guard app's `gateEvents` subscription (mobile_contracts/guard.graphql), as the app sends it.
GATE_EVENTS_SUBSCRIPTION = """
subscription GateEvents($zoneId: ID) {
  gateEvents(zoneId: $zoneId) {
    id at decision reason method direction
    gate { id name }
    person { id displayName }
  }
}
"""


async def at_once(dsn: str, lock: str, args: list[Any], *calls: Awaitable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls' answers, the calls made to really meet in the database, in the order given.

    Sent at the same moment, two requests still reach the database one after the other when the
    machine is busy, and then nothing races. So the test takes a lock every call needs (`lock`, a
    statement run in a transaction of the test's own), starts each call once the one before it
    is queued behind that lock, and lets go when all are: they go for it together, whatever the
    load, and reach it in the order they were given (PostgreSQL's lock queue is first come,
    first served), so a test chooses which one wins."""
    import asyncpg

    holder = await asyncpg.connect(dsn)
    watcher = await asyncpg.connect(dsn)
    tasks: list[asyncio.Future[dict[str, Any]]] = []
    try:
        holding = holder.transaction()
        await holding.start()
        await holder.execute(lock, *args)
        holder_pid = await holder.fetchval("SELECT pg_backend_pid()")

        async def all_queued() -> bool:
            for task in tasks:
                if task.done():
                    task.result()  # a call that failed or finished without the lock: say why
                    raise AssertionError(f"a call finished without waiting for {lock!r}")
            # Every session of this test's database that waits for a lock (the first in a queue
            # waits for the holder, the next for the first).
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> $1 AND cardinality(pg_blocking_pids(pid)) > 0",
                holder_pid,
            )
            return bool(waiting == len(tasks))

        try:
            for call in calls:
                tasks.append(asyncio.ensure_future(call))
                await eventually(all_queued, 30, f"{len(tasks)} calls queued behind {lock!r}")
        finally:
            await holding.rollback()
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await watcher.close()
        await holder.close()


@contextlib.asynccontextmanager
async def gql_subscription(
    server: ServerProcess,
    token: str | None,
    document: str,
    operation_name: str | None = None,
    variables: dict[str, Any] | None = None,
) -> AsyncIterator[AsyncGenerator[dict[str, Any], None]]:
    """One subscription over graphql-transport-ws with the gql client, as the apps open it."""
    from gql import Client, GraphQLRequest, gql
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(
        url=server.ws + "/graphql",
        init_payload={"authorization": f"Bearer {token}"} if token else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # "graphql-transport-ws"
    )
    request = GraphQLRequest(gql(document), operation_name=operation_name, variable_values=variables)
    async with Client(transport=transport) as session:
        stream = session.subscribe(request)
        try:
            yield stream
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()


class GuardFeed:
    """A guard's live `gateEvents` subscription over graphql-transport-ws (gql client), with any
    document that selects `gateEvents { reason gate { id } ... }`.

    graphql-transport-ws does not confirm that a subscription is running, so `ready()` sends
    probe events (a malformed scan at a gate) until one comes through.
    """

    PROBE = "PROBE-NOT-A-TOKEN"

    def __init__(self, server: ServerProcess, token: str, document: str = GATE_EVENTS_SUBSCRIPTION) -> None:
        from gql import Client
        from gql.transport.websockets import WebsocketsTransport

        transport = WebsocketsTransport(
            url=server.ws + "/graphql",
            init_payload={"authorization": f"Bearer {token}"},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
        )
        self.client = Client(transport=transport)
        self.document = document
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> GuardFeed:
        from gql import gql

        session = await asyncio.wait_for(self.client.connect_async(), 10)

        async def pump() -> None:
            async for result in session.subscribe(gql(self.document)):
                await self.events.put(result["gateEvents"])

        self._task = asyncio.create_task(pump())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close_async(), 10)

    async def ready(self, gate: Gate, probe_gate_id: str, timeout: float = 15) -> None:
        """Wait until the subscription delivers: probe until a probe event arrives."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._task is not None and self._task.done():
                self._task.result()  # the subscription failed: raise why
                raise AssertionError("the gateEvents subscription ended")
            reply = await gate.scan(probe_gate_id, self.PROBE)
            assert (reply["type"], reply["granted"], reply["reason"]) == ("decision", False, "malformed"), reply
            with contextlib.suppress(TimeoutError):
                await self.next(lambda e: e["gate"]["id"] == probe_gate_id and e["reason"] == "malformed", 0.5)
                return
        raise AssertionError("the gateEvents subscription never delivered a probe event")

    async def next(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        """The next event that matches (others, such as late probes, are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.get()
                if match(event):
                    return event

    async def passages(self, count: int) -> list[dict[str, Any]]:
        """The next `count` events that are not probes."""
        return [await self.next(lambda e: e["reason"] != "malformed") for _ in range(count)]
