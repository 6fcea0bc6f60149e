"""Items through a gate (POLICY 2.4-2.5): the carrier declares, the gate scans the labels,
the guard compares live and confirms. Leaving, an asset must be issued or lent to the
person, or have come in with them; anything else holds the gate shut until a guard decides.

Whose labels are these? The carrier is the person whose pass (or manual entry) was last
checked at that gate: the labels scanned after it join that person's open check, never a
neighbour's. A label with no check to join is recorded anyway, as a held check for the guard
(an undeclared item at a gate is exactly what a guard must see). The rules are listed in the
README ("Items at the gate")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction

from realtime.messages import ItemCheckChanged
from resolvers.alerts.raising import raise_alert
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import (
    Asset,
    AssetStatus,
    GateDirection,
    Item,
    ItemCheck,
    ItemMovement,
    Person,
    PersonStatus,
    Role,
)
from resolvers.devices.commands import online_devices, send_command
from resolvers.items import catalogue as items
from resolvers.people import audit
from resolvers.runtime import Runtime

_GATE_STAFF = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.GUARD})
OPEN_FOR = timedelta(minutes=30)
# A pass checked at a gate names the carrier of the labels scanned there for this long (or until
# the next pass at that gate names someone else).
CARRIER_FOR = timedelta(minutes=5)
# One check holds at most this many scanned labels: a device looping on a label cannot grow it forever.
MAX_SCANNED = 200


def publish(rt: Runtime, check: ItemCheck) -> None:
    rt.bus.send(ItemCheckChanged(check_id=check.id, gate_id=check.gate_id, status=check.status))


async def declare(
    rt: Runtime, actor: Actor, person_id: str | None, gate_id: str, direction: str, declared: list[dict[str, Any]]
) -> ItemCheck:
    if direction not in ("IN", "OUT"):
        raise UserError(ErrorCode.INVALID, "direction is IN or OUT", "direction")
    topo = await rt.topology.get()
    gid = parse_id(gate_id, "gate", "gateId")
    if gid not in topo.gates:
        raise not_found("gate", "gateId")
    pid = actor.person_id if person_id is None else parse_id(person_id, "person", "personId")
    if person_id is not None and pid != actor.person_id and not actor.has_any(*_GATE_STAFF):
        raise UserError(
            ErrorCode.NOT_ALLOWED, "you declare your own items; a guard may declare for someone", "personId"
        )
    if not await Person.filter(id=pid, status=PersonStatus.ACTIVE).exists():
        raise not_found("person", "personId")
    if not declared or len(declared) > 200:
        raise UserError(ErrorCode.INVALID, "declare 1 to 200 lines", "items")
    lines = []
    for line in declared:
        quantity = line.get("quantity", 1)
        if not isinstance(quantity, int) or not 1 <= quantity <= 10_000:
            raise UserError(ErrorCode.INVALID, "quantity 1 to 10,000", "items")
        code = line.get("labelCode") or None
        if code is not None and quantity != 1:
            raise UserError(ErrorCode.INVALID, "a label is one asset: a line with a labelCode has quantity 1", "items")
        lines.append(
            {
                "description": validation.name(line.get("description") or "", "items", max_length=200),
                "labelCode": code,
                "quantity": quantity,
            }
        )
    check = await ItemCheck.create(person_id=pid, gate_id=gid, direction=direction, declared=lines)
    publish(rt, check)
    return check


async def scan_label(rt: Runtime, device_id: int, gate_id: int, code: str) -> dict[str, Any]:
    """A label scanned at the gate joins its carrier's open check; the answer goes back to the device.

    With no check to join, the label is still recorded: in a held check of its own (one per
    carrier and gate while the guard has not decided it), with an alert to the guards."""
    carrier, named = await _carrier(gate_id)
    since = clock.now() - OPEN_FOR
    open_checks = ItemCheck.filter(gate_id=gate_id, status="OPEN", created_at__gte=since)
    several = False
    if named:
        check = await open_checks.filter(person_id=carrier).order_by("-id").first()
    else:
        # Nobody's pass named a carrier here lately: only a lone open check can be theirs.
        lone = await open_checks.order_by("-id").limit(2)
        check = lone[0] if len(lone) == 1 else None
        several = len(lone) > 1
    if check is not None:
        entry = await _describe(rt, check.direction, check.person_id, code)
        if await _join(rt, check, entry, "OPEN"):
            return {
                "known": entry["assetId"] is not None,
                "name": entry.get("name"),
                "problem": entry.get("problem"),
                "checkId": str(check.id),
            }
        # A guard completed it meanwhile, comparing what was there: this label is held on its own.
    direction = await _direction_at(rt, gate_id)
    entry = await _describe(rt, direction, carrier, code)
    why = "no_declaration" if named or not several else "carrier_unknown"
    held = await _hold_undeclared(rt, gate_id, carrier, direction, entry, why)
    return {
        "known": entry["assetId"] is not None,
        "name": entry.get("name"),
        "problem": "no_declaration",
        "checkId": str(held.id),
    }


async def _join(
    rt: Runtime, check: ItemCheck, entry: dict[str, Any], status: str, problems: tuple[str, ...] = ()
) -> bool:
    """Add a scanned label to a check still in `status` (and undecided); False once it is not.
    Each label bumps `scan_count`, so two labels at once both land, and a guard deciding the
    check never decides on a list that has grown since it was read (see _settle)."""
    for _ in range(20):
        if len(check.scanned) >= MAX_SCANNED:
            return True  # full: answered, not kept (a device looping on labels)
        scanned, count = [*check.scanned, entry], check.scan_count + 1
        grown = [*check.problems, *problems]
        if await ItemCheck.filter(
            id=check.id, status=status, decided_at__isnull=True, scan_count=check.scan_count
        ).update(scanned=scanned, scan_count=count, problems=grown):
            check.scanned, check.scan_count, check.problems = scanned, count, grown
            publish(rt, check)
            return True
        fresh = await ItemCheck.get_or_none(id=check.id)
        if fresh is None or fresh.status != status or fresh.decided_at is not None:
            return False
        check = fresh
    return False


# Newest first through the events' time index (migration 0027), so the read stops at the window's
# start: by the gate's index (the ORM's choice) a gate with no passage lately had its whole history
# walked, 7.6 s for a gate of 2,000,000 events. `+gate_id` keeps SQLite off that index.
_CARRIER = (
    'SELECT "person_id" FROM "gate_event" WHERE +"gate_id" = {} AND "method" IS NOT NULL AND "at" >= {}'
    ' ORDER BY "at" DESC, "id" DESC LIMIT 1'
)


async def _carrier(gate_id: int) -> tuple[int | None, bool]:
    """(person, True) when the last passage checked at this gate, lately, named its person;
    (None, False) when none did (no passage lately, or one whose credential did not verify)."""
    conn = connections.get("default")
    marks = ("$1", "$2") if conn.capabilities.dialect == "postgres" else ("?", "?")
    _, rows = await conn.execute_query(_CARRIER.format(*marks), [gate_id, clock.now() - CARRIER_FOR])
    if not rows or rows[0][0] is None:
        return None, False
    return int(rows[0][0]), True


async def _direction_at(rt: Runtime, gate_id: int) -> str:
    topo = await rt.topology.get()
    gate = topo.gates.get(gate_id)
    if gate is not None and gate.direction is GateDirection.IN:
        return "IN"
    # OUT, and BOTH gates: an undeclared item is judged as leaving, the stricter of the two.
    return "OUT"


async def _hold_undeclared(
    rt: Runtime, gate_id: int, carrier: int | None, direction: str, entry: dict[str, Any], why: str
) -> ItemCheck:
    """An undeclared label joins the carrier's undecided undeclared record at this gate, or starts one."""
    name = entry.get("name") or entry["labelCode"]
    problems = [f"{name}: {why}"] + ([f"{name}: {entry['problem']}"] if entry.get("problem") else [])
    whose = {"person_id": carrier} if carrier is not None else {"person_id__isnull": True}
    recent = (
        await ItemCheck.filter(
            gate_id=gate_id, status="HELD", decided_at__isnull=True, created_at__gte=clock.now() - OPEN_FOR, **whose
        )
        .order_by("-id")
        .first()
    )
    if (
        recent is not None
        and not recent.declared
        and recent.direction == direction
        and await _join(rt, recent, entry, "HELD", tuple(problems))
    ):
        return recent
    held = await ItemCheck.create(
        person_id=carrier,
        gate_id=gate_id,
        direction=direction,
        declared=[],
        scanned=[entry],
        scan_count=1,
        problems=problems,
        status="HELD",
    )
    await raise_alert(
        rt,
        "item_check",
        f"undeclared item at gate {gate_id}: " + "; ".join(problems)[:400],
        gate_id=gate_id,
        payload={"checkId": held.id, "personId": carrier},
    )
    publish(rt, held)
    return held


