"""Scans under abuse: the other gates' decision latency while the API and one device are abused
(issue 11, "gates first"; `make bench`).

    python -m bench.scans_under_abuse [--seconds 20] [--rate 300] [--devices 20] [--postgres]

One real `gatehouse serve` process (one uvicorn worker) serves the demo site plus a seeded
bench site: `--devices` gates, each with its own device, one more gate and device for the
abuser, and one employee with an ACTIVE phone credential per scan. This process drives the
`--devices` gates open-loop at `--rate` scans/s in total (bench/loadgen.py: latency from each
scan's *scheduled* send, so a slow answer never lowers the send rate), first for `--seconds`
without abuse, then for `--seconds` while two abuser processes (this module with `--role`)
run from start to end of that window:

- `graphql` — one client looping, each request sent as soon as the previous one is answered,
  one loop per query of issue 11 items 1–2: an anonymous POST of 80,000 `__typename` aliases
  (1.4 MB); an anonymous login whose variable is 16 MiB; a signed-in employee's
  `me{department{h0:head{department{…}} h1:head{…}}}` tree at depth 13–16 (one depth per
  request, in turn); and an admin query of about 700 bytes that fans out as far as the cost
  limit lets it (people × their department, head, pass, hosted visits and access log).
- `device` — one authenticated device that floods as in items 3 and 11 without waiting for
  answers: connection after connection (reconnecting as soon as it is closed), in turn, 1 MiB
  scan frames, 70 KiB scan frames, and `door` frames reporting `forced`.

The abusers are separate processes, so this load generator's event loop measures the gates
only. Aim: the other gates' p99 stays under 50 ms (open loop, from the scheduled send).

Results: a table on stdout and the same figures in var/abuse-bench.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loadgen
from bench.loadgen import CpuMeter, GateClient, MachineMeter, RunResult, run_open, split_round_robin
from bench.scan_throughput import DISTURBED_PERCENT, QUIET_CORES, _drop_redis_prefix, _fmt, machine, wait_for_quiet
from bench.seed import (
    BenchCredential,
    make_credentials,
    scan_frames,
    seed_in_subprocess,
    sign_tokens,
    write_key_file,
)
from tests.harness import (
    LOGIN,
    REDIS_URL,
    ServerProcess,
    Site,
    _healthy,
    create_postgres_database,
    drop_postgres_database,
)

PROJECT = Path(__file__).resolve().parent.parent
RESULTS_FILE = PROJECT / "var" / "abuse-bench.json"
PROFILE_FILE = PROJECT / "var" / "abuse-bench-profile.txt"
PROFILE_SESSION = PROFILE_FILE.with_suffix(".pyisession")  # pyinstrument --load it for other views
AIM_P99_MS = 50.0
MAX_SECONDS = 20.0  # tokens signed at step current+1 stay valid >= 30 s after signing
WARMUP_SECONDS = 2.0
# The window opens as soon as the abusers are ready: the gates scan throughout (the server paces
# heavy work only while gates scan; a ramp with idle gates would let the abuse in unpaced).
RAMP_SECONDS = 0.0

# --- the abuse (issue 11, items 1-3 and 11) ---------------------------------------------------

ALIASES = 80_000
BIG_VARIABLE_BYTES = 16 * 1024 * 1024
NESTED_DEPTHS = (13, 14, 15, 16)
FLOODS = ("scan_1MiB", "scan_70KiB", "door_forced")
FLOOD_SIZES = {"scan_1MiB": 1024 * 1024, "scan_70KiB": 70 * 1024}
GRAPHQL_ABUSE = ("aliases", "variable", "nested", "fanout")
ABUSE = GRAPHQL_ABUSE + FLOODS

# About 700 bytes; fans out per person into department, head, pass, hosted visits and access log
# (one or more SQL queries each), priced just under schema/core/limits.MAX_COST.
ADMIN_FANOUT = """query Fanout($n: Int!, $m: Int!) {
  people(first: $n) {
    edges {
      node {
        id displayName username kind status roles position
        department { id name head { id displayName department { id name head { id displayName } } } }
        pass { credentialId periodSeconds status }
        hostedVisits(first: $m) {
          edges { node { id status } }
        }
        accessLog(first: $m) {
          edges { node { id decision reason at gate { id name zone { id name } } } }
        }
      }
    }
  }
  departments { id name head { id displayName } parent { id name } }
  gates { id name direction zone { id name } }
}"""
ADMIN_FANOUT_VARIABLES = {"n": 100, "m": 3}  # cost 9,060


def alias_flood_body() -> bytes:
    query = "{" + " ".join(f"a{i}:__typename" for i in range(ALIASES)) + "}"
    return json.dumps({"query": query}).encode()


def big_variable_body() -> bytes:
    head = b'{"query":"mutation($u:String!){login(username:$u,password:\\"x\\"){errors{code}}}","variables":{"u":"'
    return head + b"a" * BIG_VARIABLE_BYTES + b'"}}'


def nested_query(depth: int) -> str:
    """`me{department{h0:head{department{h0:head{…} h1:head{…}}} h1:head{…}}}`, `depth` deep as
    schema/core/limits.py counts it: every head opens its department again, twice."""
    # me, then department/head pairs (2 levels each); an odd count ends on a department.
    pairs, odd = divmod(depth - 2, 2)
    inner = "department { id name }" if odd else "id"
    for _ in range(pairs):
        inner = f"department {{ h0: head {{ {inner} }} h1: head {{ {inner} }} }}"
    return "{ me { " + inner + " } }"


# --- abuser processes --------------------------------------------------------------------------


class Tally:
    """What one abuser achieved, per kind of request: sent, and what came back."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.outcomes: dict[str, Counter[str]] = {}
        self.seconds: dict[str, float] = {}

    def note(self, kind: str, outcome: str) -> None:
        self.outcomes.setdefault(kind, Counter())[outcome] += 1

    def as_json(self) -> dict[str, Any]:
        return {
            kind: {"sent": self.sent[kind], "outcomes": dict(self.outcomes.get(kind, {}))}
            for kind in sorted(set(self.sent) | set(self.outcomes))
        }


