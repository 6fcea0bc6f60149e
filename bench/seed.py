"""Benchmark set-up (never measured): phone keys, a seeded database, pre-signed scan frames.

Every scan of a run must use a (credential, step) pair nobody used before (else
`replayed`). Each run gets its own slice of credentials and signs one token per
credential at step `current + 1`: valid from now until the end of step
`current + 2`, so at least 30 s, whatever the run's length within that.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from gatehouse_gate import passtoken

PERIOD = 15
PROJECT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class BenchCredential:
    cid: str
    key: Ed25519PrivateKey
    public_key: bytes


@dataclass(slots=True)
class BenchDevice:
    """One simulated gate device: its id and secret, and the one gate it serves."""

    device_id: str
    secret: str
    gate_id: str


def make_credentials(count: int) -> list[BenchCredential]:
    out: list[BenchCredential] = []
    seen: set[str] = set()
    while len(out) < count:
        cid = passtoken.new_cid()
        if cid in seen:
            continue
        seen.add(cid)
        key = Ed25519PrivateKey.generate()
        out.append(BenchCredential(cid, key, key.public_key().public_bytes_raw()))
    return out


def write_key_file(path: Path, credentials: list[BenchCredential]) -> None:
    """cid → public key (standard base64), for the baseline server."""
    path.write_text(json.dumps({c.cid: base64.b64encode(c.public_key).decode() for c in credentials}))


def sign_tokens(credentials: list[BenchCredential]) -> tuple[list[str], int]:
    """One token per credential at step current + 1 (valid for the next 30 s at least)."""
    step = passtoken.current_step(time.time(), PERIOD) + 1
    return [passtoken.sign(c.cid, step, c.key) for c in credentials], step


def scan_frames(device: BenchDevice, first_ref: int, tokens: list[str]) -> list[str]:
    """Pre-serialised scan frames with refs first_ref, first_ref + 1, … (unique per device)."""
    head = '{"type":"scan","ref":"'
    mid = f'","gateId":"{device.gate_id}","credential":"'
    return [f'{head}{first_ref + k}{mid}{tok}"}}' for k, tok in enumerate(tokens)]


def new_device_secret() -> str:
    return secrets.token_urlsafe(24)


async def seed_database(
    database_url: str, master_key: bytes, devices: int, credentials: list[tuple[str, bytes]]
) -> list[BenchDevice]:
    """A fresh database: one zone (anti-passback OFF), `devices` IN gates each with its own
    device, one department granted the zone, and one active employee per phone credential
    (cid, raw public key).

    Tortoise keeps per-dialect query state in the models, so one process seeds one kind of
    database: the benchmark runs this through `python -m bench.seed` (see `seed_in_subprocess`)."""
    from tortoise import connections

    from resolvers.core import db
    from resolvers.core.crypto import Keys, Sealer
    from resolvers.core.models import (
        AntiPassback,
        Credential,
        CredentialKind,
        CredentialStatus,
        Department,
        Device,
        DeviceGate,
        DeviceKind,
        DeviceStatus,
        Gate,
        GateDirection,
        Grant,
        Person,
        PersonKind,
        PersonStatus,
        Zone,
    )

    sealer = Sealer(Keys.from_master(master_key))
    await db.start(database_url)
    try:
        zone = await Zone.create(name="Bench hall", anti_passback=AntiPassback.OFF)
        department = await Department.create(name="Bench department")
        await Grant.create(zone=zone, department=department)
        # Gates, devices and their links in bulk with explicit ids (a campus of 10,000 gates
        # seeds in seconds, not minutes); ids far above the demo site's.
        first_gate = 2_000_000
        gates = [
            Gate(id=first_gate + i, name=f"Bench turnstile {i + 1}", zone_id=zone.id, direction=GateDirection.IN)
            for i in range(devices)
        ]
        secrets_ = [new_device_secret() for _ in range(devices)]
        commissioned_at = datetime.now(UTC)
        rows = [
            Device(
                id=first_gate + i,
                name=f"Bench scanner {i + 1}",
                kind=DeviceKind.QR_SCANNER,
                secret_hash=sealer.device_secret_hash(secrets_[i]),
                # Seeded as installed and commissioned (a device opens doors only in service), as the
                # rest of the site is seeded straight into the database.
                status=DeviceStatus.COMMISSIONED,
                # A commissioned device went through its checklist (network, configuration, test scan).
                network_reached_at=commissioned_at,
                config_loaded_at=commissioned_at,
                test_scan_at=commissioned_at,
            )
            for i in range(devices)
        ]
        await Gate.bulk_create(gates, batch_size=2000)
        await Device.bulk_create(rows, batch_size=2000)
        await DeviceGate.bulk_create(
            [DeviceGate(id=first_gate + i, device_id=first_gate + i, gate_id=first_gate + i) for i in range(devices)],
            batch_size=2000,
        )
        out = [BenchDevice(str(first_gate + i), secrets_[i], str(first_gate + i)) for i in range(devices)]
        # Explicit ids so the credentials can name their person without reading ids back.
        first_id = 1_000_000
        await Person.bulk_create(
            [
                Person(
                    id=first_id + i,
                    kind=PersonKind.EMPLOYEE,
                    display_name=f"Bench Person {i + 1}",
                    department_id=department.id,
                    roles=["EMPLOYEE"],
                    status=PersonStatus.ACTIVE,
                )
                for i in range(len(credentials))
            ],
            batch_size=2000,
        )
        await Credential.bulk_create(
            [
                Credential(
                    id=first_id + i,
                    cid=cid,
                    person_id=first_id + i,
                    kind=CredentialKind.PHONE,
                    public_key=public_key,
                    period=PERIOD,
                    status=CredentialStatus.ACTIVE,
                    device_name="bench phone",
                )
                for i, (cid, public_key) in enumerate(credentials)
            ],
            batch_size=2000,
        )
        if db.dialect_of(database_url) == "postgres":
            conn = connections.get("default")
            for table in ("person", "credential", "gate", "device", "device_gate"):
                await conn.execute_query(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
        count = await Credential.filter(status=CredentialStatus.ACTIVE).count()
        if count != len(credentials):
            raise RuntimeError(f"seeding stored {count} credentials, expected {len(credentials)}")
        return out
    finally:
        await db.close()


async def seed_in_subprocess(env: dict[str, str], devices: int, key_file: Path) -> list[BenchDevice]:
    """Seed GATEHOUSE_DATABASE_URL (master key GATEHOUSE_SECRET_KEY) from `env` in a child process."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.seed",
        "--devices",
        str(devices),
        "--keys",
        str(key_file),
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError("seeding took over 120 s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"seeding failed: {err.decode(errors='replace')[-3000:]}")
    return [BenchDevice(d["deviceId"], d["secret"], d["gateId"]) for d in json.loads(out)]


def main() -> None:
    parser = argparse.ArgumentParser(description="seed a benchmark site (GATEHOUSE_DATABASE_URL, GATEHOUSE_SECRET_KEY)")
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--keys", type=Path, required=True, help="JSON: cid -> base64 raw Ed25519 public key")
    args = parser.parse_args()
    credentials = [(cid, base64.b64decode(k)) for cid, k in json.loads(args.keys.read_text()).items()]
    master = base64.b64decode(os.environ["GATEHOUSE_SECRET_KEY"])
    devices = asyncio.run(seed_database(os.environ["GATEHOUSE_DATABASE_URL"], master, args.devices, credentials))
    print(json.dumps([{"deviceId": d.device_id, "secret": d.secret, "gateId": d.gate_id} for d in devices]))


if __name__ == "__main__":
    main()