async def _describe(rt: Runtime, direction: str, person_id: int | None, code: str) -> dict[str, Any]:
    label = items.read_label(rt, code)
    if label is None or label.kind != "A":
        return {"labelCode": code[:64], "assetId": None, "problem": "forged_label"}
    asset = await Asset.get_or_none(id=label.id)
    if asset is None:
        return {"labelCode": code, "assetId": None, "problem": "unknown_asset"}
    item = await Item.get(id=asset.item_id)
    entry: dict[str, Any] = {
        "labelCode": code,
        "assetId": asset.id,
        "itemId": item.id,
        "name": item.name,
        "problem": None,
    }
    if not items.usable(asset):
        entry["problem"] = "scrapped"
    elif direction == "OUT" and not await _may_take_out(person_id, asset):
        entry["problem"] = "not_yours"
    elif direction == "IN":
        entry["problem"] = await _may_bring_in(person_id, asset)
    return entry


async def _last_gate_move(asset: Asset) -> ItemMovement | None:
    """The asset's last movement that says where it is (reminders say nothing about that)."""
    return await ItemMovement.filter(asset_id=asset.id).exclude(kind="OVERDUE_REMINDER").order_by("-id").first()


async def _may_take_out(person_id: int | None, asset: Asset) -> bool:
    if person_id is None:
        return False
    if asset.status in (AssetStatus.ISSUED, AssetStatus.LENT) and asset.holder_person_id == person_id:
        return True
    # An asset booked in stock is on a shelf inside: it leaves only once issued or lent, whoever
    # a gate saw it with (a copied label is the way to make it "come in" with someone).
    if asset.status is AssetStatus.IN_STOCK:
        return False
    # It came in with this person today and was not handed over since.
    last = await _last_gate_move(asset)
    return (
        last is not None
        and last.kind == "GATE_IN"
        and last.person_id == person_id
        and last.at >= clock.now() - timedelta(hours=24)
    )


