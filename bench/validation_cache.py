"""Do the operation limits keep the validation cache effective? (issue 11)

    python -m bench.validation_cache [--repeat 200]

Strawberry's ParserCache and ValidationCache (schema/root.py) bring a repeated document from
~0.6 ms of parsing and validation to a dictionary look-up; limits added as validation rules
would have made every request miss them (STACK_NOTES). The project's limits run before
Strawberry instead (api/admission.py, its verdict cached per document text). This measures it,
in process, through the real HTTP app (`api.app.create_app` on an empty SQLite database, driven
by httpx's ASGI transport: body cap, JSON, admission, parse, validate, execute):

- every query of mobile_contracts/ is POSTed `--repeat` times, as the apps send it (its own
  text, with `operationName`), anonymously (each root field refuses at once: no SQL, so the
  time is the request's pre-execution cost), in four modes:
  limits as shipped; limits bypassed (admission replaced by a pass-through: the cache-hit path
  alone); GATEHOUSE_TRUSTED_DOCUMENTS=1; and limits as shipped with caches emptied before
  every request (what a miss costs);
- the parser and validation caches' hits and misses (their `cache_info`) and the limits'
  verdict cache are counted per mode;
- the admission itself, called directly: cold (verdict cache emptied) and warm.

Prints µs per request (mean and median over every request of the mode) and the cache counts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parent.parent


def contract_queries() -> list[tuple[str, str]]:
    """(operation name, its text as written) of every query in the contracts."""
    from graphql import OperationDefinitionNode, parse

    from mobile_contracts import documents

    out: list[tuple[str, str]] = []
    for text in documents().values():
        for definition in parse(text).definitions:
            if (
                isinstance(definition, OperationDefinitionNode)
                and definition.operation.value == "query"
                and definition.name is not None
                and definition.loc is not None
            ):
                out.append((definition.name.value, text[definition.loc.start : definition.loc.end]))
    return out


def caches() -> dict[str, Any]:
    """The LRU caches in front of execution: Strawberry's (shared per maxsize) and the limits' verdicts."""
    from strawberry.extensions.parser_cache import _get_parse_cache
    from strawberry.extensions.validation_cache import _get_validate_cache

    from api import admission
    from schema.core import limits

    return {
        "parse": _get_parse_cache(512),  # schema/root.py: ParserCache(maxsize=512)
        "validate": _get_validate_cache(512),  # ValidationCache(maxsize=512)
        "verdict": limits.analyse,
        "trusted": admission.trusted_text,
    }


MODES = (
    "limits as shipped",
    "limits bypassed (cache-hit path alone)",
    "trusted documents on",
    "limits, every cache emptied first",
)


def clear_caches() -> None:
    for cache in caches().values():
        cache.cache_clear()


def counts() -> dict[str, tuple[int, int]]:
    return {name: (cache.cache_info().hits, cache.cache_info().misses) for name, cache in caches().items()}


@contextmanager
def bypassed_admission() -> Iterator[None]:
    from api import admission, graphql_http

    real = graphql_http.admit

    def passthrough(settings: Any, actor: Any, query: Any, name: Any, variables: Any, ext: Any) -> Any:
        return admission.Admission(query=query, kind="mutation")  # "mutation": no time budget either

    graphql_http.admit = passthrough  # type: ignore[assignment]
    try:
        yield
    finally:
        graphql_http.admit = real


@dataclass
class Tally:
    """One mode's requests: wall and CPU seconds each, and the caches' hits and misses they caused."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    cache: dict[str, list[int]] = field(default_factory=lambda: {name: [0, 0] for name in caches()})


async def one_round(
    client: Any, queries: list[tuple[str, str]], tally: Tally, before_each: Callable[[], None] | None = None
) -> None:
    for name, text in queries:
        if before_each is not None:
            before_each()
        before = counts()
        started, started_cpu = time.perf_counter(), time.thread_time()
        response = await client.post("/graphql", json={"query": text, "operationName": name, "variables": {}})
        tally.cpu.append(time.thread_time() - started_cpu)
        tally.wall.append(time.perf_counter() - started)
        for cache, (hits, misses) in counts().items():
            tally.cache[cache][0] += hits - before[cache][0]
            tally.cache[cache][1] += misses - before[cache][1]
        assert response.status_code == 200, response.text
        errors = response.json().get("errors") or []
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        # Refused at the root for want of a sign-in, or a variable left out: never a limit.
        assert codes <= {"UNAUTHENTICATED", "BAD_USER_INPUT"}, (name, errors)
        assert not any((e.get("extensions") or {}).get("limit") for e in errors), (name, errors)


