"""State every server process must agree on for a scan: used tokens, who is inside, devices online.

`MemoryScanState` serves one process; `RedisScanState` makes two workers sharing
Redis refuse the second use of one token (an atomic SET NX per (credential, step)).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from realtime.redis_pipe import PipelinedRedis, PipelinedScript

REF_MEMORY_SECONDS = 600
REDIS_CONNECTIONS = 64
REF_MEMORY_MAX = 200_000


@dataclass(frozen=True, slots=True)
class TokenClaim:
    """The outcome of claiming (credential, step) for a gate.

    fresh: nobody used it before. Otherwise `gate_id` is where it was used first, `device_id`
    and `ref` the scan that used it (so the device's retry of that very scan is told apart from
    a copy of the token) and `decision` what that gate was told (None while still being decided).
    """

    fresh: bool
    gate_id: int | None = None
    decision: dict[str, Any] | None = None
    device_id: int | None = None
    ref: str | None = None
    # The grants version when the claim was made (read in the same round trip; see grants_version).
    grants_version: int = 0
    # The answer already given to this device's scan `ref` with this very credential (a retry),
    # read in the same round trip when the claim names the credential; nothing was claimed then.
    remembered: dict[str, Any] | None = None


# A used token's value: the first line names the scan that used it ([gate, device, ref] as JSON,
# which never holds a raw newline), the second its decision once settled.
def _use_head(gate_id: int, device_id: int | None, ref: str | None) -> str:
    return json.dumps([gate_id, device_id, ref])


def _encode_use(head: str, decision: dict[str, Any] | None) -> str:
    return f"{head}\n{json.dumps(decision) if decision is not None else ''}"


def _decode_use(raw: str, grants_version: int = 0) -> TokenClaim:
    head, _, decision = raw.partition("\n")
    gate, device, ref = json.loads(head)
    return TokenClaim(
        fresh=False,
        gate_id=gate,
        decision=json.loads(decision) if decision else None,
        device_id=device,
        ref=ref,
        grants_version=grants_version,
    )


def credential_digest(credential: str) -> str:
    """What a remembered answer keeps of the credential it was given (a retry must match it)."""
    return hashlib.blake2b(credential.encode(), digest_size=16).hexdigest()


class ScanStateLost(Exception):
    """The shared state was lost since it was loaded (Redis restarted empty, or was flushed): it
    must be rebuilt from the event log before anything is decided on it again."""


# A token's settlement: (cid, step, gate, decision, ttl, device, ref), the last two naming the scan.
Settle = tuple[str, int, int, dict[str, Any], int, int | None, str | None]
# The answer to remember for a device's scan: (device, ref, credential, reply) as in remember_ref.
Remember = tuple[int, str, str, dict[str, Any]]


class ScanState:
    rebuilding: Any = None  # this process's rebuild task after a loss (resolvers/scan/presence.py)

    async def connect(self) -> None:
        return None

    async def disconnect(self) -> None:
        return None

    async def claim_token(
        self,
        cid: str,
        step: int,
        gate_id: int,
        ttl: int,
        device_id: int | None = None,
        ref: str | None = None,
        credential: str | None = None,
    ) -> TokenClaim:
        """Claim (cid, step) for this scan. With `credential` (and device and ref), the answer
        remembered for that scan (`recall_ref`) is looked up first, in the same round trip: when
        there is one, nothing is claimed and the claim carries it as `remembered`."""
        raise NotImplementedError

    async def settle_token(
        self,
        cid: str,
        step: int,
        gate_id: int,
        decision: dict[str, Any],
        ttl: int,
        device_id: int | None = None,
        ref: str | None = None,
    ) -> None:
        raise NotImplementedError

    async def inside(self, person_id: int) -> set[int]:
        """The zones the person is inside; raises ScanStateLost when the state was lost since loaded."""
        raise NotImplementedError

    async def grants_version(self) -> int:
        """The version of the grants every process shares: bumped after each committed grant change,
        so a process whose grant index was read at another version reads it again before deciding
        (a revocation on one worker stops admitting on the others at once, whatever the bus does).
        `claim_token` reads it in the same round trip."""
        raise NotImplementedError

    async def bump_grants_version(self) -> None:
        """A grant change has committed: every process's grant index is now out of date."""
        raise NotImplementedError

    async def finish(
        self,
        settle: Settle | None,
        person_id: int | None,
        enter: int | None,
        leave: Iterable[int] | None,
        remember: Remember | None = None,
    ) -> None:
        """After a decision: record it for the token (cid, step, gate, decision, ttl, device, ref), move the
        person in or out, and remember the device's answer for its retry (`remember_ref`). One round
        trip on Redis; the scan path waits for it once, not three times."""
        if settle is not None:
            await self.settle_token(*settle)
        if person_id is not None and enter is not None:
            await self.enter(person_id, enter)
        if person_id is not None and leave is not None:
            await self.leave(person_id, leave)
        if remember is not None:
            await self.remember_ref(*remember)

    async def enter(self, person_id: int, zone_id: int) -> None:
        raise NotImplementedError

    async def claim_entry(self, person_id: int, zone_id: int) -> bool:
        """Put the person inside `zone_id` unless they already are (True: this call put them there).
        One atomic step, so two gates of a HARD anti-passback zone cannot both let one person in."""
        raise NotImplementedError

    async def leave(self, person_id: int, zone_ids: Iterable[int]) -> None:
        raise NotImplementedError

    async def needs_presence_rebuild(self) -> bool:
        raise NotImplementedError

    async def everyone_inside(self) -> dict[int, set[int]]:
        """person → zones they are inside, for a muster roll call; says nothing of a loss: read it
        through resolvers/scan/presence.py `everyone_inside`, which checks the marker."""
        raise NotImplementedError

    async def load_presence(self, inside: dict[int, set[int]], tokens: Iterable[Settle] = ()) -> None:
        """Replace presence with `inside`, restore the used tokens, and mark the state loaded."""
        raise NotImplementedError

    async def lock_rebuild(self, seconds: int) -> bool:
        """One process at a time rebuilds a lost state (True: this one may)."""
        raise NotImplementedError

    async def unlock_rebuild(self) -> None:
        raise NotImplementedError

    async def recall_ref(self, device_id: int, ref: str, credential: str) -> dict[str, Any] | None:
        """The answer given to this device's scan `ref`, only if that scan carried `credential`."""
        raise NotImplementedError

    async def remember_ref(self, device_id: int, ref: str, credential: str, decision: dict[str, Any]) -> None:
        raise NotImplementedError

    async def set_device_connection(self, device_id: int, connection: str, ttl: int) -> None:
        raise NotImplementedError

    async def renew_device_connections(self, held: Sequence[tuple[int, str, int]]) -> None:
        """Each (device, connection, ttl) held again for ttl seconds, unless another connection holds
        the device now (it reconnected since: the newer connection's hold stays). One round trip for
        a batch of a campus's heartbeats, not one a heartbeat."""
        raise NotImplementedError

    async def clear_device_connection(self, device_id: int, connection: str) -> None:
        raise NotImplementedError

    async def device_connection(self, device_id: int) -> str | None:
        raise NotImplementedError

    async def device_connections(self, device_ids: Sequence[int]) -> dict[int, str]:
        """The connection each connected device of `device_ids` holds (the others are left out):
        one round trip for a page of a campus, not one a device."""
        raise NotImplementedError

    async def add_failure(self, key: str, window: int) -> int:
        """Count one failed attempt under `key`; the count lapses `window` seconds after the first."""
        raise NotImplementedError

    async def failures(self, key: str) -> int:
        raise NotImplementedError

    async def clear_failures(self, key: str) -> None:
        raise NotImplementedError


