"""`gatehouse-gate simulate` (gatehouse_gate.cli): many gates at once, for tests, demos and benchmarks.

The fleet file is JSON: {"devices": [{"id", "secret", "gateId", "direction"?}, ...],
"credentials": [{"cid", "seed"}, ...]} where `seed` is a phone key's 32-byte Ed25519 seed
in hex. Each device runs a real GateAgent (online, falling back to offline decisions).
Scans are paced at --rate in total; every scan uses a (credential, step) never used before.
"""

from __future__ import annotations

import asyncio
import collections
import json
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatehouse_gate import passtoken
from gatehouse_gate.agent import Door, GateAgent


class QuietDoor(Door):
    async def open(self, gate_id: str, duration_ms: int, hold: bool = False) -> None:
        return None

    async def close(self, gate_id: str) -> None:
        return None


class TokenSource:
    """Hands out tokens whose (credential, step) pair was never used before."""

    def __init__(self, credentials: list[dict[str, str]]) -> None:
        if not credentials:
            raise ValueError("the fleet file lists no credentials")
        self.keys = [(c["cid"], Ed25519PrivateKey.from_private_bytes(bytes.fromhex(c["seed"]))) for c in credentials]
        self.used: set[tuple[str, int]] = set()
        self.i = 0

    def next(self) -> str | None:
        now_step = passtoken.current_step(time.time(), passtoken.DEFAULT_PERIOD)
        for _ in range(len(self.keys) * 3):
            cid, key = self.keys[self.i % len(self.keys)]
            self.i += 1
            for step in (now_step, now_step + 1, now_step - 1):
                if (cid, step) not in self.used:
                    self.used.add((cid, step))
                    return passtoken.sign(cid, step, key)
        return None


async def run_simulation(
    server: str, fleet_file: Path, seconds: float, rate: float, tls: ssl.SSLContext | None = None
) -> int:
    """Drive every device of the fleet for `seconds` at `rate` scans per second in total;
    print one JSON summary line (scans, reasons, offline decisions, p50/p99 latency)."""
    if rate <= 0 or seconds <= 0:
        raise ValueError("--rate and --seconds must be positive")
    fleet = json.loads(await asyncio.to_thread(fleet_file.read_text))
    tokens = TokenSource(fleet.get("credentials", []))
    with tempfile.TemporaryDirectory() as tmp:
        agents = [
            (GateAgent(server, str(d["id"]), d["secret"], Path(tmp) / str(d["id"]), QuietDoor(), tls), d)
            for d in fleet.get("devices", [])
        ]
        if not agents:
            raise ValueError("the fleet file lists no devices")
        links = [asyncio.create_task(a.run_link()) for a, _ in agents]
        await asyncio.wait_for(asyncio.gather(*(a.online.wait() for a, _ in agents)), 30)
        reasons: collections.Counter[str] = collections.Counter()
        latencies: list[float] = []
        offline = 0
        interval = 1.0 / rate
        start = time.perf_counter()
        tasks = []

        async def one(agent: GateAgent, device: dict[str, Any], token: str) -> None:
            nonlocal offline
            t0 = time.perf_counter()
            _, reason, was_offline = await agent.scan(str(device["gateId"]), token, device.get("direction"))
            latencies.append((time.perf_counter() - t0) * 1000)
            reasons[reason] += 1
            offline += was_offline

        n = 0
        while time.perf_counter() - start < seconds:
            token = tokens.next()
            if token is None:
                break
            agent, device = agents[n % len(agents)]
            tasks.append(asyncio.create_task(one(agent, device, token)))
            n += 1
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        await asyncio.gather(*tasks)
        for agent, _ in agents:
            agent.stopping = True
        for link in links:
            link.cancel()
        await asyncio.gather(*links, return_exceptions=True)
    latencies.sort()
    summary = {
        "scans": n,
        "seconds": round(time.perf_counter() - start, 2),
        "reasons": dict(reasons),
        "offline": offline,
        "p50_ms": round(latencies[len(latencies) // 2], 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)], 2) if latencies else None,
    }
    print(json.dumps(summary), flush=True)
    return 0
