"""Inputs at the edge of what the site can store (issue 11, items 14-15): a clear error naming
the field, never a masked INTERNAL_SERVER_ERROR, and nothing the caller sent in the log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import GraphQLClient, ServerProcess, Site

LONG = "a" * 300


@pytest.fixture(params=["sqlite", "postgres"])
def edge_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    site = Site(tmp_path, database_url=url)
    site.load_demo()
    site.start_server()
    try:
        yield site
    finally:
        site.stop()


def codes(answer: dict[str, object]) -> list[str]:
    return [e["extensions"]["code"] for e in answer.get("errors") or []]  # type: ignore[attr-defined]


TOO_LONG = [
    ("auditLog", '{ auditLog(action: "%s") { edges { node { id } } } }', "action"),
    ("auditLog", '{ auditLog(targetType: "%s") { edges { node { id } } } }', "targetType"),
    ("auditLog", '{ auditLog(targetId: "%s") { edges { node { id } } } }', "targetId"),
    ("alerts", '{ alerts(kind: "%s") { edges { node { id } } } }', "kind"),
    ("itemMovements", '{ itemMovements(kind: "%s") { edges { node { id } } } }', "kind"),
    ("itemChecks", '{ itemChecks(status: "%s") { edges { node { __typename } } } }', "status"),
]

OUT_OF_RANGE = [
    '{ attendance(personId: "1", from: "0001-01-01", to: "0001-01-31") { day } }',
    '{ attendance(personId: "1", from: "9999-12-01", to: "9999-12-31") { day } }',
    '{ attendanceReport(from: "0001-01-01", to: "0001-01-02") { edges { node { __typename } } } }',
    '{ expectedVisitors(day: "9999-12-31") { id } }',
    'mutation { correctAttendance(personId: "1", day: "0001-01-01", reason: "x",'
    ' firstIn: "0001-01-01T00:00:00Z") { errors { code } } }',
    '{ auditLog(since: "9999-12-31T23:59:59-08:00") { edges { node { id } } } }',
]


async def test_inputs_the_site_cannot_store_are_refused_by_name(edge_site: Site) -> None:
    assert edge_site.demo is not None
    server: ServerProcess = edge_site.servers[0]
    api = GraphQLClient(server)
    admin = await api.login("admin", edge_site.demo.passwords["admin"])
    for field, query, argument in TOO_LONG:
        answer = await admin(query % LONG)
        assert codes(answer) == ["BAD_USER_INPUT"], (query, answer)
        message = answer["errors"][0]["message"]
        assert field in message and argument in message and LONG not in message, message
    for query in OUT_OF_RANGE:
        answer = await admin(query)
        assert answer.get("errors") and set(codes(answer)) == {"BAD_USER_INPUT"}, (query, answer)
        assert "outside the years" in answer["errors"][0]["message"], answer
    # A name no account can have gets the answer any wrong name gets (no hint that it is too long:
    # names must not be told apart), as a UserError in the payload, never an internal error.
    login = await api('mutation($u:String!){login(username:$u,password:"x"){errors{code}}}', {"u": "u" * 101})
    assert "errors" not in login and login["data"]["login"]["errors"] == [{"code": "INVALID"}], login
    assert "INTERNAL_SERVER_ERROR" not in server.log()


async def test_no_variable_value_reaches_the_log(edge_site: Site) -> None:
    assert edge_site.demo is not None
    server = edge_site.servers[0]
    api = GraphQLClient(server)
    hr = await api.login("admin", edge_site.demo.passwords["admin"])
    secret_number = 918273645546372819
    answer = await hr(
        "mutation($i:OnboardEmployeeInput!){onboardEmployee(input:$i){errors{code}}}",
        {
            "i": {
                "username": "newbie",
                "displayName": "New Bie",
                "idNumber": secret_number,
                "phone": "+8613800000000",
                "departmentId": "1",
                "position": "Engineer",
            }
        },
    )
    assert codes(answer) == ["BAD_USER_INPUT"], answer
    # A long value that fails deep inside is logged bounded, if at all.
    await api('mutation($u:String!){login(username:$u,password:"x"){errors{code}}}', {"u": "q" * 60_000})
    log = server.log_path.read_text(errors="replace") if server.log_path else ""
    assert str(secret_number) not in log, "an ID number reached the log"
    assert "q" * 400 not in log, "a long value reached the log"