class MemoryScanState(ScanState):
    def __init__(self) -> None:
        self._tokens: dict[tuple[str, int], tuple[float, str]] = {}
        self._inside: dict[int, set[int]] = {}
        self._refs: OrderedDict[tuple[int, str], tuple[float, str, dict[str, Any]]] = OrderedDict()
        self._devices: dict[int, tuple[float, str]] = {}
        self._presence_loaded = False
        self._failures: dict[str, tuple[float, int]] = {}
        self._last_sweep = time.monotonic()
        self._grants_version = 0

    def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < 5:
            return
        self._last_sweep = now
        for key in [k for k, (exp, _) in self._tokens.items() if exp < now]:
            del self._tokens[key]
        for fkey in [k for k, (exp, _) in self._failures.items() if exp < now]:
            del self._failures[fkey]

    async def claim_token(
        self,
        cid: str,
        step: int,
        gate_id: int,
        ttl: int,
        device_id: int | None = None,
        ref: str | None = None,
        credential: str | None = None,
    ) -> TokenClaim:
        self._sweep()
        if credential is not None and device_id is not None and ref is not None:
            remembered = await self.recall_ref(device_id, ref, credential)
            if remembered is not None:
                return TokenClaim(fresh=False, grants_version=self._grants_version, remembered=remembered)
        key = (cid, step)
        held = self._tokens.get(key)
        if held is not None and held[0] >= time.monotonic():
            return _decode_use(held[1], self._grants_version)
        self._tokens[key] = (time.monotonic() + ttl, _encode_use(_use_head(gate_id, device_id, ref), None))
        return TokenClaim(fresh=True, grants_version=self._grants_version)

    async def settle_token(
        self,
        cid: str,
        step: int,
        gate_id: int,
        decision: dict[str, Any],
        ttl: int,
        device_id: int | None = None,
        ref: str | None = None,
    ) -> None:
        value = _encode_use(_use_head(gate_id, device_id, ref), decision)
        self._tokens[(cid, step)] = (time.monotonic() + ttl, value)

    async def inside(self, person_id: int) -> set[int]:
        return set(self._inside.get(person_id, ()))

    async def grants_version(self) -> int:
        return self._grants_version

    async def bump_grants_version(self) -> None:
        self._grants_version += 1

    async def enter(self, person_id: int, zone_id: int) -> None:
        self._inside.setdefault(person_id, set()).add(zone_id)

    async def claim_entry(self, person_id: int, zone_id: int) -> bool:
        zones = self._inside.setdefault(person_id, set())
        if zone_id in zones:  # no await between the test and the add: atomic in this process
            return False
        zones.add(zone_id)
        return True

    async def leave(self, person_id: int, zone_ids: Iterable[int]) -> None:
        zones = self._inside.get(person_id)
        if zones:
            zones.difference_update(zone_ids)

    async def needs_presence_rebuild(self) -> bool:
        return not self._presence_loaded

    async def everyone_inside(self) -> dict[int, set[int]]:
        return {p: set(z) for p, z in self._inside.items() if z}

    async def load_presence(self, inside: dict[int, set[int]], tokens: Iterable[Settle] = ()) -> None:
        self._inside = {p: set(z) for p, z in inside.items()}
        for settle in tokens:
            await self.settle_token(*settle)
        self._presence_loaded = True

    async def lock_rebuild(self, seconds: int) -> bool:
        return True  # a process's own memory is never lost while it runs

    async def unlock_rebuild(self) -> None:
        return None

    async def recall_ref(self, device_id: int, ref: str, credential: str) -> dict[str, Any] | None:
        held = self._refs.get((device_id, ref))
        if held is None or held[0] < time.monotonic() or held[1] != credential_digest(credential):
            return None
        return held[2]

    async def remember_ref(self, device_id: int, ref: str, credential: str, decision: dict[str, Any]) -> None:
        self._refs[(device_id, ref)] = (time.monotonic() + REF_MEMORY_SECONDS, credential_digest(credential), decision)
        self._refs.move_to_end((device_id, ref))
        while len(self._refs) > REF_MEMORY_MAX:
            self._refs.popitem(last=False)

    async def set_device_connection(self, device_id: int, connection: str, ttl: int) -> None:
        self._devices[device_id] = (time.monotonic() + ttl, connection)

    async def renew_device_connections(self, held: Sequence[tuple[int, str, int]]) -> None:
        now = time.monotonic()
        for device_id, connection, ttl in held:
            current = self._devices.get(device_id)
            if current is None or current[0] < now or current[1] == connection:
                self._devices[device_id] = (now + ttl, connection)

    async def clear_device_connection(self, device_id: int, connection: str) -> None:
        held = self._devices.get(device_id)
        if held is not None and held[1] == connection:
            del self._devices[device_id]

    async def device_connection(self, device_id: int) -> str | None:
        held = self._devices.get(device_id)
        if held is None or held[0] < time.monotonic():
            return None
        return held[1]

    async def device_connections(self, device_ids: Sequence[int]) -> dict[int, str]:
        now = time.monotonic()
        held = ((i, self._devices.get(i)) for i in device_ids)
        return {i: h[1] for i, h in held if h is not None and h[0] >= now}

    async def add_failure(self, key: str, window: int) -> int:
        now = time.monotonic()
        expires, count = self._failures.get(key, (now + window, 0))
        if expires < now:
            expires, count = now + window, 0
        self._failures[key] = (expires, count + 1)
        return count + 1

    async def failures(self, key: str) -> int:
        held = self._failures.get(key)
        return held[1] if held is not None and held[0] >= time.monotonic() else 0

    async def clear_failures(self, key: str) -> None:
        self._failures.pop(key, None)


