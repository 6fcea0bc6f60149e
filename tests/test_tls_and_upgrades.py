"""In transit (POLICY 6.3) and rolling upgrades (issue 17).

One real server per module serves TLS itself (`gatehouse serve --ssl-certfile/--ssl-keyfile`,
uvicorn's TLS) with a certificate of a private CA made here: GraphQL over https://, a gate
device over wss://, and the reference gate agent over wss:// trusting that CA (`--ca-file`),
its secret from a file or the environment, its door through HTTP and the log; it refuses a
server it cannot verify. Frames and bus messages from a release ahead carry fields this one
does not know: they are taken, the news ignored; unknown frame types and wrong types of known
fields are still refused. The GPIO door (libgpiod) is checked for its refusals: this machine
has no GPIO chip.
"""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import datetime as dt
import http.server
import ipaddress
import json
import logging
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from gatehouse_gate import cli as gate_cli
from gatehouse_gate import gpio
from gatehouse_gate.agent import Door, GateAgent, make_door

from api import cli as server_cli
from resolvers.devices import hello_limits
from tests.harness import (
    PROJECT,
    REDIS_URL,
    Demo,
    FreshPass,
    ServerProcess,
    Site,
    SiteTemplate,
    eventually,
    http_client,
)

BIND_PHONE = (
    "mutation($k:String!,$n:String!){bindPhone(publicKey:$k,deviceName:$n){credential{id} errors{code message field}}}"
)


# --------------------------------------------------------------------------- a private CA


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path
    other_ca_file: Path  # a CA that signed nothing of this server's
    trust: ssl.SSLContext  # a client that trusts ca_file only


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())  # fast to make, unlike RSA


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path) -> Pki:
    ca, ca_key = _ca("Gatehouse test site CA")
    other, _ = _ca("Someone else's CA")
    key = _key()
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("gatehouse.test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file, other_ca_file = (
        folder / n for n in ("ca.pem", "server.pem", "server.key", "other.pem")
    )
    ca_file.write_bytes(_pem(ca))
    other_ca_file.write_bytes(_pem(other))
    cert_file.write_bytes(_pem(leaf))
    key_file.write_bytes(_private_pem(key))
    key_file.chmod(0o600)
    return Pki(ca_file, cert_file, key_file, other_ca_file, ssl.create_default_context(cafile=str(ca_file)))


def _private_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


# --------------------------------------------------------------------------- a server on TLS


@dataclass
class TlsServer(ServerProcess):
    trust: ssl.SSLContext | None = None

    @property
    def http(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"wss://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        assert self.trust is not None
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as raw,
                self.trust.wrap_socket(raw, server_hostname="127.0.0.1") as s,
            ):
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False


