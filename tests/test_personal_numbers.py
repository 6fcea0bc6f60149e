"""Masked ID and phone numbers are read only by the person, HR and security.

A person is reachable from many records (an item's holder, a movement's performer, a visit's
host, a department's head): there the numbers are null for other readers, not an error.
"""

from __future__ import annotations

from tests.harness import Demo, GraphQLClient

PEOPLE = "{ people(first: 50) { edges { node { username idNumberMasked phoneMasked } } } }"
ME = "{ me { username idNumberMasked phoneMasked } }"


def _numbers(data: dict) -> dict[str, tuple[str | None, str | None]]:
    return {
        e["node"]["username"]: (e["node"]["idNumberMasked"], e["node"]["phoneMasked"]) for e in data["people"]["edges"]
    }


async def test_hr_and_security_read_masked_numbers(api: GraphQLClient, demo: Demo) -> None:
    for reader in ("hr", "security", "admin"):
        client = await api.login(reader, demo.passwords[reader])
        numbers = _numbers(await client.ok(PEOPLE))
        assert numbers["alice"][0] and numbers["alice"][1], (reader, numbers["alice"])
        assert "*" in numbers["alice"][0]


async def test_a_department_head_sees_names_but_not_numbers(api: GraphQLClient, demo: Demo) -> None:
    carol = await api.login("carol", demo.passwords["carol"])
    numbers = _numbers(await carol.ok(PEOPLE))
    others = {u: n for u, n in numbers.items() if u != "carol"}
    assert others, numbers
    assert all(n == (None, None) for n in others.values()), others
    assert numbers["carol"][0] is not None


async def test_everyone_reads_their_own_masked_numbers(api: GraphQLClient, demo: Demo) -> None:
    alice = await api.login("alice", demo.passwords["alice"])
    me = (await alice.ok(ME))["me"]
    assert me["username"] == "alice" and me["idNumberMasked"] and me["phoneMasked"]