def _graphql_outcome(status: int, body: bytes) -> str:
    """`413`, `200 ok`, `200 BAD_USER_INPUT/depth`, … (the first error's code and limit)."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} (not JSON)"
    errors = data.get("errors") if isinstance(data, dict) else None
    if not errors:
        return f"{status} ok"
    ext = errors[0].get("extensions") or {}
    code = ext.get("code")
    return f"{status} {code}" + (f"/{ext['limit']}" if ext.get("limit") else "")


async def abuse_graphql(config: dict[str, Any], stop: asyncio.Event, tally: Tally) -> None:
    import httpx

    url = config["url"] + "/graphql"
    json_headers = {"Content-Type": "application/json"}
    employee = {**json_headers, "Authorization": f"Bearer {config['employeeToken']}"}
    admin = {**json_headers, "Authorization": f"Bearer {config['adminToken']}"}
    nested = [json.dumps({"query": nested_query(d)}).encode() for d in NESTED_DEPTHS]
    fanout = json.dumps({"query": ADMIN_FANOUT, "variables": ADMIN_FANOUT_VARIABLES}).encode()
    streams: dict[str, tuple[list[bytes], dict[str, str]]] = {
        "aliases": ([alias_flood_body()], json_headers),
        "variable": ([big_variable_body()], json_headers),
        "nested": (nested, employee),
        "fanout": ([fanout], admin),
    }
    streams = {kind: stream for kind, stream in streams.items() if kind in config["abuse"]}

    async def loop(kind: str, bodies: list[bytes], headers: dict[str, str]) -> None:
        # A client of its own per stream: one refused upload must not break the others' connection.
        async with httpx.AsyncClient(timeout=60) as client:
            n = 0
            while not stop.is_set():
                body = bodies[n % len(bodies)]
                n += 1
                tally.sent[kind] += 1
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    tally.note(kind, _graphql_outcome(response.status_code, response.content))
                except httpx.HTTPError as exc:
                    # The server answered 413 and hung up while the body was still being sent.
                    tally.note(kind, f"hung up ({type(exc).__name__})")
                tally.seconds[kind] = tally.seconds.get(kind, 0.0) + time.perf_counter() - started

    await asyncio.gather(*(loop(kind, bodies, headers) for kind, (bodies, headers) in streams.items()))


async def abuse_device(config: dict[str, Any], stop: asyncio.Event, tally: Tally) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    gate_id = config["gateId"]
    hello = json.dumps({"type": "hello", "deviceId": config["deviceId"], "secret": config["secret"], "firmware": "x"})
    frames: dict[str, list[str]] = {}
    for kind, size in FLOOD_SIZES.items():
        frames[kind] = [_scan_of_size(size, f"{kind}-{k}", gate_id) for k in range(4)]
    frames["door_forced"] = [json.dumps({"type": "door", "gateId": gate_id, "state": "forced"})]
    floods = [kind for kind in FLOODS if kind in config["abuse"]]
    connections = 0
    while not stop.is_set():
        kind = floods[connections % len(floods)]
        connections += 1
        try:
            async with connect(
                config["wsUrl"] + "/devices/ws", compression=None, ping_interval=None, max_size=None, open_timeout=10
            ) as ws:
                await ws.send(hello)
                welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if welcome.get("type") != "welcome":
                    tally.note("connections", f"not welcomed: {welcome.get('type')}")
                    await asyncio.sleep(0.1)
                    continue
                tally.note("connections", "welcomed")

                async def read(kind: str = kind) -> None:
                    with contextlib.suppress(ConnectionClosed):
                        async for text in ws:
                            tally.note(kind, "reply " + str(json.loads(text).get("type")))

                reader = asyncio.create_task(read())
                mine = frames[kind]
                try:
                    n = 0
                    while not stop.is_set():
                        await ws.send(mine[n % len(mine)])
                        n += 1
                        tally.sent[kind] += 1
                        if n % 16 == 0:
                            await asyncio.sleep(0)  # let the reader see the close
                except ConnectionClosed:
                    pass
                if stop.is_set():
                    reader.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await reader
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader, 5)
                code = ws.close_code
                tally.note(kind, f"closed {code}")
        except ConnectionClosed as exc:
            # Closed before the welcome: refused at hello (4429 while the device is kept off).
            tally.note("connections", f"refused at hello {exc.rcvd.code if exc.rcvd else None}")
        except (OSError, TimeoutError, InvalidStatus) as exc:
            tally.note("connections", type(exc).__name__)
            await asyncio.sleep(0.05)


def _scan_of_size(size: int, ref: str, gate_id: str) -> str:
    """A scan frame of exactly `size` bytes (the credential is padding)."""
    frame = {"type": "scan", "ref": ref, "gateId": gate_id, "credential": ""}
    frame["credential"] = "A" * (size - len(json.dumps(frame)))
    return json.dumps(frame)


async def abuser_main(role: str, config_path: Path, max_seconds: float) -> None:
    """Abuse until SIGTERM (or `max_seconds`), then print the tally as one JSON line."""
    config = json.loads(await asyncio.to_thread(config_path.read_text))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.call_later(max_seconds, stop.set)
    tally = Tally()
    cpu0, t0 = time.process_time(), time.monotonic()
    work = abuse_graphql if role == "graphql" else abuse_device
    print("ready", flush=True)
    task = asyncio.create_task(work(config, stop, tally))
    await stop.wait()
    # Requests in flight (a fan-out query, a 16 MiB upload) get a moment to finish, not more.
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    wall = time.monotonic() - t0
    print(
        json.dumps(
            {
                "role": role,
                "seconds": round(wall, 2),
                "cpuPercent": round(100 * (time.process_time() - cpu0) / wall, 1),
                "kinds": tally.as_json(),
                "busySeconds": {k: round(v, 2) for k, v in tally.seconds.items()},
            }
        ),
        flush=True,
    )


# --- the benchmark -----------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    result: RunResult
    server_cpu: float  # percent of one core over the run
    abuser_cpu: float | None  # the abuser processes, percent of one core
    store_cpu: float | None  # PostgreSQL + Redis (with --postgres), percent of one core
    gen_cpu: float  # this load generator, percent of one core
    other_cpu: float  # everything else on the machine, percent of one core
    load: tuple[float, float, float]  # os.getloadavg() at the end of the run
    window: tuple[float, float] = (0.0, 0.0)  # unix time of the run's start and end (to match server logs)

    @property
    def disturbed(self) -> bool:
        """Other processes used a noticeable share of the machine during the run."""
        return self.other_cpu > DISTURBED_PERCENT

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.label,
            "disturbed": self.disturbed,
            **self.result.summary(),
            "p95Ms": round(self.result.percentile(0.95) * 1000, 3),
            "serverCpuPercent": self.server_cpu,
            "abuserCpuPercent": self.abuser_cpu,
            "storeCpuPercent": self.store_cpu,
            "generatorCpuPercent": self.gen_cpu,
            "otherCpuPercent": self.other_cpu,
            "loadAverage": self.load,
            "window": self.window,
        }


class Abusers:
    """The abuser processes of one run."""

    def __init__(self, tmp: Path, config: dict[str, Any], seconds: float, nice: int) -> None:
        self.nice = nice
        self.config_path = tmp / "abuse-config.json"
        self.config = config
        self.config_path.write_text(json.dumps(config))
        self.max_seconds = seconds
        self.procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self) -> None:
        kinds = set(self.config["abuse"])
        roles = [role for role, mine in (("graphql", GRAPHQL_ABUSE), ("device", FLOODS)) if kinds & set(mine)]
        for role in roles:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.scans_under_abuse",
                "--role",
                role,
                "--config",
                str(self.config_path),
                "--max-seconds",
                str(self.max_seconds),
                cwd=PROJECT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                # Real abusers run on machines of their own: here their CPU comes after the server's.
                preexec_fn=(lambda: os.nice(self.nice)) if self.nice else None,
            )
            self.procs[role] = proc
        for role, proc in self.procs.items():
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            if line.strip() != b"ready":
                err = await proc.stderr.read() if proc.stderr else b""
                raise RuntimeError(f"abuser {role} did not start: {line!r} {err.decode(errors='replace')[-2000:]}")

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs.values()]

    async def stop(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for proc in self.procs.values():
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for role, proc in self.procs.items():
            try:
                stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
            except TimeoutError:
                proc.kill()
                stdout, stderr = await proc.communicate()
            lines = [line for line in stdout.decode(errors="replace").splitlines() if line.startswith("{")]
            out[role] = json.loads(lines[-1]) if lines else {"error": stderr.decode(errors="replace")[-2000:]}
        return out


def start_profiled_server(site: Site) -> ServerProcess:
    """`gatehouse serve` under pyinstrument (--profile): its report, for the server's whole life,
    is written to PROFILE_FILE when the server stops."""
    server = ServerProcess(env=site.env, clock=site.clock)
    server.log_path = site.tmp / f"server-{server.port}.log"
    PROFILE_FILE.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(PROFILE_SESSION)]
    argv += ["-m", "tests.server_child"]
    with open(server.log_path, "wb") as log:
        server.proc = subprocess.Popen(
            [*argv, "serve", "--host", "127.0.0.1", "--port", str(server.port)],
            cwd=PROJECT,
            env=site.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not _healthy(server.port):
        if server.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the profiled server did not start: {server.log()}")
        time.sleep(0.05)
    site.servers.append(server)
    return server


def _stop_profiled(site: Site) -> None:
    """SIGINT, then time for pyinstrument to write its report (longer than Site.stop waits).
    (Uvicorn raises the signal it stopped on again once stopped: SIGTERM would end the process
    before the report; SIGINT becomes a KeyboardInterrupt, which pyinstrument reports on.)"""
    for server in site.servers:
        if isinstance(server.proc, subprocess.Popen) and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGINT)
            try:
                server.proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                server.proc.kill()
    if PROFILE_SESSION.exists():
        render = ["--load", str(PROFILE_SESSION), "-r", "text", "-o", str(PROFILE_FILE)]
        subprocess.run(
            [sys.executable, "-m", "pyinstrument", *render],
            check=False,
            timeout=300,
        )


async def sign_in(http_url: str, username: str, password: str) -> str:
    import httpx

    async with httpx.AsyncClient(timeout=30) as client:
        variables = {"u": username, "p": password}
        answer = await client.post(http_url + "/graphql", json={"query": LOGIN, "variables": variables})
        body = answer.json()
    session = (body.get("data") or {}).get("login", {}).get("session")
    if not session:
        raise RuntimeError(f"could not sign in {username}: {body}")
    return str(session["accessToken"])


async def check_fanout(http_url: str, admin_token: str) -> tuple[float, int]:
    """The admin's fan-out query runs (fits the limits): seconds it took alone, people returned."""
    import httpx

    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        response = await client.post(
            http_url + "/graphql",
            json={"query": ADMIN_FANOUT, "variables": ADMIN_FANOUT_VARIABLES},
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        took = time.perf_counter() - started
    body = response.json()
    if body.get("errors"):
        raise RuntimeError(f"the admin fan-out query was refused: {body['errors'][:2]}")
    return took, len(body["data"]["people"]["edges"])


async def run_window(
    clients: list[GateClient], pool: list[BenchCredential], rate: float, seconds: float, drain: float
) -> RunResult:
    total = int(rate * seconds)
    tokens, _ = sign_tokens(pool[:total])
    per_device = split_round_robin(tokens, len(clients))
    firsts = [c.reserve_refs(len(t)) for c, t in zip(clients, per_device, strict=True)]
    frames = [scan_frames(c.device, f, t) for c, f, t in zip(clients, firsts, per_device, strict=True)]
    return await run_open(clients, frames, firsts, rate, seconds, drain)


async def settle(label: str, seconds: float) -> None:
    """Wait (at most `seconds`) for other processes to go quiet before a run; warn when they do not."""
    waited, busy = await wait_for_quiet(seconds)
    if busy > QUIET_CORES:
        print(
            f"  WARNING the machine is busy before the {label} run ({busy * 100:.0f}% of a core used by other "
            f"processes after waiting {waited:.0f} s): figures are distorted",
            flush=True,
        )


async def measured(
    label: str,
    server_pid: int,
    clients: list[GateClient],
    pool: list[BenchCredential],
    args: argparse.Namespace,
    abusers: Abusers | None,
    store_names: tuple[str, ...],
) -> Row:
    server = CpuMeter([server_pid])
    abuse = CpuMeter(abusers.pids()) if abusers is not None else None
    store = CpuMeter(names=store_names)
    whole = MachineMeter()
    for meter in (server, abuse, store, whole):
        if meter is not None:
            meter.start()
    began = time.time()
    result = await run_window(clients, pool, args.rate, args.seconds, args.drain)
    wall = max(result.wall, 1e-9)
    server_s, abuse_s, store_s = server.seconds(), abuse.seconds() if abuse else 0.0, store.seconds()
    other_s = max(0.0, whole.seconds() - server_s - abuse_s - store_s - result.client_cpu)
    r = result
    print(
        f"  {label}: {r.answered:,} answered, p50 {r.percentile(0.5) * 1000:.2f} ms, p99 "
        f"{r.percentile(0.99) * 1000:.2f} ms, max {max(r.latencies, default=0) * 1000:.1f} ms, {r.lost} lost; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return Row(
        label,
        result,
        round(100.0 * server_s / wall, 1),
        round(100.0 * abuse_s / wall, 1) if abuse else None,
        round(100.0 * store_s / wall, 1) if store_names else None,
        round(100.0 * result.client_cpu / wall, 1),
        round(100.0 * other_s / wall, 1),
        os.getloadavg(),
        (began, time.time()),
    )


async def bench(args: argparse.Namespace, tmp: Path) -> tuple[list[Row], dict[str, Any], dict[str, Any]]:
    per_run = int(args.rate * args.seconds)
    warm = int(args.rate * WARMUP_SECONDS)
    t = time.perf_counter()
    credentials = make_credentials(warm + 2 * per_run)
    pools = [credentials[:warm], credentials[warm : warm + per_run], credentials[warm + per_run :]]
    print(f"  generated {len(credentials):,} phone key pairs in {time.perf_counter() - t:.1f} s", flush=True)
    gc.collect()
    gc.freeze()

    info: dict[str, Any] = {"backend": "postgres" if args.postgres else "sqlite"}
    database_url: str | None = None
    redis_prefix: str | None = None
    if args.postgres:
        database_url = await create_postgres_database()
        site = Site(tmp, database_url=database_url, redis_url=REDIS_URL)
        redis_prefix = f"ghbench:{uuid.uuid4().hex[:8]}:"
        site.env["GATEHOUSE_REDIS_PREFIX"] = redis_prefix
    else:
        site = Site(tmp)
        site.env.pop("GATEHOUSE_REDIS_URL", None)
    try:
        t = time.perf_counter()
        demo = await asyncio.to_thread(site.load_demo)
        key_file = tmp / "public-keys.json"
        write_key_file(key_file, credentials)
        # The bench gates and one more (gate and device) for the abuser, on top of the demo site.
        devices = await seed_in_subprocess(site.env, args.devices + 1, key_file)
        gates, abusive = devices[: args.devices], devices[args.devices]
        if args.profile:
            if importlib.util.find_spec("pyinstrument") is None:
                raise SystemExit("--profile needs pyinstrument (.venv/bin/pip install pyinstrument)")
            server = await asyncio.to_thread(start_profiled_server, site)
        else:
            server = await asyncio.to_thread(site.start_server)
        assert server.proc is not None
        server_pid = server.proc.pid
        info["seedSeconds"] = round(time.perf_counter() - t, 2)
        print(
            f"  {info['backend']}: demo site + {len(credentials):,} credentials and {len(devices)} gates in "
            f"{info['seedSeconds']} s; server pid {server_pid} on :{server.port}",
            flush=True,
        )
        config = {
            "url": server.http,
            "wsUrl": server.ws,
            "employeeToken": await sign_in(server.http, "alice", demo.passwords["alice"]),
            "adminToken": await sign_in(server.http, "admin", demo.passwords["admin"]),
            "deviceId": abusive.device_id,
            "secret": abusive.secret,
            "gateId": abusive.gate_id,
            "abuse": args.abuse,
        }
        took, people = await check_fanout(server.http, config["adminToken"])
        info["fanoutAloneMs"] = round(took * 1000, 1)
        print(f"  the admin fan-out query alone: {people} people in {took * 1000:.0f} ms", flush=True)
        store_names = ("postgres", "redis-server") if args.postgres else ()
        clients = [GateClient(server.ws, d) for d in gates]
        await asyncio.gather(*(c.connect() for c in clients))
        rows: list[Row] = []
        abuse: dict[str, Any] = {}
        try:
            await run_window(clients, pools[0], args.rate, WARMUP_SECONDS, args.drain)
            await settle("no abuse", args.quiet_wait)
            rows.append(await measured("no abuse", server_pid, clients, pools[1], args, None, store_names))
            await settle("under abuse", args.quiet_wait)
            abusers = Abusers(tmp, config, 3 * args.seconds + 30, args.abuser_nice)
            await abusers.start()
            try:
                await asyncio.sleep(RAMP_SECONDS)
                rows.append(await measured("under abuse", server_pid, clients, pools[2], args, abusers, store_names))
            finally:
                abuse = await abusers.stop()
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        log_text = server.log_path.read_text(errors="replace") if server.log_path else ""
        info["serverTracebacks"] = log_text.count("Traceback (most recent call last)")
        return rows, abuse, info
    finally:
        if args.profile:
            await asyncio.to_thread(_stop_profiled, site)
        await asyncio.to_thread(site.stop)
        if database_url is not None:
            await drop_postgres_database(database_url)
        if redis_prefix is not None:
            await _drop_redis_prefix(redis_prefix)


def print_table(rows: list[Row]) -> None:
    head = (
        f"{'other gates':<12} {'scans':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7} {'granted':>8} "
        f"{'denied':>7} {'lost':>5} {'srv cpu':>8} {'db cpu':>7} {'gen cpu':>8} {'abusers':>8} {'other':>6} {'load':>5}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        r = row.result
        s = r.summary()
        decided = r.answered + r.lost
        denied = 100.0 * (r.answered - r.granted) / decided if decided else 0.0
        print(
            f"{row.label:<12} {r.answered:>6,} {_fmt(s['p50Ms'], '.2f'):>7} "
            f"{_fmt(r.percentile(0.95) * 1000, '.2f'):>7} {_fmt(s['p99Ms'], '.2f'):>7} {_fmt(s['maxMs'], '.1f'):>7} "
            f"{s['grantedPercent']:>7.1f}% {denied:>6.1f}% {r.lost:>5} {row.server_cpu:>7.0f}% "
            f"{_fmt(row.store_cpu, '.0f'):>6}% {row.gen_cpu:>7.0f}% "
            f"{_fmt(row.abuser_cpu, '.0f'):>7}% {row.other_cpu:>5.0f}% {row.load[0]:>5.2f}"
            + (" DISTURBED" if row.disturbed else "")
        )
    for row in rows:
        bad = {k: v for k, v in row.result.reasons.items() if k != "ok"}
        if bad or row.result.other_frames:
            print(f"  {row.label}: non-ok reasons {bad}, other frames {dict(row.result.other_frames)}")


def print_abuse(abuse: dict[str, Any]) -> None:
    print("\nWhat the abusers achieved while the gates were measured (sent, and what came back):")
    for role, report in abuse.items():
        if "error" in report:
            print(f"  {role}: FAILED {report['error']}")
            continue
        print(f"  {role} process ({report['seconds']:.0f} s, {report['cpuPercent']:.0f}% of a core):")
        for kind, got in report["kinds"].items():
            outcomes = ", ".join(f"{name} x{n:,}" for name, n in sorted(got["outcomes"].items(), key=lambda x: -x[1]))
            sent = f"{got['sent']:,} sent" if got["sent"] else "-"
            print(f"    {kind:<28} {sent:>12}: {outcomes}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scans_under_abuse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each measured run (default 20)")
    parser.add_argument("--rate", type=float, default=300.0, help="scans/s in total over the gates (default 300)")
    parser.add_argument("--devices", type=int, default=20, help="measured gates, one device each (default 20)")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for replies after a run")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL + Redis instead of SQLite")
    parser.add_argument(
        "--abuse",
        default=",".join(ABUSE),
        help="comma-separated abuse to run (default all): " + ", ".join(ABUSE) + " (to find which one hurts)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=15.0,
        help="before each run, wait up to this many seconds for other processes to go idle (default 15)",
    )
    parser.add_argument(
        "--abuser-nice",
        type=int,
        default=10,
        help="niceness of the abuser processes (default 10: on this machine they stand in for remote "
        "clients, whose CPU is not the server's; 0 lets them compete with the server as equals)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"run the server under pyinstrument: a report of its whole life in {PROFILE_FILE.relative_to(PROJECT)}, "
        f"the session in {PROFILE_SESSION.name} (pyinstrument --load it: -r pstats, --show-all, ...)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (server log)")
    # The abuser processes run this module again with these.
    parser.add_argument("--role", choices=("graphql", "device"), help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--max-seconds", type=float, default=120.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be between 1 and {MAX_SECONDS:.0f} (pass tokens live 30 s)")
    if not 1 <= args.devices <= 1000:
        parser.error("--devices must be between 1 and 1000")
    if not 1 <= args.rate <= 5000:
        parser.error("--rate must be between 1 and 5000")
    args.abuse = [kind.strip() for kind in args.abuse.split(",") if kind.strip()]
    if not args.abuse or set(args.abuse) - set(ABUSE):
        parser.error("--abuse takes a comma-separated list of: " + ", ".join(ABUSE))
    return args


async def main_async(args: argparse.Namespace) -> int:
    started = time.monotonic()
    info = machine()
    print(
        f"Gatehouse scans under abuse: {info['cpus']} CPUs ({info['cpuModel']}), Python {info['python']}; "
        f"{args.devices} gates at {args.rate:.0f} scans/s in total (open loop), {args.seconds:.0f} s without and "
        f"{args.seconds:.0f} s with abuse; {'PostgreSQL + Redis' if args.postgres else 'SQLite'}; server at "
        f"{(info['gitCommit'] or '?')[:10]}{' (uncommitted changes)' if info['gitDirty'] else ''}; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-abuse-"))
    try:
        rows, abuse, backend = await bench(args, tmp)
    finally:
        if args.keep:
            print(f"  kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print()
    print_table(rows)
    print_abuse(abuse)
    under = next(r for r in rows if r.label == "under abuse")
    p99 = under.result.percentile(0.99) * 1000
    all_answered = under.result.lost == 0
    met = p99 < AIM_P99_MS and all_answered
    print(
        f"\naim: the other gates' p99 < {AIM_P99_MS:.0f} ms under abuse: p99 {p99:.2f} ms"
        + ("" if all_answered else f", {under.result.lost} scans never answered")
        + f" -> {'MET' if met else 'MISSED'}"
        + (" (run DISTURBED by other processes)" if under.disturbed else "")
    )
    print(
        "p50-max from each scan's scheduled send; lost = never answered. cpu, % of one core over the run: srv =\n"
        "the server, db = PostgreSQL + Redis, gen = this load generator, abusers = both abuser processes,\n"
        "other = every other process on this machine (other jobs);\n"
        "load = the 1-minute load average at the end of the run; above "
        f"{DISTURBED_PERCENT:.0f}% other the run is marked DISTURBED."
    )
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(
        json.dumps(
            {
                "generatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": info,
                "parameters": {"seconds": args.seconds, "rate": args.rate, "devices": args.devices},
                "backend": backend,
                "results": [r.as_json() for r in rows],
                "abuse": abuse,
                "aim": {
                    "p99BelowMs": AIM_P99_MS,
                    "measuredP99Ms": round(p99, 3),
                    "met": met,
                    "disturbed": under.disturbed,
                },
                "totalSeconds": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )
    if args.profile:
        print(f"server profile in {PROFILE_FILE.relative_to(PROJECT)}")
    print(f"wrote {RESULTS_FILE.relative_to(PROJECT)} ({time.monotonic() - started:.0f} s in all)")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.role is not None:
        if args.config is None:
            raise SystemExit("--role needs --config")
        asyncio.run(abuser_main(args.role, args.config, args.max_seconds))
        return 0
    with loadgen.runner() as runner:
        return runner.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
