"""A finding source for tests, imported by a test's server (GATEHOUSE_TEST_IMPORTS, see
tests/server_child.py): it finds the facts the test writes to GATEHOUSE_TEST_FACTS_FILE, one JSON
object each, those whose `at` falls in the period asked. The inspection side (proposing, deduping,
confirming) is the real one; only the data it finds is the test's."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from resolvers.runtime import Runtime
from resolvers.supervision.proposals import Period, Proposal, source


def _read(path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    return found


@source("test_fact", "entry", "Facts the test wrote down")
async def test_facts(rt: Runtime, period: Period) -> list[Proposal]:
    facts = await asyncio.to_thread(_read, Path(os.environ["GATEHOUSE_TEST_FACTS_FILE"]))
    return [
        Proposal(
            source="test_fact",
            area="entry",
            key=f"test_fact:{fact['key']}",
            summary=fact["summary"],
            department_id=fact.get("departmentId"),
            subject_type="person",
            subject_id=str(fact.get("personId", "")),
            evidence={"at": fact["at"], "gate": fact.get("gate", "")},
        )
        for fact in facts
        if period.start <= datetime.fromisoformat(fact["at"]) < period.end
    ]
