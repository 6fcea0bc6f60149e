"""How many SQL statements a server process sent while a block ran (GATEHOUSE_SQL_LOG).

Start the server with `site.start_server(GATEHOUSE_SQL_LOG=str(path))`; only one request
should be in flight inside the block, or the count includes the others'.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Statements:
    lines: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.lines)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _read(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


@contextlib.contextmanager
def statements(path: Path) -> Iterator[Statements]:
    """The statements written to the SQL log `path` while the block ran."""
    before = len(_read(path))
    out = Statements()
    yield out
    out.lines = _read(path)[before:]


# The server's own background statements, left out of a request's count: the per-second command
# retry tick (resolvers/devices/commands.py) and the leader's fleet check (resolvers/devices/fleet.py),
# whose round pages through the devices and may overlap a counted request on a loaded machine.
BACKGROUND = (
    '"device_command"',
    '"offline_alerted_at" IS NULL AND',
    '"health_alerted_at" IS NULL OR "health_alerted_at"<=?',
    'FROM "device_target"',
    'FROM "device_health_sample"',
    '"slow0" FROM "gate_event"',
)


def background(line: str) -> bool:
    return any(mark in line for mark in BACKGROUND)
