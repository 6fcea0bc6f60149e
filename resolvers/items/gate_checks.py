"""Items through a gate (POLICY 2.4-2.5): the carrier declares, the gate scans the labels,
the guard compares live and confirms. Leaving, an asset must be issued or lent to the
person, or have come in with them; anything else holds the gate shut until a guard decides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from realtime.messages import ItemCheckChanged
from resolvers.alerts.raising import raise_alert
from resolvers.core import clock, validation
from resolvers.core.actor import Actor
from resolvers.core.errors import ErrorCode, UserError, not_found, parse_id
from resolvers.core.models import Asset, AssetStatus, Item, ItemCheck, ItemMovement, Person, PersonStatus, Role
from resolvers.devices.commands import online_devices, send_command
from resolvers.items import catalogue as items
from resolvers.people import audit
from resolvers.runtime import Runtime

_GATE_STAFF = frozenset({Role.ADMIN, Role.SECURITY_ADMIN, Role.GUARD})
OPEN_FOR = timedelta(minutes=30)


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
        lines.append(
            {
                "description": validation.name(line.get("description") or "", "items", max_length=200),
                "labelCode": line.get("labelCode"),
                "quantity": quantity,
            }
        )
    check = await ItemCheck.create(person_id=pid, gate_id=gid, direction=direction, declared=lines)
    publish(rt, check)
    return check


async def scan_label(rt: Runtime, device_id: int, gate_id: int, code: str) -> dict[str, Any]:
    """A label scanned at the gate joins the gate's open check; the answer goes back to the device."""
    check = (
        await ItemCheck.filter(gate_id=gate_id, status="OPEN", created_at__gte=clock.now() - OPEN_FOR)
        .order_by("-id")
        .first()
    )
    if check is None:
        return {"known": False, "problem": "no_declaration"}
    entry = await _describe(rt, check, code)
    check.scanned = [*check.scanned, entry]
    await check.save(update_fields=["scanned"])
    publish(rt, check)
    return {
        "known": entry["assetId"] is not None,
        "name": entry.get("name"),
        "problem": entry.get("problem"),
        "checkId": str(check.id),
    }


async def _describe(rt: Runtime, check: ItemCheck, code: str) -> dict[str, Any]:
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
    elif check.direction == "OUT" and not await _may_take_out(check.person_id, asset):
        entry["problem"] = "not_yours"
    return entry


async def _may_take_out(person_id: int, asset: Asset) -> bool:
    if asset.status in (AssetStatus.ISSUED, AssetStatus.LENT) and asset.holder_person_id == person_id:
        return True
    # It came in with this person today and was not handed over since.
    last = await ItemMovement.filter(asset_id=asset.id).order_by("-id").first()
    return (
        last is not None
        and last.kind == "GATE_IN"
        and last.person_id == person_id
        and last.at >= clock.now() - timedelta(hours=24)
    )


async def complete(rt: Runtime, actor: Actor, check_id: str) -> ItemCheck:
    """The guard compares declared with scanned; any difference holds the gate."""
    check = await _open_check(check_id)
    problems = [f"{e.get('name') or e['labelCode']}: {e['problem']}" for e in check.scanned if e.get("problem")]
    scanned_codes = {e["labelCode"] for e in check.scanned}
    declared_codes = {d["labelCode"] for d in check.declared if d.get("labelCode")}
    problems += [f"declared but not scanned: {c}" for c in sorted(declared_codes - scanned_codes)]
    problems += [f"scanned but not declared: {c}" for c in sorted(scanned_codes - declared_codes) if declared_codes]
    check.problems = problems
    if problems:
        check.status = "HELD"
        await check.save(update_fields=["problems", "status"])
        await raise_alert(
            rt,
            "item_check",
            f"items held at gate {check.gate_id}: " + "; ".join(problems)[:400],
            gate_id=check.gate_id,
            payload={"checkId": check.id, "personId": check.person_id},
        )
        publish(rt, check)
        return check
    return await _clear(rt, actor, check, "CLEARED")


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
        check.status, check.decided_by_id, check.decided_at = "REFUSED", actor.person_id, clock.now()
        await check.save(update_fields=["status", "decided_by_id", "decided_at"])
        publish(rt, check)
        return check
    return await _clear(rt, actor, check, "CLEARED")


async def _clear(rt: Runtime, actor: Actor, check: ItemCheck, status: str) -> ItemCheck:
    for entry in check.scanned:
        if entry.get("assetId"):
            await items.move(
                "GATE_" + check.direction,
                entry["itemId"],
                asset_id=entry["assetId"],
                person_id=check.person_id,
                gate_id=check.gate_id,
                by_id=actor.person_id,
            )
    check.status, check.decided_by_id, check.decided_at = status, actor.person_id, clock.now()
    await check.save(update_fields=["status", "decided_by_id", "decided_at", "problems"])
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