@dataclass
class TlsSite:
    site: Site
    server: TlsServer
    pki: Pki
    demo: Demo
    alice: FreshPass
    carol: FreshPass

    def gql(self, query: str, variables: dict[str, Any], token: str) -> httpx.Response:
        with httpx.Client(verify=self.pki.trust, timeout=30) as http:
            return http.post(
                self.server.http + "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory, demo_template: SiteTemplate) -> Iterator[TlsSite]:
    folder = tmp_path_factory.mktemp("tls")
    pki = make_pki(folder)
    site = demo_template.sqlite_copy(folder)
    assert site.demo is not None
    server = TlsServer(
        env=dict(site.env),
        clock=site.clock,
        trust=pki.trust,
        args=["--ssl-certfile", str(pki.cert_file), "--ssl-keyfile", str(pki.key_file)],
    )
    server.start(site.tmp)
    site.servers.append(server)
    world = TlsSite(site, server, pki, site.demo, FreshPass(), FreshPass())
    try:
        for username, fresh in (("alice", world.alice), ("carol", world.carol)):
            answer = world.gql(BIND_PHONE, {"k": fresh.phone.public_key, "n": "tls"}, site.demo.tokens[username])
            bound = answer.json()["data"]["bindPhone"]
            assert bound["errors"] == [], bound
            fresh.phone.cid = bound["credential"]["id"]
            fresh.phone.clock = site.clock
        yield world
    finally:
        site.let_go()


@contextlib.asynccontextmanager
async def device(tls: TlsSite, **extra: Any) -> Any:
    """The demo gate device on wss://, its hello carrying `extra` fields."""
    async with websockets.connect(tls.server.ws + "/devices/ws", ssl=tls.pki.trust) as ws:
        hello = {"type": "hello", "deviceId": tls.demo.device_id, "secret": tls.demo.device_secret, **extra}
        await ws.send(json.dumps(hello))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert welcome["type"] == "welcome", welcome
        yield ws


async def answer(ws: Any) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return frame


async def decision(ws: Any) -> dict[str, Any]:
    while (frame := await answer(ws))["type"] != "decision":
        assert frame["type"] != "error", frame
    return frame


# --------------------------------------------------------------------------- the server's TLS


async def test_graphql_over_https_carries_hsts(tls: TlsSite) -> None:
    async with httpx.AsyncClient(verify=tls.pki.trust, timeout=30) as http:
        r = await http.post(
            tls.server.http + "/graphql",
            json={"query": "{ me { displayName } }"},
            headers={"Authorization": f"Bearer {tls.demo.tokens['alice']}"},
        )
    assert r.status_code == 200 and r.json() == {"data": {"me": {"displayName": "Alice Li"}}}, r.text
    assert r.headers["strict-transport-security"] == "max-age=31536000"
    # A client that does not trust the site's CA gets no answer at all.
    async with httpx.AsyncClient(verify=ssl.create_default_context(), timeout=30) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(tls.server.http + "/healthz")


async def test_gate_device_over_wss_scans_and_is_granted(tls: TlsSite) -> None:
    eng = tls.demo.gates["Engineering door"]
    async with device(tls, firmware="tls-1.0") as ws:
        await ws.send(
            json.dumps(
                {"type": "scan", "ref": "t-1", "gateId": eng, "credential": await tls.alice.fresh(), "direction": "IN"}
            )
        )
        got = await decision(ws)
    assert (got["ref"], got["granted"], got["reason"], got["person"]) == (
        "t-1",
        True,
        "ok",
        {"displayName": "Alice Li"},
    )


@pytest.mark.parametrize(
    ("flags", "env", "says"),
    [
        (
            ["--ssl-certfile", "{dir}/missing.pem", "--ssl-keyfile", "{key}"],
            {},
            "--ssl-certfile '{dir}/missing.pem': no such file",
        ),
        (["--ssl-certfile", "{cert}"], {}, "TLS needs both --ssl-certfile and --ssl-keyfile"),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{other_key}"],
            {},
            "the key does not belong to the certificate",
        ),
        (
            ["--ssl-certfile", "{cert}", "--ssl-keyfile", "{encrypted}"],
            {},
            "is encrypted: give the key without a passphrase",
        ),
        (["--ssl-certfile", "{key}", "--ssl-keyfile", "{key}"], {}, "holds no PEM certificate"),
        (["--ssl-certfile", "{cert}", "--ssl-keyfile", "{cert}"], {}, "holds no PEM private key"),
        (
            [],
            {"GATEHOUSE_SSL_CERTFILE": "{dir}/gone.pem", "GATEHOUSE_SSL_KEYFILE": "{key}"},
            "'{dir}/gone.pem': no such file",
        ),
    ],
)
def test_bad_tls_files_stop_serve_with_one_line_before_anything_starts(
    flags: list[str],
    env: dict[str, str],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pki = make_pki(tmp_path)
    names = {
        "dir": str(tmp_path),
        "cert": str(pki.cert_file),
        "key": str(pki.key_file),
        "other_key": str(tmp_path / "other.key"),
        "encrypted": str(tmp_path / "encrypted.key"),
    }
    Path(names["other_key"]).write_bytes(_private_pem(_key()))
    Path(names["encrypted"]).write_bytes(_private_pem(_key(), b"passphrase"))
    database = tmp_path / "never.sqlite3"
    monkeypatch.setenv("GATEHOUSE_DATABASE_URL", f"sqlite://{database}")
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(**names))
    code = server_cli.main(["serve", "--port", "1", *(f.format(**names) for f in flags)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("gatehouse: ") and says.format(**names) in err, err
    assert not database.exists(), "the database was touched before the TLS files were checked"


# --------------------------------------------------------------------------- the gate agent on wss://


class Relay(http.server.BaseHTTPRequestHandler):
    """A door relay on HTTP: remembers each body it is POSTed."""

    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def relay() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    bodies: list[dict[str, Any]] = []
    handler = type("TestRelay", (Relay,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/open", bodies
    finally:
        server.shutdown()
        server.server_close()


def run_agent(
    tls: TlsSite, args: list[str], stdin: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "gatehouse_gate.cli",
        "run",
        "--server",
        tls.server.ws,
        "--device-id",
        tls.demo.device_id,
        "--gate",
        tls.demo.gates["Engineering door"],
        "--direction",
        "IN",
        *args,
    ]
    clean = {k: v for k, v in os.environ.items() if k != gate_cli.SECRET_ENV}
    return subprocess.run(
        command, input=stdin, capture_output=True, text=True, cwd=PROJECT, env={**clean, **(env or {})}, timeout=60
    )


def answers(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


async def test_agent_over_wss_with_its_secret_in_a_file_opens_an_http_door(
    tls: TlsSite, tmp_path: Path, relay: tuple[str, list[dict[str, Any]]]
) -> None:
    url, bodies = relay
    secret_file = tmp_path / "gate-secret"
    secret_file.write_text(tls.demo.device_secret + "\n")  # as `echo` or an editor leaves it
    secret_file.chmod(0o600)
    args = ["--ca-file", str(tls.pki.ca_file), "--secret-file", str(secret_file), "--door", url]
    args += ["--state-dir", str(tmp_path / "gate")]
    assert tls.demo.device_secret not in " ".join(args)  # nothing for `ps` to show
    result = await asyncio.to_thread(run_agent, tls, args, f"{await tls.alice.fresh()}\n")
    assert answers(result) == [{"granted": True, "reason": "ok", "offline": False}], result.stderr
    eng = tls.demo.gates["Engineering door"]
    assert bodies == [{"gateId": eng, "durationMs": 3000, "hold": False}]
    assert "warning" not in result.stderr.lower() and "--secret" not in result.stderr, result.stderr


async def test_agent_over_wss_with_its_secret_in_the_environment_opens_the_log_door(
    tls: TlsSite, tmp_path: Path
) -> None:
    args = ["--ca-file", str(tls.pki.ca_file), "--state-dir", str(tmp_path / "gate")]
    env = {gate_cli.SECRET_ENV: tls.demo.device_secret}
    result = await asyncio.to_thread(run_agent, tls, args, f"{await tls.carol.fresh()}\n", env)
    assert answers(result) == [{"granted": True, "reason": "ok", "offline": False}], result.stderr
    assert f"door {tls.demo.gates['Engineering door']}: open for 3000 ms" in result.stdout.splitlines()


class Opened(Door):
    def __init__(self) -> None:
        self.opened: list[tuple[str, int]] = []

    async def open(self, gate_id: str, duration_ms: int, hold: bool = False) -> None:
        self.opened.append((gate_id, duration_ms))


@pytest.mark.parametrize("ca", ["system CAs", "another CA"])
async def test_agent_refuses_a_server_it_cannot_verify(
    ca: str, tls: TlsSite, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "gatehouse.gate")
    context = gate_cli.tls_context(tls.server.ws, None if ca == "system CAs" else str(tls.pki.other_ca_file))
    door = Opened()
    agent = GateAgent(tls.server.ws, tls.demo.device_id, tls.demo.device_secret, tmp_path / "gate", door, context)
    link = asyncio.create_task(agent.run_link())
    try:
        await eventually(lambda: "certificate is not trusted" in caplog.text, 10, "the refusal")
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text or "certificate verify failed" in caplog.text
        assert not agent.online.is_set()
        # It never spoke to that server: it decides alone, and without a snapshot it stays shut.
        granted, reason, offline = await agent.scan(tls.demo.gates["Engineering door"], "GH1:x", "IN")
        assert (granted, reason, offline) == (False, "snapshot_expired", True) and door.opened == []
    finally:
        agent.stopping = True
        link.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await link


def test_agent_settings_are_refused_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(gate_cli.SECRET_ENV, raising=False)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    base = ["run", "--device-id", "1", "--gate", "1", "--state-dir", str(tmp_path / "gate")]
    cases = [
        (["--server", "wss://127.0.0.1:9"], f"${gate_cli.SECRET_ENV}"),
        (["--server", "wss://127.0.0.1:9", "--secret-file", str(tmp_path / "none")], "No such file"),
        (["--server", "wss://127.0.0.1:9", "--secret-file", str(empty)], "is empty"),
        (
            ["--server", "ws://127.0.0.1:9", "--ca-file", str(empty), "--secret-file", str(empty)],
            "--ca-file is for a wss://",
        ),
        (
            ["--server", "wss://127.0.0.1:9", "--ca-file", str(tmp_path / "none.pem")],
            "none.pem: No such file or directory",
        ),
        (["--server", "wss://127.0.0.1:9", "--ca-file", str(empty)], "no PEM CA certificate"),
        (["--server", "https://127.0.0.1:9", "--secret=S"], "--server must be wss://host:port or ws://host:port"),
    ]
    for flags, says in cases:
        assert gate_cli.main([*base, *flags]) == 2, flags
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gatehouse-gate: ") and says in err, (flags, err)
    assert not (tmp_path / "gate").exists()


def test_secret_sources_file_environment_and_the_warned_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def secret(*flags: str) -> str:
        args = gate_cli.parser().parse_args(
            ["run", "--server", "ws://127.0.0.1:9", "--device-id", "1", "--gate", "1", *flags]
        )
        return gate_cli.device_secret(args)

    monkeypatch.setenv(gate_cli.SECRET_ENV, "from-env")
    loose = tmp_path / "secret"
    loose.write_text("  -from-file-\n")  # a secret may start with "-": no argparse trouble in a file
    loose.chmod(0o644)
    with caplog.at_level(logging.WARNING, "gatehouse.gate"):
        assert secret("--secret-file", str(loose)) == "-from-file-"
        assert "can be read by other users" in caplog.text
        caplog.clear()
        assert secret() == "from-env" and caplog.text == ""
        assert secret("--secret=-flag") == "-flag"
        assert "visible to every user of this machine (ps)" in caplog.text
    with pytest.raises(SystemExit):  # both at once is ambiguous: argparse refuses
        secret("--secret=x", "--secret-file", str(loose))


# --------------------------------------------------------------------------- rolling upgrades


async def test_frames_from_a_newer_device_are_taken_with_their_news_ignored(tls: TlsSite) -> None:
    eng = tls.demo.gates["Engineering door"]
    async with device(tls, firmware="2.0.0", bootloader="1.1", mesh={"peers": ["d9"]}) as ws:
        heartbeat = {"type": "heartbeat", "at": "2026-11-30T08:00:00Z", "stats": {"scans": 1, "tempC": 41}, "rssi": -60}
        await ws.send(json.dumps(heartbeat))
        scan = {"type": "scan", "ref": "n-1", "gateId": eng, "credential": await tls.carol.fresh(), "direction": "IN"}
        await ws.send(json.dumps({**scan, "readerId": 2, "lightLevel": {"lux": 300}}))
        got = await decision(ws)  # no error frame for the heartbeat's or the scan's news
        assert (got["ref"], got["granted"], got["reason"]) == ("n-1", True, "ok"), got
        # What a newer release may not do: a frame type this server does not know, a known field retyped.
        await ws.send(json.dumps({"type": "telemetry", "ref": "n-2", "cpu": 3}))
        refused = await answer(ws)
        assert (refused["type"], refused["code"], refused["ref"]) == ("error", "bad_message", "n-2")
        assert "unknown frame type 'telemetry'" in refused["message"]
        await ws.send(json.dumps({**scan, "ref": "n-3", "gateId": int(eng), "readerId": 2}))
        refused = await answer(ws)
        assert (refused["type"], refused["ref"]) == ("error", "n-3") and "gateId must be a string" in refused["message"]


def test_published_frame_schemas_leave_room_for_fields_they_do_not_name() -> None:
    folder = PROJECT / "mobile_contracts" / "device"

    def closed(node: Any) -> bool:
        if isinstance(node, dict):
            return node.get("additionalProperties") is False or any(closed(v) for v in node.values())
        return isinstance(node, list) and any(closed(v) for v in node)

    schemas = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}
    assert {"hello", "scan", "decision", "command"} <= set(schemas)
    assert [name for name, schema in schemas.items() if closed(schema)] == []
    scan = {"type": "scan", "ref": "r", "gateId": "1", "credential": "GH1:x"}
    jsonschema.validate({**scan, "readerId": 2}, schemas["scan"])
    decision = {"type": "decision", "ref": "r", "granted": False, "reason": "malformed", "queuePosition": 3}
    jsonschema.validate(decision, schemas["decision"])
    with pytest.raises(jsonschema.ValidationError):  # still a schema: a known field of the wrong type
        jsonschema.validate({**scan, "gateId": 1}, schemas["scan"])


@pytest.fixture
def redis_site(tmp_path: Path, demo_template: SiteTemplate, require_redis: None) -> Iterator[Site]:
    site = demo_template.sqlite_copy(tmp_path, REDIS_URL)
    try:
        site.start_server()
        yield site
    finally:
        site.let_go()


async def test_bus_messages_and_frames_from_a_newer_release_are_taken_by_an_older_worker_and_agent(
    redis_site: Site, tmp_path: Path
) -> None:
    """A worker one release ahead publishes a device command with fields this worker does not know
    (in the bus message and in the frame it carries): this worker delivers it, and the older gate
    agent opens the door; a frame type the agent does not know is passed over."""
    import redis.asyncio as aioredis

    demo = redis_site.demo
    assert demo is not None
    server = redis_site.servers[0]
    eng = demo.gates["Engineering door"]
    door = Opened()
    agent = GateAgent(server.ws, demo.device_id, demo.device_secret, tmp_path / "gate", door)
    link = asyncio.create_task(agent.run_link())
    redis = aioredis.from_url(REDIS_URL)
    try:
        await asyncio.wait_for(agent.online.wait(), 10)
        device_id = int(demo.device_id)
        newer = [
            ["device_commands", {"version": 2, "deviceId": device_id, "frame": {"type": "hologram", "id": "h-1"}}],
            [
                "device_commands",
                {
                    "version": 2,
                    "deviceId": device_id,
                    "priority": "high",
                    "frame": {
                        "type": "command",
                        "id": "c-v2",
                        "command": "open",
                        "gateId": eng,
                        "durationMs": 1500,
                        "openedBy": {"guard": "Gao Guard"},
                    },
                },
            ],
        ]
        channel = f"{redis_site.env['GATEHOUSE_REDIS_PREFIX']}bus:~batch:newer-worker"

        async def delivered() -> bool:
            if not door.opened:
                # Published until the worker's subscription is certainly up (it is by `welcome`).
                await redis.publish(channel, json.dumps(newer))
            return bool(door.opened)

        await eventually(delivered, 10, "the newer worker's command to open the door")
        assert door.opened[0] == (eng, 1500)
        assert agent.online.is_set(), "the agent dropped its link over a frame it did not know"
    finally:
        await redis.aclose()
        agent.stopping = True
        link.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await link


# --------------------------------------------------------------------------- the GPIO door


def test_gpio_door_without_the_binding_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gpiod", None)  # as on a controller without the `gpio` extra
    with pytest.raises(gpio.GpioUnavailable, match=r"pip install 'gatehouse-gate\[gpio\]'"):
        make_door("gpio:17")


def test_gpio_door_without_a_chip_is_refused_clearly(tmp_path: Path) -> None:
    import gpiod  # the real binding (the test extra): its errors are what the agent reports

    assert gpiod.api_version.startswith("2")
    if not Path("/dev/gpiochip0").exists():
        with pytest.raises(gpio.GpioUnavailable, match="there is no GPIO chip /dev/gpiochip0"):
            make_door("gpio:17")
    with pytest.raises(gpio.GpioUnavailable, match="/dev/null is not a GPIO chip"):
        make_door("gpio:/dev/null:17")
    with pytest.raises(gpio.GpioUnavailable, match=f"{tmp_path} is not a GPIO chip"):
        make_door(f"gpio:{tmp_path}:DOOR_RELAY")
    assert gpio.parse_spec("17") == ("/dev/gpiochip0", 17)
    assert gpio.parse_spec("gpiochip2:DOOR_RELAY") == ("/dev/gpiochip2", "DOOR_RELAY")
    assert gpio.parse_spec("/dev/gpiochip1:4") == ("/dev/gpiochip1", 4)


def test_agent_with_a_gpio_door_and_no_chip_exits_2_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(gate_cli.SECRET_ENV, "s")
    argv = ["run", "--server", "ws://127.0.0.1:9", "--device-id", "1", "--gate", "1", "--door", "gpio:/dev/null:17"]
    assert gate_cli.main([*argv, "--state-dir", str(tmp_path / "gate")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/dev/null is not a GPIO chip" in err, err
    assert not (tmp_path / "gate").exists()


async def test_behind_a_trusted_proxy_failed_hellos_count_per_gate_not_per_proxy(sqlite_site: Site) -> None:
    """nginx/Caddy (deploy/) connect every gate from 127.0.0.1 and name it in X-Forwarded-For: one
    gate that keeps failing is refused, the others behind the same proxy are not."""
    server = sqlite_site.start_server(GATEHOUSE_TRUSTED_PROXIES="127.0.0.1,::1")
    demo = sqlite_site.demo
    assert demo is not None

    async def hello(forwarded: str, secret: str) -> int | str | None:
        headers = {"X-Forwarded-For": forwarded}
        async with websockets.connect(server.ws + "/devices/ws", additional_headers=headers) as ws:
            await ws.send(json.dumps({"type": "hello", "deviceId": demo.device_id, "secret": secret}))
            try:
                return str(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd is not None else None

    for _ in range(hello_limits.FREE_FAILURES + 1):
        assert await hello("198.51.100.7", "wrong") == 4401
    assert await hello("198.51.100.7", demo.device_secret) == 4401  # that address is refused outright
    assert await hello("203.0.113.9, 198.51.100.8", demo.device_secret) == "welcome"  # another gate is not

    # GraphQL reads the same header the same way: the audit names the client, not the proxy (the
    # left-most hop is the client's own word and is not believed).
    ids = sqlite_site.ids
    assert ids is not None
    read = "query($p: ID!) { personalData(personId: $p) { idNumber } }"
    audit = '{ auditLog(first: 5, action: "readPersonalData") { edges { node { address } } } }'
    headers = {"Authorization": f"Bearer {demo.tokens['admin']}", "X-Forwarded-For": "6.6.6.6, 198.51.100.20"}
    async with http_client() as http:
        answer = await http.post(
            server.http + "/graphql", json={"query": read, "variables": {"p": ids.people["alice"]}}, headers=headers
        )
        assert answer.json()["data"]["personalData"]["idNumber"], answer.text
        logged = await http.post(server.http + "/graphql", json={"query": audit}, headers=headers)
    edges = logged.json()["data"]["auditLog"]["edges"]
    assert [e["node"]["address"] for e in edges] == ["198.51.100.20"], logged.text


# --------------------------------------------------------------------------- deploy/

DEPLOY = PROJECT / "deploy"


def unit(name: str) -> configparser.ConfigParser:
    # systemd repeats keys (SystemCallFilter=, DeviceAllow=) and keeps their case.
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",), comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[method-assign]
    parser.read_string((DEPLOY / "systemd" / name).read_text())
    return parser


def env_file(name: str) -> dict[str, str]:
    lines = (DEPLOY / "systemd" / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_server_unit_runs_unprivileged_hardened_with_room_for_every_gate() -> None:
    service = unit("gatehouse.service")["Service"]
    assert service["User"] not in ("", "root") and service["Group"] not in ("", "root")
    assert service["EnvironmentFile"] == "/etc/gatehouse/gatehouse.env"
    assert int(service["LimitNOFILE"]) >= 20_000
    command = shlex.split(service["ExecStart"])
    assert command[0].endswith("/gatehouse") and command[1] == "serve"
    assert command[command.index("--host") + 1] == "127.0.0.1"  # only the proxy reaches it in plain HTTP
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
    }.items():
        assert service[key] == value, key
    settings = env_file("gatehouse.env.example")
    known = (PROJECT / "resolvers" / "core" / "settings.py").read_text()
    assert [name for name in settings if f'"{name}"' not in known] == []
    assert "127.0.0.1" in settings["GATEHOUSE_TRUSTED_PROXIES"].split(",")


def test_gate_unit_hands_the_secret_over_as_a_credential_to_flags_the_agent_has() -> None:
    parsed = unit("gatehouse-gate.service")
    service = parsed["Service"]
    assert service.get("User", "") != "root" and service["DynamicUser"] == "yes"
    assert service["LoadCredential"] == "gate-secret:/etc/gatehouse-gate/secret"
    assert service["NoNewPrivileges"] == "yes" and service["DevicePolicy"] == "closed"
    assert "GATEHOUSE_GATE_SECRET" not in (DEPLOY / "systemd" / "gatehouse-gate.service").read_text()
    settings = env_file("gatehouse-gate.env.example")
    assert settings["GATE_SERVER"].startswith("wss://") and "SECRET" not in " ".join(settings)
    # ExecStart as systemd expands it: ${X} one word, $X split at spaces, %d the credentials folder.
    line = service["ExecStart"].replace("%d", "/run/credentials/gatehouse-gate.service")
    for name, value in settings.items():
        line = line.replace("${" + name + "}", shlex.quote(value)).replace("$" + name, value)
    command = shlex.split(line)
    assert command[0].endswith("/gatehouse-gate") and "$" not in line
    args = gate_cli.parser().parse_args(command[1:])  # a renamed flag fails here
    assert args.secret is None and args.secret_file == "/run/credentials/gatehouse-gate.service/gate-secret"
    assert args.ca_file == "/etc/gatehouse-gate/ca.pem" and args.door == settings["GATE_DOOR"]
    assert gpio.parse_spec(args.door.removeprefix("gpio:")) == ("/dev/gpiochip0", 17)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_finds_nothing_to_say_about_the_units(tmp_path: Path) -> None:
    for name in ("gatehouse.service", "gatehouse-gate.service"):
        # The programs are not installed here: systemd checks that ExecStart= names an executable.
        text = (DEPLOY / "systemd" / name).read_text()
        text = re.sub(r"/opt/[\w-]+/bin/[\w-]+", "/bin/true", text)
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stdout + result.stderr == "", result.stdout + result.stderr


def test_proxies_end_tls_upgrade_websockets_and_name_the_client() -> None:
    nginx = (DEPLOY / "nginx" / "gatehouse.conf").read_text()
    for location in ("location = /devices/ws {", "location = /graphql {"):
        assert location in nginx
    assert "proxy_set_header Upgrade $http_upgrade;" in nginx
    assert "proxy_set_header Connection $gatehouse_connection;" in nginx
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    assert "return 301 https://" in nginx and 'Strict-Transport-Security "max-age=31536000"' in nginx
    protocols = re.search(r"ssl_protocols ([^;]+);", nginx)
    assert protocols is not None and set(protocols.group(1).split()) == {"TLSv1.2", "TLSv1.3"}
    caddy = (DEPLOY / "caddy" / "Caddyfile").read_text()
    assert "reverse_proxy 127.0.0.1:8000" in caddy and 'Strict-Transport-Security "max-age=31536000"' in caddy


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed here")
def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    site = (DEPLOY / "nginx" / "gatehouse.conf").read_text()
    site = site.replace("/etc/gatehouse/tls/fullchain.pem", str(pki.cert_file))
    site = site.replace("/etc/gatehouse/tls/privkey.pem", str(pki.key_file))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{ access_log off; include {tmp_path}/site.conf; }}\n"
    )
    result = subprocess.run(
        ["nginx", "-t", "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed here")
def test_caddy_accepts_the_site(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    site = (DEPLOY / "caddy" / "Caddyfile").read_text()
    # The site's own certificate instead of ACME (which would need the internet).
    site = re.sub(r"\t# A site CA instead of ACME: tls .*", f"\ttls {pki.cert_file} {pki.key_file}", site)
    assert str(pki.cert_file) in site
    (tmp_path / "Caddyfile").write_text(site)
    result = subprocess.run(
        ["caddy", "validate", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)},
    )
    assert result.returncode == 0 and "Valid configuration" in result.stdout + result.stderr, result.stderr