# Claims check the marker written when the state was loaded (ARGV[3] = '1' once this process has
# seen it): a Redis that restarted empty, or was flushed, has none, and nothing is claimed on it.
_LOST = "!lost"
# It answers {the token's earlier use or '' if this claim is the first, the grants version}: the
# version costs the scan no round trip of its own. With a credential digest (ARGV[4]) it first looks
# for the answer remembered for the scan's ref (KEYS[4], see remember_ref): a retry gets
# {'!ref', version, the remembered value} and claims nothing; that costs no round trip either.
_REMEMBERED = "!ref"
_CLAIM = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return {'!lost', '0'} end
local version = redis.call('GET', KEYS[3]) or '0'
if ARGV[4] ~= '' then
  local held = redis.call('GET', KEYS[4])
  if held and string.sub(held, 1, string.len(ARGV[4]) + 1) == ARGV[4] .. '\\n' then
    return {'!ref', version, held}
  end
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return {'', version} end
return {redis.call('GET', KEYS[1]), version}
"""
# A decision's aftermath in one command (one script call costs the client about a quarter less than
# a pipeline of the same commands): settle the token (ARGV[1], '' for none, for ARGV[2] s), move the
# person in (ARGV[3]) and out (ARGV[6:]) of zones, remember the device's answer (ARGV[4], for ARGV[5] s).
_FINISH = """
if ARGV[1] ~= '' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('SADD', KEYS[2], ARGV[3]) end
if #ARGV > 5 then redis.call('SREM', KEYS[2], unpack(ARGV, 6)) end
if ARGV[4] ~= '' then redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[5]) end
return 1
"""
# Presence with the marker in the same step (nothing can flush in between).
_INSIDE = """
return {redis.call('EXISTS', KEYS[2]), redis.call('SMEMBERS', KEYS[1])}
"""
_CLAIM_ENTRY = """
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
return redis.call('SADD', KEYS[1], ARGV[1])
"""
_CLEAR_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW_IF = """
local held = redis.call('GET', KEYS[1])
if held == false or held == ARGV[1] then return redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
return 0
"""


class RedisScanState(ScanState):
    def __init__(self, url: str, prefix: str = "gatehouse:") -> None:
        self._url = url
        self.P = prefix
        self._r: Any = None
        self._marker = f"{prefix}presence-loaded"
        self._grants_key = f"{prefix}grants-version"
        self._guarded = "0"  # '1' once this process has seen the state loaded (the marker set)

    async def connect(self) -> None:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff

        # A blocking pool: at the morning rush scans wait a moment for a connection rather than
        # failing (the default pool refuses outright once it is full). Pooled connections that a
        # Redis restart closed are retried on a fresh connection rather than failing the request.
        pool = aioredis.BlockingConnectionPool.from_url(
            self._url,
            max_connections=REDIS_CONNECTIONS,
            timeout=5,
            decode_responses=True,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
            client_name=f"{self.P}state",
        )
        self._r = aioredis.Redis(connection_pool=pool)
        await self._r.ping()
        self._clear_if = self._r.register_script(_CLEAR_IF)
        self._renew_if = self._r.register_script(_RENEW_IF)
        # The scan path's commands go through one pipelined connection (realtime/redis_pipe.py):
        # a tenth of the client's CPU a command that the pool above costs.
        self._pipe = PipelinedRedis(self._url, client_name=f"{self.P}state")
        await self._pipe.call("PING")
        self._claim = PipelinedScript(self._pipe, _CLAIM)
        self._claim_entry = PipelinedScript(self._pipe, _CLAIM_ENTRY)
        self._finish = PipelinedScript(self._pipe, _FINISH)
        self._inside = PipelinedScript(self._pipe, _INSIDE)

    async def disconnect(self) -> None:
        if self.rebuilding is not None:
            self.rebuilding.cancel()
        if self._r is not None:
            await self._pipe.close()
            await self._r.aclose()

    async def claim_token(
        self,
        cid: str,
        step: int,
        gate_id: int,
        ttl: int,
        device_id: int | None = None,
        ref: str | None = None,
        credential: str | None = None,
    ) -> TokenClaim:
        keys = [f"{self.P}tok:{cid}:{step}", self._marker, self._grants_key]
        digest = ""
        if credential is not None and device_id is not None and ref is not None:
            keys.append(self._ref_key(device_id, ref))
            digest = credential_digest(credential)
        answer = await self._claim(
            keys=keys, args=[_encode_use(_use_head(gate_id, device_id, ref), None), ttl, self._guarded, digest]
        )
        held, version = answer[0], int(answer[1])
        if held == _LOST:
            raise ScanStateLost("the used tokens were lost (Redis restarted or was flushed)")
        if held == _REMEMBERED:
            remembered = json.loads(answer[2].partition("\n")[2])
            return TokenClaim(fresh=False, grants_version=version, remembered=remembered)
        return TokenClaim(fresh=True, grants_version=version) if not held else _decode_use(held, version)

    def _ref_key(self, device_id: int, ref: str) -> str:
        return f"{self.P}ref:{device_id}:{ref}"

    async def settle_token(
        self,
        cid: str,
        step: int,
        gate_id: int,
        decision: dict[str, Any],
        ttl: int,
        device_id: int | None = None,
        ref: str | None = None,
    ) -> None:
        value = _encode_use(_use_head(gate_id, device_id, ref), decision)
        await self._r.set(f"{self.P}tok:{cid}:{step}", value, ex=ttl)

    async def inside(self, person_id: int) -> set[int]:
        # With the marker in the same step (a script: no flush in between): a SOFT anti-passback
        # check on a lost state would find nobody inside; it fails closed like the claims instead.
        loaded, zones = await self._inside(keys=[f"{self.P}in:{person_id}", self._marker], args=[])
        if self._guarded == "1" and not loaded:
            raise ScanStateLost("presence was lost (Redis restarted or was flushed)")
        return {int(z) for z in zones}

    async def grants_version(self) -> int:
        return int(await self._pipe.call("GET", self._grants_key) or 0)

    async def bump_grants_version(self) -> None:
        if self._r is None:
            # A CLI command's runtime (`gatehouse demo`) never connects: no process of its own
            # holds a grant index, and a server reads every grant when it starts.
            return
        await self._r.incr(self._grants_key)

    async def finish(
        self,
        settle: Settle | None,
        person_id: int | None,
        enter: int | None,
        leave: Iterable[int] | None,
        remember: Remember | None = None,
    ) -> None:
        # Keys the script leaves alone are still named (a script declares every key it may touch).
        keys = [f"{self.P}tok:-", f"{self.P}in:-", f"{self.P}ref:-"]
        args: list[Any] = ["", 0, "", "", REF_MEMORY_SECONDS]
        if settle is not None:
            cid, step, gate_id, decision, ttl, device_id, ref = settle
            keys[0] = f"{self.P}tok:{cid}:{step}"
            args[0], args[1] = _encode_use(_use_head(gate_id, device_id, ref), decision), ttl
        zones = list(leave or ()) if person_id is not None else []
        if person_id is not None and (enter is not None or zones):
            keys[1] = f"{self.P}in:{person_id}"
            args[2] = "" if enter is None else enter
        if remember is not None:
            device_id, ref, credential, reply = remember
            keys[2] = self._ref_key(device_id, ref)
            args[3] = _ref_value(credential, reply)
        if args[0] == "" and args[2] == "" and not zones and args[3] == "":
            return
        await self._finish(keys=keys, args=[*args, *zones])

    async def enter(self, person_id: int, zone_id: int) -> None:
        await self._r.sadd(f"{self.P}in:{person_id}", zone_id)

    async def claim_entry(self, person_id: int, zone_id: int) -> bool:
        # SADD answers how many members it added: 1 only for the one caller that put them inside.
        added = await self._claim_entry(keys=[f"{self.P}in:{person_id}", self._marker], args=[zone_id, self._guarded])
        if added == -1:
            raise ScanStateLost("presence was lost (Redis restarted or was flushed)")
        return bool(added)

    async def leave(self, person_id: int, zone_ids: Iterable[int]) -> None:
        zones = list(zone_ids)
        if zones:
            await self._r.srem(f"{self.P}in:{person_id}", *zones)

    async def needs_presence_rebuild(self) -> bool:
        if not await self._r.exists(self._marker):
            return True
        self._guarded = "1"
        return False

    async def everyone_inside(self) -> dict[int, set[int]]:
        out: dict[int, set[int]] = {}
        async for key in self._r.scan_iter(match=f"{self.P}in:*", count=1000):
            zones = {int(z) for z in await self._r.smembers(key)}
            if zones:
                out[int(key.rsplit(":", 1)[1])] = zones
        return out

    async def load_presence(self, inside: dict[int, set[int]], tokens: Iterable[Settle] = ()) -> None:
        stale = [key async for key in self._r.scan_iter(match=f"{self.P}in:*", count=1000)]
        async with self._r.pipeline(transaction=True) as pipe:
            if stale:
                pipe.delete(*stale)  # people missing from the rebuilt state are outside
            for person_id, zones in inside.items():
                if zones:
                    pipe.sadd(f"{self.P}in:{person_id}", *zones)
            for cid, step, gate_id, decision, ttl, device_id, ref in tokens:
                # NX: a claim made meanwhile (before the loss was noticed) is kept as it is.
                value = _encode_use(_use_head(gate_id, device_id, ref), decision)
                pipe.set(f"{self.P}tok:{cid}:{step}", value, ex=ttl, nx=True)
            pipe.set(self._marker, "1")
            await pipe.execute()
        self._guarded = "1"

    async def lock_rebuild(self, seconds: int) -> bool:
        return bool(await self._r.set(f"{self.P}rebuild-lock", "1", nx=True, ex=seconds))

    async def unlock_rebuild(self) -> None:
        await self._r.delete(f"{self.P}rebuild-lock")

    async def recall_ref(self, device_id: int, ref: str, credential: str) -> dict[str, Any] | None:
        raw = await self._r.get(self._ref_key(device_id, ref))
        if not raw:
            return None
        digest, _, decision = raw.partition("\n")
        return json.loads(decision) if digest == credential_digest(credential) else None

    async def remember_ref(self, device_id: int, ref: str, credential: str, decision: dict[str, Any]) -> None:
        await self._r.set(self._ref_key(device_id, ref), _ref_value(credential, decision), ex=REF_MEMORY_SECONDS)

    async def set_device_connection(self, device_id: int, connection: str, ttl: int) -> None:
        await self._r.set(f"{self.P}dev:{device_id}", connection, ex=ttl)

    async def renew_device_connections(self, held: Sequence[tuple[int, str, int]]) -> None:
        if not held:
            return
        async with self._r.pipeline(transaction=False) as pipe:
            for device_id, connection, ttl in held:
                await self._renew_if(keys=[f"{self.P}dev:{device_id}"], args=[connection, ttl], client=pipe)
            await pipe.execute()

    async def clear_device_connection(self, device_id: int, connection: str) -> None:
        await self._clear_if(keys=[f"{self.P}dev:{device_id}"], args=[connection])

    async def device_connection(self, device_id: int) -> str | None:
        value: str | None = await self._r.get(f"{self.P}dev:{device_id}")
        return value

    async def device_connections(self, device_ids: Sequence[int]) -> dict[int, str]:
        ids = list(device_ids)
        if not ids:
            return {}
        values: list[str | None] = await self._r.mget([f"{self.P}dev:{i}" for i in ids])
        return {i: v for i, v in zip(ids, values, strict=True) if v is not None}

    async def add_failure(self, key: str, window: int) -> int:
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.incr(f"{self.P}fail:{key}")
            pipe.expire(f"{self.P}fail:{key}", window, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def failures(self, key: str) -> int:
        return int(await self._r.get(f"{self.P}fail:{key}") or 0)

    async def clear_failures(self, key: str) -> None:
        await self._r.delete(f"{self.P}fail:{key}")


def _ref_value(credential: str, decision: dict[str, Any]) -> str:
    """A remembered answer: the credential's digest on the first line (a retry must match it)."""
    return f"{credential_digest(credential)}\n{json.dumps(decision)}"


def make_scan_state(redis_url: str | None, prefix: str = "gatehouse:") -> ScanState:
    return RedisScanState(redis_url, prefix) if redis_url else MemoryScanState()