async def _may_bring_in(person_id: int | None, asset: Asset) -> str | None:
    """None when the asset may come in with this person, else the problem the guard sees."""
    if asset.status in (AssetStatus.ISSUED, AssetStatus.LENT) and asset.holder_person_id == person_id:
        return None
    if asset.status is AssetStatus.IN_STOCK:
        # Booked on a shelf inside, yet arriving from outside: a copied label, or stock that left
        # unrecorded. Nobody's to bring in (the device protocol's code for that is not_yours).
        return "not_yours"
    last = await _last_gate_move(asset)
    if person_id is not None and last is not None and last.kind == "GATE_OUT" and last.person_id == person_id:
        return None  # it went out with this person and comes back with them
    return "not_yours"


def compare(declared: list[dict[str, Any]], scanned: list[dict[str, Any]]) -> list[str]:
    """Every difference between the list and the labels; each one holds the check for the guard.

    A scanned label is accounted for by a line naming its code, or by a line without a code whose
    description is the item's name (case and spacing aside), up to that line's quantity. Lines
    without a code that no label matched are unlabelled things the guard looks at."""
    problems = [f"{e.get('name') or e['labelCode']}: {e['problem']}" for e in scanned if e.get("problem")]
    seen: dict[str, int] = {}
    for e in scanned:
        seen[e["labelCode"]] = seen.get(e["labelCode"], 0) + 1
    problems += [f"scanned twice: {c}" for c, n in seen.items() if n > 1]
    declared_codes = {d["labelCode"] for d in declared if d.get("labelCode")}
    problems += [f"declared but not scanned: {c}" for c in sorted(declared_codes - seen.keys())]
    by_description: dict[str, int] = {}
    for d in declared:
        if not d.get("labelCode"):
            key = _norm(d["description"])
            by_description[key] = by_description.get(key, 0) + int(d.get("quantity", 1))
    undeclared: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for code in seen:
        e = next(x for x in scanned if x["labelCode"] == code)
        if code in declared_codes or e.get("assetId") is None:
            continue  # declared by code; or no asset at all (its problem is already listed)
        undeclared.setdefault(_norm(e["name"]), []).append(code)
        names[_norm(e["name"])] = e["name"]
    for key, codes in sorted(undeclared.items()):
        wanted = by_description.get(key, 0)
        if wanted == 0:
            problems += [f"scanned but not declared: {names[key]} {c}" for c in codes]
        elif wanted != len(codes):
            problems.append(f"{names[key]}: declared {wanted}, scanned {len(codes)}")
    return problems


