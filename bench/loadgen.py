"""The load generator: simulated gate devices on the real WebSocket protocol.

Kept light, because on a 2-core machine it shares the CPU with the server: frames
are pre-serialised, replies are parsed once, latencies go into flat lists, and the
cyclic GC is off while a run is measured.

Two modes:
- closed loop: every device keeps `inflight` scans outstanding and sends the next one
  when a decision comes back; latency runs from the real send.
- open loop: one timetable for all devices at a fixed total rate; latency runs from the
  *scheduled* send time, so a server (or client) that falls behind cannot hide it.

Everything is bounded: a run stops sending at its end time, waits at most `drain`
seconds for replies, and counts what never came back as lost (with the time waited
as a lower bound of its latency).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.seed import BenchDevice


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (the server runs on it too), else asyncio's own loop."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def runner() -> asyncio.Runner:
    """The runner every bench's main and load-generator process uses."""
    return asyncio.Runner(loop_factory=new_loop)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class GateClient:
    def __init__(self, base_url: str, device: BenchDevice) -> None:
        self.url = base_url + "/devices/ws"
        self.device = device
        self.ws: ClientConnection | None = None
        self.next_ref = 1

    async def connect(self) -> None:
        # No permessage-deflate (gate firmware rarely speaks it), no pings during runs.
        self.ws = await connect(
            self.url, compression=None, ping_interval=None, proxy=None, max_size=1024 * 1024, open_timeout=10
        )
        hello = {"type": "hello", "deviceId": self.device.device_id, "secret": self.device.secret, "firmware": "bench"}
        await self.ws.send(json.dumps(hello))
        welcome = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"device {self.device.device_id} was not welcomed: {welcome}")

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def reserve_refs(self, count: int) -> int:
        first = self.next_ref
        self.next_ref += count
        return first


@dataclass
class RunResult:
    mode: str
    duration: float  # seconds of the measured window
    sent: int = 0
    answered: int = 0
    answered_in_window: int = 0
    granted: int = 0
    lost: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    other_frames: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, answered and lost
    send_lag: list[float] = field(default_factory=list)  # open loop: how late the client sent
    wall: float = 0.0  # seconds from the first send to the end of the drain
    client_cpu: float = 0.0  # CPU seconds this process used over `wall`
    exhausted: bool = False
    target_rate: float | None = None

    @property
    def rate(self) -> float:
        return self.answered_in_window / self.duration if self.duration > 0 else 0.0

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        data = sorted(self.latencies if values is None else values)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, max(0, round(q * (len(data) - 1))))]

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        lag = sorted(self.send_lag)
        return {
            "mode": self.mode,
            "targetRate": self.target_rate,
            "scansPerSecond": round(self.rate, 1),
            "windowSeconds": round(self.duration, 3),
            "sent": self.sent,
            "answered": self.answered,
            "lost": self.lost,
            "granted": self.granted,
            "grantedPercent": round(100.0 * self.granted / (self.answered + self.lost), 2) if self.answered else 0.0,
            "reasons": dict(self.reasons),
            "otherFrames": dict(self.other_frames),
            "p50Ms": round(self.percentile(0.50, lat) * 1000, 3),
            "p90Ms": round(self.percentile(0.90, lat) * 1000, 3),
            "p99Ms": round(self.percentile(0.99, lat) * 1000, 3),
            "p999Ms": round(self.percentile(0.999, lat) * 1000, 3),
            "maxMs": round(lat[-1] * 1000, 3) if lat else None,
            "sendLagP99Ms": round(self.percentile(0.99, lag) * 1000, 3) if lag else None,
            "sendLagMaxMs": round(lag[-1] * 1000, 3) if lag else None,
            "clientCpuPercent": round(100.0 * self.client_cpu / self.wall, 1) if self.wall else None,
            "tokensExhausted": self.exhausted,
        }


def _note(result: RunResult, msg: dict[str, Any]) -> None:
    """Count one decision of this run."""
    result.answered += 1
    if msg.get("granted") is True:
        result.granted += 1
    result.reasons[str(msg.get("reason"))] += 1


def _decision_ref(result: RunResult, msg: dict[str, Any]) -> int | None:
    """The ref of a decision frame as a number; None (and counted) for any other frame."""
    if msg.get("type") != "decision":
        result.other_frames[str(msg.get("type"))] += 1
        return None
    try:
        return int(msg["ref"])
    except (KeyError, TypeError, ValueError):
        result.other_frames["decision_without_ref"] += 1
        return None


