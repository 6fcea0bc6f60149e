"""`gatehouse serve` in a process forked from a parent that has already imported the server.

A fresh interpreter spends most of a test server's start-up importing Strawberry, Tortoise,
uvicorn, fpdf and the schema (about 1.5 s of CPU on the test machine); the suite starts
hundreds of servers. The harness keeps one multiprocessing fork server per test process with
those modules preloaded (PRELOAD) and forks each server from it: still a separate OS process
running the real CLI entry point (`api.cli.main(["serve", ...])`) with its own environment,
log, port and event loop, started and stopped with signals like any other.

Nothing here may start a thread, open a connection or an event loop at import: the fork
server imports this module and the server's modules, nothing more. The same entry point
also puts a server on the test's clock (`follow_test_clock`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys

# What a server imports on its way to "Application startup complete".
PRELOAD = [
    # The parent's main script (pytest's), which multiprocessing would otherwise import again
    # in every child before running it; imported once here, the children find it loaded.
    "__main__",
    "tests.server_child",
    "api.cli",
    "api.app",
    "uvicorn",
    "uvicorn.main",
    "uvicorn.server",
    "uvicorn.config",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
    "tortoise.backends.sqlite",
    "tortoise.backends.asyncpg",
    "asyncpg",
    "redis.asyncio",
    "tests.server_frozen",  # last: freezes what the others loaded
]


CLOCK_FILE = "GATEHOUSE_TEST_CLOCK_FILE"
# Test-only modules a server imports at start (comma-separated), e.g. a finding source the test
# feeds (tests/supervision_facts.py): registered in the server's own process, as real ones are.
IMPORTS = "GATEHOUSE_TEST_IMPORTS"


def follow_test_clock(path: str) -> None:
    """Read the time as the real clock plus the offset the test keeps in `path` (tests/harness.py
    ServerClock). Every rule that looks at the time reads `resolvers.core.clock`; so the test moves
    a visit past its end, a loan past its return date or a pass token into a fresh step without
    waiting for it. Timers (`asyncio.sleep`, heartbeats) keep the machine's own monotonic clock."""
    import mmap
    import struct
    import time
    from datetime import UTC, datetime

    from resolvers.core import clock

    fd = os.open(path, os.O_RDONLY)
    shared = mmap.mmap(fd, 8, prot=mmap.PROT_READ)
    os.close(fd)

    def unix() -> float:
        offset: float = struct.unpack_from("d", shared)[0]
        return time.time() + offset

    def now() -> datetime:
        return datetime.fromtimestamp(unix(), UTC)

    clock.unix = unix
    clock.now = now


def main(argv: list[str]) -> int:
    """The CLI, on the test's clock when the environment names one."""
    if os.environ.get(CLOCK_FILE):
        follow_test_clock(os.environ[CLOCK_FILE])
    if os.environ.get(IMPORTS):
        import importlib

        for name in os.environ[IMPORTS].split(","):
            importlib.import_module(name.strip())
    from api.cli import main as cli

    return cli(argv)


def run_cli(argv: list[str], env: dict[str, str], cwd: str, log_path: str) -> None:
    """The forked child: the parent's environment replaced by `env`, output to `log_path`, then the CLI."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    # Forked as a daemonic multiprocessing child (so it dies with the test run), but a server
    # starts children of its own (the drawing process, api/drawing.py), which multiprocessing
    # refuses to daemonic processes: from here on it is a server like any other.
    multiprocessing.current_process().daemon = False
    sys.exit(main(argv))


if __name__ == "__main__":  # GATEHOUSE_TEST_FORK=0: a fresh interpreter per server
    sys.exit(main(sys.argv[1:]))
