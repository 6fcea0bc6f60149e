"""Test harness: real server processes, real clients, real databases.

A `Site` is a database loaded with the demo site (`gatehouse demo`), served by one
or more real `gatehouse serve` processes on free loopback ports.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken

PROJECT = Path(__file__).resolve().parent.parent
GATEHOUSE = [sys.executable, "-m", "api.cli"]
POSTGRES_URL = os.environ.get("GATEHOUSE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEHOUSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


async def create_postgres_database() -> str:
    """A fresh database on the test server; returns its URL."""
    import asyncpg

    name = "gh_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


async def drop_postgres_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://", 1))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class Demo:
    passwords: dict[str, str]
    device_id: str
    device_secret: str
    gates: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Demo:
        passwords = dict(re.findall(r"^\s+(\w+)\s+(\S{4}-\S{4}-\S{4}-\S{4})\s", text, re.M))
        m = re.search(r"id (\d+)\s+secret (\S+)", text)
        assert m, text
        gates = dict(re.findall(r"([A-Z][\w ]+?) = (\d+)", text.split("Gates:", 1)[1]))
        return cls(passwords, m.group(1), m.group(2), {k.strip(): v for k, v in gates.items()})


@dataclass
class ServerProcess:
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> None:
        self.log_path = log_dir / f"server-{self.port}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [*GATEHOUSE, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log()}")
            try:
                if httpx.get(self.http + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not start: {self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""


class Site:
    """A demo site on a database, and the server processes that serve it."""

    def __init__(self, tmp: Path, database_url: str | None = None, redis_url: str | None = None) -> None:
        self.tmp = tmp
        self.env = {
            **os.environ,
            "GATEHOUSE_DATABASE_URL": database_url or f"sqlite://{tmp / 'gatehouse.sqlite3'}",
            "GATEHOUSE_SECRET_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "GATEHOUSE_KEY_FILE": str(tmp / "unused.key"),
            "GATEHOUSE_GRAPHIQL": "0",
        }
        if redis_url:
            self.env["GATEHOUSE_REDIS_URL"] = redis_url
            self.env["GATEHOUSE_REDIS_PREFIX"] = f"ghtest:{uuid.uuid4().hex[:8]}:"
        self.servers: list[ServerProcess] = []
        self.demo: Demo | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*GATEHOUSE, *args], cwd=PROJECT, env=self.env, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"gatehouse {' '.join(args)} failed: {result.stderr}")
        return result

    def load_demo(self) -> Demo:
        self.demo = Demo.parse(self.cli("demo").stdout)
        return self.demo

    def start_server(self, **extra_env: str) -> ServerProcess:
        server = ServerProcess(env={**self.env, **extra_env})
        server.start(self.tmp)
        self.servers.append(server)
        return server

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


class GraphQLClient:
    def __init__(self, server: ServerProcess, token: str | None = None) -> None:
        self.server = server
        self.token = token

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        tok = token if token is not None else self.token
        headers = {"Authorization": f"Bearer {tok}"} if tok else {}
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(
                self.server.http + "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
            )
        assert r.status_code in (200, 400), (r.status_code, r.text)
        body: dict[str, Any] = r.json()
        return body

    async def ok(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> Any:
        body = await self(query, variables, token)
        assert not body.get("errors"), body
        return body["data"]

    async def login(self, username: str, password: str) -> GraphQLClient:
        data = await self.ok(
            "mutation($u:String!,$p:String!){login(username:$u,password:$p){session{accessToken} errors{code}}}",
            {"u": username, "p": password},
        )
        assert data["login"]["errors"] == [], data
        return GraphQLClient(self.server, data["login"]["session"]["accessToken"])


class Phone:
    """A phone holding its own Ed25519 key, as the employee app does."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.cid: str | None = None

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
        return self.cid

    def token(self, at: float | None = None, step_offset: int = 0) -> str:
        assert self.cid is not None
        step = passtoken.current_step(time.time() if at is None else at, 15) + step_offset
        return passtoken.sign(self.cid, step, self.key)


class Gate:
    """A gate device on the real WebSocket protocol."""

    def __init__(self, server: ServerProcess, device_id: str, secret: str) -> None:
        self.server = server
        self.device_id = device_id
        self.secret = secret
        self.ws: Any = None
        self.welcome: dict[str, Any] = {}
        self._n = 0
        self.pending: list[dict[str, Any]] = []

    async def connect(self) -> Gate:
        self.ws = await websockets.connect(self.server.ws + "/devices/ws", max_size=None)
        await self.ws.send(
            json.dumps({"type": "hello", "deviceId": self.device_id, "secret": self.secret, "firmware": "test-1.0"})
        )
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