class _Gc:
    """Cyclic GC off for the measured window (the client's pauses are not the server's)."""

    def __enter__(self) -> None:
        gc.collect()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        gc.enable()
        gc.collect()


async def run_closed(
    clients: list[GateClient],
    frames: list[list[str]],
    first_refs: list[int],
    seconds: float,
    inflight: int,
    drain: float,
) -> RunResult:
    """Every device keeps `inflight` scans outstanding until `seconds` pass or its frames run out."""
    result = RunResult("closed", seconds)
    pc = time.perf_counter
    loads = json.loads
    send_times = [[0.0] * len(f) for f in frames]
    answered = [bytearray(len(f)) for f in frames]
    next_index = [0] * len(clients)
    arrivals: list[float] = []
    exhausted_at: list[float] = []
    stop_at = 0.0

    async def device(d: int) -> None:
        ws = clients[d].ws
        assert ws is not None
        mine, times, done, base = frames[d], send_times[d], answered[d], first_refs[d]
        n = len(mine)
        sent = outstanding = 0
        while sent < n and outstanding < inflight:
            times[sent] = pc()
            await ws.send(mine[sent])
            sent += 1
            outstanding += 1
            next_index[d] = sent
        while outstanding:
            raw = await ws.recv()
            now = pc()
            msg = loads(raw)
            ref = _decision_ref(result, msg)
            if ref is None:
                continue
            i = ref - base
            if not 0 <= i < n or done[i]:
                result.other_frames["stray_decision"] += 1  # e.g. a late reply to an earlier run
                continue
            _note(result, msg)
            done[i] = 1
            outstanding -= 1
            result.latencies.append(now - times[i])
            arrivals.append(now)
            if sent < n and now < stop_at:
                times[sent] = pc()
                await ws.send(mine[sent])
                sent += 1
                outstanding += 1
                next_index[d] = sent
            elif sent >= n and now < stop_at and not exhausted_at:
                exhausted_at.append(now)

    with _Gc():
        cpu0 = time.process_time()
        start = pc()
        stop_at = start + seconds
        tasks = [asyncio.create_task(device(d)) for d in range(len(clients))]
        _, pending = await asyncio.wait(tasks, timeout=seconds + drain)
        end = pc()
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in tasks:
            if not t.cancelled() and t.exception() is not None:
                raise RuntimeError("a simulated device failed") from t.exception()
        window_end = min(stop_at, exhausted_at[0]) if exhausted_at else stop_at
        result.client_cpu = time.process_time() - cpu0
    result.exhausted = bool(exhausted_at)
    result.duration = window_end - start
    result.wall = end - start
    result.answered_in_window = sum(1 for a in arrivals if a <= window_end)
    result.sent = sum(next_index)
    for d in range(len(clients)):
        for i in range(next_index[d]):
            if not answered[d][i]:
                result.lost += 1
                result.latencies.append(end - send_times[d][i])
    return result


