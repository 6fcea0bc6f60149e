"""The guards' alert workflow (issue 14): an alert raised by a real device (a forced door) is
acknowledged, assigned and closed by gate staff, each step on the alert (who, when) and in the
audit log; refusals (unknown alert, a closed one, a step repeated, an assignee who may not work
on alerts, an empty note, a caller without the role) change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.harness import Demo, Gate, GraphQLClient, Ids, ServerProcess, Site, error_codes, eventually

ALERT_FIELDS = """id status acknowledgedAt assignedAt closedAt closeNote
  acknowledgedBy { id } assignee { id } assignedBy { id } closedBy { id }"""
ALERTS = "query { deviceAlerts(first: 20) { " + ALERT_FIELDS + " kind gateId } }"
ACK = "mutation($id: ID!) { acknowledgeAlert(id: $id) { alert { " + ALERT_FIELDS + " } errors { code field } } }"
ASSIGN = (
    "mutation($id: ID!, $p: ID!) { assignAlert(id: $id, personId: $p) { alert { "
    + ALERT_FIELDS
    + " } errors { code field } } }"
)
CLOSE = (
    "mutation($id: ID!, $note: String!) { closeAlert(id: $id, note: $note) { alert { "
    + ALERT_FIELDS
    + " } errors { code field } } }"
)
AUDIT = """query($action: String) { auditLog(first: 20, action: $action) {
  edges { node { action actor { id } targetType targetId outcome detail } } } }"""
ASSIGNEES = "query { alertAssignees { id username } }"


async def forced_door(server: ServerProcess, api: GraphQLClient, demo: Demo, gate: str = "Lobby turnstile in") -> str:
    """A device reports a door forced; the id of the alert the guards get. (Repeats at one gate
    within a minute add to the first alert: a second alert needs another gate.)"""
    gate_id = demo.gates[gate]
    before = {a["id"] for a in (await api.ok(ALERTS, as_="guard"))["deviceAlerts"]}
    device = await Gate(server, demo.device_id, demo.device_secret).connect()
    try:
        await device.send({"type": "door", "gateId": gate_id, "state": "forced", "at": datetime.now(UTC).isoformat()})
        found: list[str] = []

        async def raised() -> bool:
            alerts = (await api.ok(ALERTS, as_="guard"))["deviceAlerts"]
            found[:] = [a["id"] for a in alerts if a["id"] not in before and a["gateId"] == gate_id]
            return bool(found)

        await eventually(raised, 10, "the forced-door alert")
    finally:
        await device.close()
    return found[0]


async def alert(api: GraphQLClient, alert_id: str) -> dict[str, Any]:
    alerts = (await api.ok(ALERTS, as_="guard"))["deviceAlerts"]
    return next(a for a in alerts if a["id"] == alert_id)


async def audit(api: GraphQLClient, action: str) -> list[dict[str, Any]]:
    return [e["node"] for e in (await api.ok(AUDIT, {"action": action}, as_="admin"))["auditLog"]["edges"]]


async def test_acknowledge_assign_close_each_step_on_the_alert_and_audited(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    await walk_the_workflow(server, api, demo)


async def test_the_workflow_on_postgresql(postgres_site: Site) -> None:
    """The same steps on PostgreSQL (the migration's other dialect, its conditional updates)."""
    server = postgres_site.start_server()
    assert postgres_site.demo is not None
    await walk_the_workflow(server, GraphQLClient(server, demo=postgres_site.demo), postgres_site.demo)


async def walk_the_workflow(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    ids = await Ids.read(server, demo.tokens["admin"])
    guard, security = ids.people["guard"], ids.people["security"]
    alert_id = await forced_door(server, api, demo)
    assert (await alert(api, alert_id))["status"] == "OPEN"

    acked = (await api.ok(ACK, {"id": alert_id}, as_="guard"))["acknowledgeAlert"]
    assert acked["errors"] == []
    assert acked["alert"]["status"] == "ACKNOWLEDGED" and acked["alert"]["acknowledgedBy"] == {"id": guard}
    assert acked["alert"]["acknowledgedAt"] is not None and acked["alert"]["assignee"] is None

    assigned = (await api.ok(ASSIGN, {"id": alert_id, "p": security}, as_="guard"))["assignAlert"]
    assert assigned["errors"] == []
    assert assigned["alert"]["status"] == "ACKNOWLEDGED"
    assert assigned["alert"]["assignee"] == {"id": security} and assigned["alert"]["assignedBy"] == {"id": guard}

    closed = (await api.ok(CLOSE, {"id": alert_id, "note": "door closed, nobody went in"}, as_="guard"))["closeAlert"]
    assert closed["errors"] == []
    got = closed["alert"]
    assert got["status"] == "CLOSED" and got["closedBy"] == {"id": guard} and got["closedAt"] is not None
    assert got["closeNote"] == "door closed, nobody went in"
    # What the console reads back later is what the steps wrote.
    assert await alert(api, alert_id) == {**got, "kind": "forced", "gateId": demo.gates["Lobby turnstile in"]}

    for action, before, after in (
        ("acknowledgeAlert", "OPEN", "ACKNOWLEDGED"),
        ("assignAlert", "ACKNOWLEDGED", "ACKNOWLEDGED"),
        ("closeAlert", "ACKNOWLEDGED", "CLOSED"),
    ):
        entries = [e for e in await audit(api, action) if e["targetId"] == alert_id]
        assert len(entries) == 1, (action, entries)
        entry = entries[0]
        assert entry["actor"] == {"id": guard} and entry["outcome"] == "ok" and entry["targetType"] == "device_alert"
        change = entry["detail"]["changes"][0]
        assert change["before"]["status"] == before and change["after"]["status"] == after, change
    assign_entry = next(e for e in await audit(api, "assignAlert") if e["targetId"] == alert_id)
    assert assign_entry["detail"]["changes"][0]["after"]["assigneeId"] == int(security)


async def test_assigning_or_closing_an_open_alert_acknowledges_it_in_the_same_step(
    server: ServerProcess, api: GraphQLClient, demo: Demo
) -> None:
    ids = await Ids.read(server, demo.tokens["admin"])
    first = await forced_door(server, api, demo)
    assigned = (await api.ok(ASSIGN, {"id": first, "p": ids.people["guard"]}, as_="security"))["assignAlert"]
    assert assigned["errors"] == []
    assert assigned["alert"]["status"] == "ACKNOWLEDGED"
    assert assigned["alert"]["acknowledgedBy"] == {"id": ids.people["security"]}

    second = await forced_door(server, api, demo, "Lobby turnstile out")
    closed = (await api.ok(CLOSE, {"id": second, "note": "false alarm"}, as_="guard"))["closeAlert"]
    assert closed["errors"] == [] and closed["alert"]["status"] == "CLOSED"
    assert closed["alert"]["acknowledgedBy"] == {"id": ids.people["guard"]}


async def test_refusals_change_nothing(server: ServerProcess, api: GraphQLClient, demo: Demo) -> None:
    ids = await Ids.read(server, demo.tokens["admin"])
    alert_id = await forced_door(server, api, demo)

    async def codes(query: str, variables: dict[str, Any], as_: str = "guard") -> list[tuple[str, str | None]]:
        payload = next(iter((await api.ok(query, variables, as_=as_)).values()))
        assert payload["alert"] is None
        return [(e["code"], e["field"]) for e in payload["errors"]]

    assert await codes(ACK, {"id": "999999"}) == [("NOT_FOUND", "id")]
    assert await codes(ACK, {"id": "not-an-id"}) == [("NOT_FOUND", "id")]
    assert await codes(ASSIGN, {"id": alert_id, "p": "999999"}) == [("NOT_FOUND", "personId")]
    # An employee without a gate-staff role cannot be handed an alert.
    assert await codes(ASSIGN, {"id": alert_id, "p": ids.people["alice"]}) == [("NOT_ALLOWED", "personId")]
    assert await codes(CLOSE, {"id": alert_id, "note": "   "}) == [("INVALID", "note")]
    assert (await alert(api, alert_id))["status"] == "OPEN"

    # Callers without a gate-staff role are refused before anything is read.
    for caller in ("alice", "audrey"):
        answer = await api(ACK, {"id": alert_id}, as_=caller)
        assert error_codes(answer) == ["FORBIDDEN"], answer
    assert error_codes(await api(ASSIGNEES, as_="alice")) == ["FORBIDDEN"]
    assert (await alert(api, alert_id))["status"] == "OPEN"

    assert (await api.ok(ACK, {"id": alert_id}, as_="guard"))["acknowledgeAlert"]["errors"] == []
    assert await codes(ACK, {"id": alert_id}, as_="security") == [("CONFLICT", "id")]
    assert (await alert(api, alert_id))["acknowledgedBy"] == {"id": ids.people["guard"]}
    assert (await api.ok(ASSIGN, {"id": alert_id, "p": ids.people["guard"]}, as_="guard"))["assignAlert"][
        "errors"
    ] == []
    assert await codes(ASSIGN, {"id": alert_id, "p": ids.people["guard"]}) == [("CONFLICT", "personId")]

    assert (await api.ok(CLOSE, {"id": alert_id, "note": "checked"}, as_="guard"))["closeAlert"]["errors"] == []
    closed = await alert(api, alert_id)
    assert await codes(CLOSE, {"id": alert_id, "note": "again"}) == [("CONFLICT", "id")]
    assert await codes(ACK, {"id": alert_id}) == [("CONFLICT", "id")]
    assert await codes(ASSIGN, {"id": alert_id, "p": ids.people["security"]}) == [("CONFLICT", "id")]
    assert await alert(api, alert_id) == closed

    # The refusals are in the audit log as refusals, with who tried.
    refused = [e for e in await audit(api, "closeAlert") if e["outcome"] == "refused:CONFLICT"]
    assert refused and refused[0]["actor"] == {"id": ids.people["guard"]}


async def test_assignees_are_the_active_gate_staff(server: ServerProcess, api: GraphQLClient) -> None:
    names = {p["username"] for p in (await api.ok(ASSIGNEES, as_="guard"))["alertAssignees"]}
    assert {"guard", "security", "admin"} <= names
    assert not names & {"alice", "bob", "hr", "audrey"}, names


async def test_alerts_raised_together_are_stored_then_pushed_in_order(sqlite_site: Site) -> None:
    """A batch of gate events raises its anomaly alerts together (resolvers/alerts/raising.py
    `raise_alerts`, 50 a transaction): each stored, with its ids in order, then pushed in that order."""
    import asyncio

    from realtime.messages import DeviceAlertMessage
    from resolvers.alerts.raising import AlertSpec, raise_alerts
    from resolvers.core import db
    from resolvers.core.models import DeviceAlert
    from resolvers.core.settings import Settings
    from resolvers.runtime import Runtime

    rt = Runtime.create(Settings.from_env(sqlite_site.env))
    await db.start(rt.settings.database_url)
    try:
        await rt.load_keys()
        specs = [AlertSpec("night_entry", f"entry at night #{i}: 李娜", payload={"n": i}) for i in range(120)]
        async with rt.bus.receive(DeviceAlertMessage) as messages:
            alerts = await raise_alerts(rt, specs)

            async def pushed() -> list[int]:
                ids: list[int] = []
                async for message in messages:
                    ids.append(message.id)
                    if len(ids) == len(specs):
                        return ids
                return ids

            pushed_ids = await asyncio.wait_for(pushed(), 10)
        ids = [alert.id for alert in alerts]
        assert len(set(ids)) == len(specs) and ids == sorted(ids)
        assert pushed_ids == ids
        stored = await DeviceAlert.filter(id__in=ids).order_by("id").values_list("kind", "message", "payload")
        assert stored == [("night_entry", spec.message, spec.payload) for spec in specs]
    finally:
        await db.close()