def _norm(text: str) -> str:
    return " ".join(text.casefold().split())


async def complete(rt: Runtime, actor: Actor, check_id: str) -> ItemCheck:
    """The guard compares declared with scanned; any difference holds the gate."""
    check = await _open_check(check_id)
    problems = compare(check.declared, check.scanned)
    check.problems = problems
    if problems:
        check.status = "HELD"
        if not await ItemCheck.filter(id=check.id, status="OPEN", scan_count=check.scan_count).update(
            problems=problems, status="HELD"
        ):
            raise UserError(ErrorCode.CONFLICT, "a label was scanned into this check just now; look again")
        await raise_alert(
            rt,
            "item_check",
            f"items held at gate {check.gate_id}: " + "; ".join(problems)[:400],
            gate_id=check.gate_id,
            payload={"checkId": check.id, "personId": check.person_id},
        )
        publish(rt, check)
        return check
    return await _clear(rt, actor, check, "OPEN")


async def decide(rt: Runtime, actor: Actor, check_id: str, allow: bool, note: str | None) -> ItemCheck:
    check = await ItemCheck.get_or_none(id=parse_id(check_id, "check", "id"))
    if check is None:
        raise not_found("item check", "id")
    if check.status != "HELD":
        raise UserError(ErrorCode.NOT_ALLOWED, f"this check is {check.status}; a guard decides held checks only")
    why = validation.name(note, "note", max_length=500) if note and note.strip() else ""
    if allow and any(e.get("problem") == "scrapped" for e in check.scanned):
        raise UserError(ErrorCode.NOT_ALLOWED, "a scrapped asset never passes a gate", "allow")
    audit.note_change("item_check", check.id, {"status": "HELD"}, {"allow": allow, "note": why})
    if not allow:
        await _settle(check, "HELD", "REFUSED", actor)
        publish(rt, check)
        return check
    return await _clear(rt, actor, check, "HELD")


async def _settle(check: ItemCheck, was: str, status: str, actor: Actor) -> None:
    """Move the check from `was` to `status` once, as read: a label that joined it since, or
    another guard's decision, makes this a CONFLICT (nothing recorded; the guard looks again)."""
    check.status, check.decided_by_id, check.decided_at = status, actor.person_id, clock.now()
    claimed = await ItemCheck.filter(id=check.id, status=was, scan_count=check.scan_count).update(
        status=status, decided_by_id=check.decided_by_id, decided_at=check.decided_at, problems=check.problems
    )
    if not claimed:
        raise UserError(ErrorCode.CONFLICT, "this check changed just now; look again")


async def _clear(rt: Runtime, actor: Actor, check: ItemCheck, was: str) -> ItemCheck:
    async with in_transaction():
        await _settle(check, was, "CLEARED", actor)
        moved: set[int] = set()
        for entry in check.scanned:
            if entry.get("assetId") and entry["assetId"] not in moved:
                moved.add(entry["assetId"])
                await items.move(
                    "GATE_" + check.direction,
                    entry["itemId"],
                    asset_id=entry["assetId"],
                    person_id=check.person_id,
                    gate_id=check.gate_id,
                    by_id=actor.person_id,
                )
    topo = await rt.topology.get()
    if check.gate_id is not None:
        for device_id in await online_devices(rt, topo.gate_devices.get(check.gate_id, frozenset())):
            await send_command(
                rt,
                device_id,
                check.gate_id,
                "open",
                {"durationMs": rt.settings.door_open_ms, "reason": "items checked"},
                actor.person_id,
            )
    publish(rt, check)
    return check


async def _open_check(check_id: str) -> ItemCheck:
    check = await ItemCheck.get_or_none(id=parse_id(check_id, "check", "id"))
    if check is None:
        raise not_found("item check", "id")
    if check.status != "OPEN":
        raise UserError(ErrorCode.NOT_ALLOWED, f"this check is {check.status}")
    return check