async def run_open(
    clients: list[GateClient], frames: list[list[str]], first_refs: list[int], rate: float, seconds: float, drain: float
) -> RunResult:
    """`rate` scans/s in total on a fixed timetable, device i % n sending scan i."""
    n_dev = len(clients)
    total = sum(len(f) for f in frames)
    result = RunResult("open", seconds, target_rate=rate)
    pc = time.perf_counter
    loads = json.loads
    interval = 1.0 / rate
    answered = bytearray(total)
    arrivals: list[float] = []
    t0 = 0.0

    async def receiver(d: int) -> None:
        ws = clients[d].ws
        assert ws is not None
        base = first_refs[d]
        expected = len(frames[d])
        got = 0
        while got < expected:
            raw = await ws.recv()
            now = pc()
            msg = loads(raw)
            ref = _decision_ref(result, msg)
            if ref is None:
                continue
            k = ref - base
            i = d + k * n_dev
            if not 0 <= k < expected or answered[i]:
                result.other_frames["stray_decision"] += 1  # e.g. a late reply to an earlier run
                continue
            _note(result, msg)
            answered[i] = 1
            got += 1
            result.latencies.append(now - (t0 + i * interval))
            arrivals.append(now)

    async def scheduler() -> None:
        lag = result.send_lag
        sockets = [c.ws for c in clients]
        for i in range(total):
            due = t0 + i * interval
            now = pc()
            if due > now:
                await asyncio.sleep(due - now)
                now = pc()
            lag.append(now - due)
            ws = sockets[i % n_dev]
            assert ws is not None
            await ws.send(frames[i % n_dev][i // n_dev])
            result.sent += 1

    with _Gc():
        cpu0 = time.process_time()
        t0 = pc() + 0.02
        receivers = [asyncio.create_task(receiver(d)) for d in range(n_dev)]
        sender = asyncio.create_task(scheduler())
        _, pending = await asyncio.wait([sender, *receivers], timeout=seconds + drain + 0.02)
        end = pc()
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for t in [sender, *receivers]:
            if not t.cancelled() and t.exception() is not None:
                raise RuntimeError("a simulated device failed") from t.exception()
        result.client_cpu = time.process_time() - cpu0
    # Delivered throughput: the timetable's length, or longer if the last replies came late
    # (a server that keeps up delivers exactly `rate`).
    result.duration = max(total * interval, (max(arrivals) - t0) if arrivals else 0.0)
    result.wall = end - t0
    result.answered_in_window = len(arrivals)
    # Scans never answered (or never sent because the client fell behind) count as lost,
    # with the time waited since their scheduled send as a lower bound of their latency.
    for i in range(total):
        if not answered[i]:
            result.lost += 1
            result.latencies.append(end - (t0 + i * interval))
    return result


def split_round_robin(tokens: list[str], parts: int) -> list[list[str]]:
    """Token i goes to device i % parts (the open-loop timetable's order)."""
    return [tokens[d::parts] for d in range(parts)]


def split_even(tokens: list[str], parts: int) -> list[list[str]]:
    size = len(tokens) // parts
    return [tokens[d * size : (d + 1) * size] for d in range(parts)]


class MachineMeter:
    """CPU seconds the whole machine spent busy (all cores, every process), from /proc/stat."""

    def __init__(self) -> None:
        self._start = 0

    @staticmethod
    def _busy() -> int:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        steal = fields[7] if len(fields) > 7 else 0
        return sum(fields[:8]) - idle - steal

    def start(self) -> None:
        self._start = self._busy()

    def seconds(self) -> float:
        return (self._busy() - self._start) / CLOCK_TICKS


# A PostgreSQL backend's process title: "postgres: <cluster>: <user> <database> <host>(<port>) <state>".
_PG_BACKEND = re.compile(r" (\S+) (?:[\d.:a-f]+\(\d+\)|\[local\])")


class CpuMeter:
    """CPU seconds used by a set of processes (by pid, with their descendants if asked, or by
    command name: every `postgres` backend and `redis-server`), from /proc, before/after."""

    def __init__(
        self,
        pids: list[int] | None = None,
        names: tuple[str, ...] = (),
        descendants: bool = False,
        database: str | None = None,
    ) -> None:
        self.pids = list(pids or [])
        self.database = database
        self.names = names
        self.descendants = descendants
        self._start: dict[int, int] = {}

    def _all_pids(self) -> list[int]:
        pids = list(self.pids)
        if self.names or self.descendants:
            parents: dict[int, int] = {}
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                try:
                    if self.names:
                        with open(f"/proc/{entry}/comm") as f:
                            if f.read().strip() in self.names and self._ours(int(entry)):
                                pids.append(int(entry))
                    if self.descendants:
                        with open(f"/proc/{entry}/stat") as f:
                            parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
            if self.descendants:  # a uvicorn supervisor's workers (and theirs)
                known = set(pids)
                grew = True
                while grew:
                    grew = False
                    for pid, parent in parents.items():
                        if parent in known and pid not in known:
                            known.add(pid)
                            pids.append(pid)
                            grew = True
        return pids

    def _ours(self, pid: int) -> bool:
        """With `database` set, a PostgreSQL backend counts only when it serves that database (other
        jobs on the machine use the same PostgreSQL); its shared processes (WAL writer, checkpointer)
        always count. Redis serves everyone from one process: it counts whole."""
        if self.database is None:
            return True
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return False
        backend = _PG_BACKEND.search(title)
        return backend is None or backend.group(1) == self.database

    @staticmethod
    def _ticks(pid: int) -> int | None:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return int(fields[11]) + int(fields[12])  # utime + stime

    def start(self) -> None:
        self._start = {pid: t for pid in self._all_pids() if (t := self._ticks(pid)) is not None}

    def seconds(self) -> float:
        total = 0
        for pid in self._all_pids():
            t = self._ticks(pid)
            if t is not None:
                total += t - self._start.get(pid, 0)
        return total / CLOCK_TICKS