def admission_micro(queries: list[tuple[str, str]], repeat: int) -> tuple[float, float, float]:
    """CPU µs per document: admission cold (caches empty) and warm; graphql-core parse+validate uncached."""
    from graphql import parse, validate

    from api.admission import admit
    from resolvers.core.settings import Settings
    from schema.root import schema

    settings = dataclasses.replace(Settings.from_env(), trusted_documents=True)
    cold: list[float] = []
    for _ in range(max(1, repeat // 20)):
        for name, text in queries:
            clear_caches()
            started = time.thread_time()
            admit(settings, None, text, name, {}, None)
            cold.append(time.thread_time() - started)
    warm: list[float] = []
    for _ in range(repeat):
        for name, text in queries:
            started = time.thread_time()
            admit(settings, None, text, name, {}, None)
            warm.append(time.thread_time() - started)
    uncached: list[float] = []
    for _ in range(max(1, repeat // 20)):
        for _name, text in queries:
            started = time.thread_time()
            validate(schema._schema, parse(text))
            uncached.append(time.thread_time() - started)
    return (statistics.mean(cold) * 1e6, statistics.mean(warm) * 1e6, statistics.mean(uncached) * 1e6)


async def main(repeat: int) -> None:
    import logging

    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="gatehouse-validation-bench-"))
    os.environ.update(
        {
            "GATEHOUSE_DATABASE_URL": f"sqlite://{tmp / 'bench.sqlite3'}",
            "GATEHOUSE_SECRET_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "GATEHOUSE_KEY_FILE": str(tmp / "unused.key"),
            "GATEHOUSE_GRAPHIQL": "0",
            "GATEHOUSE_TRUSTED_DOCUMENTS": "0",
            "GATEHOUSE_UPKEEP_SECONDS": "3600",
        }
    )
    logging.disable(logging.WARNING)  # the anonymous refusals are expected

    from api.app import create_app

    app = create_app()
    rt = app.state.runtime
    queries = contract_queries()
    shipped = rt.settings
    trusting = dataclasses.replace(shipped, trusted_documents=True)
    modes = {name: Tally() for name in MODES}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
        ):
            clear_caches()
            for settings in (shipped, shipped, trusting):  # warm-up: each document's first request fills the caches
                rt.settings = settings
                await one_round(client, queries, Tally())
            # The modes take turns round by round, so the shared machine's noise falls on all alike.
            for _ in range(repeat):
                rt.settings = shipped
                await one_round(client, queries, modes[MODES[0]])
                with bypassed_admission():
                    await one_round(client, queries, modes[MODES[1]])
                rt.settings = trusting
                await one_round(client, queries, modes[MODES[2]])
            rt.settings = shipped
            for _ in range(max(1, repeat // 20)):
                await one_round(client, queries, modes[MODES[3]], clear_caches)
        cold, warm, uncached = admission_micro(queries, repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{len(queries)} contract queries x {repeat} rounds, anonymous POST /graphql through the ASGI app")
    print(f"(python {sys.version.split()[0]}; µs per request; cache hits/misses the mode's requests caused)\n")
    header = (
        f"{'mode':<40} {'CPU µs':>7} {'median':>7} {'wall median':>12}"
        f"   {'parse':>11} {'validate':>11} {'verdict':>11} {'trusted':>11}"
    )
    print(header)
    print("-" * len(header))
    for label, tally in modes.items():
        cells = " ".join(f"{hits:>5}/{misses:<5}" for hits, misses in tally.cache.values())
        print(
            f"{label:<40} {statistics.mean(tally.cpu) * 1e6:>7.0f} {statistics.median(tally.cpu) * 1e6:>7.0f}"
            f" {statistics.median(tally.wall) * 1e6:>12.0f}   {cells}"
        )
    print()
    print(f"admission alone (trusted documents on), caches cold: {cold:8.1f} CPU µs per document")
    print(f"admission alone (trusted documents on), caches warm: {warm:8.1f} CPU µs per document")
    print(f"graphql-core parse + validate, no cache:            {uncached:8.1f} CPU µs per document")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    asyncio.run(main(parser.parse_args().repeat))
