"""`GATEHOUSE_SQL_LOG=/path`: every SQL statement this process sends, one line each, without
its values (values may be personal data). For finding N+1 queries on a running server; the
tests read it to pin how many queries an operation costs."""

from __future__ import annotations

import logging
from pathlib import Path

_LOGGER = "tortoise.db_client"


class _StatementOnly(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        # Tortoise logs ("%s: %s", query, values) or the bare query: keep the query only.
        if isinstance(record.args, tuple) and record.args:
            statement = str(record.args[0])
        else:
            statement = str(record.msg)
        return " ".join(statement.split())[:2000]


def enable(path: Path) -> None:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_StatementOnly())
    logger = logging.getLogger(_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
