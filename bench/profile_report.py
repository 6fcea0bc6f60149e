"""Summarise a py-spy profile of the server (`scan_throughput --profile` writes collapsed stacks).

    python -m bench.profile_report var/bench-profile-sqlite-closed.txt [--top 25]

Two views of the samples:
- by component: each sample goes to the first frame, from the leaf up, that belongs to a
  known library or to the app (standard-library helpers count for their caller, so
  `copy.deepcopy` under pypika is "ORM query building");
- by app step: the deepest frame in the app's own code (api/, resolvers/, devices/,
  realtime/), with its line, i.e. which line of the scan path the time is spent under.

A main-thread sample whose leaf is the event loop itself (`Runner.run`) is uvloop's C
code: mostly waiting in epoll, plus its socket I/O. It is shown apart as "event loop
(idle or C I/O)". Samples of other threads (aiosqlite runs SQLite in one) are split
into their waiting and working parts.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^:()]+)(?::(?P<line>\d+))?\)$")

COMPONENTS: list[tuple[str, str]] = [
    ("aiosqlite/", "database driver (aiosqlite, SQLite)"),
    ("asyncpg/", "database driver (asyncpg)"),
    ("redis/", "redis client"),
    ("pypika_tortoise/", "ORM query building (Tortoise + pypika)"),
    ("tortoise/", "ORM query building (Tortoise + pypika)"),
    ("cryptography/", "pass token (parse + Ed25519 verify)"),
    ("gatehouse_gate/passtoken.py", "pass token (parse + Ed25519 verify)"),
    ("websockets/", "WebSocket protocol (uvicorn, websockets, starlette)"),
    ("uvicorn/", "WebSocket protocol (uvicorn, websockets, starlette)"),
    ("starlette/", "WebSocket protocol (uvicorn, websockets, starlette)"),
    ("json/", "JSON"),
    ("resolvers/scan/event_log.py", "event log (app)"),
    ("realtime/", "scan state / bus (app)"),
    ("devices/", "device endpoint (app)"),
    ("resolvers/", "scan decision and policy (app)"),
    ("api/", "other app code"),
]
OUTSIDE = "(outside the app)"  # a task of a library's own (asyncpg's release, redis-py's, uvicorn's)
APP_PREFIXES = ("api/", "gatehouse_gate/", "resolvers/", "devices/", "realtime/", "schema/")


def parse_frame(text: str) -> tuple[str, str, str]:
    m = _FRAME.match(text)
    if m is None:
        return text, "", ""
    return m.group("func"), m.group("file"), m.group("line") or ""


def component(frames: list[tuple[str, str, str]]) -> str:
    for func, file, _ in reversed(frames):
        for prefix, name in COMPONENTS:
            if file.startswith(prefix):
                return name
        if func == "Runner.run" and file.startswith("asyncio/"):
            return "event loop (idle or C I/O)"
    return "other"


def app_step(frames: list[tuple[str, str, str]]) -> str:
    for func, file, line in reversed(frames):
        if file.startswith(APP_PREFIXES) and file != "api/cli.py":
            return f"{func} ({file}:{line})"
    return OUTSIDE


def summarise(path: Path, top: int) -> str:
    main_components: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for raw in path.read_text().splitlines():
        stack, _, count_text = raw.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        total += n
        frames = [parse_frame(f) for f in stack.split(";")]
        if any(func == "Thread._bootstrap" for func, _, _ in frames):
            leaf_func, leaf_file, _ = frames[-1]
            idle_leaf = leaf_func == "_connection_worker_thread" or leaf_file.startswith(("queue.py", "threading.py"))
            working = not idle_leaf
            threads["other threads: " + ("working (" + component(frames) + ")" if working else "waiting")] += n
            continue
        threads["main thread"] += n
        comp = component(frames)
        main_components[comp] += n
        if comp != "event loop (idle or C I/O)":
            step = app_step(frames)
            steps[f"(outside the app: {comp})" if step == OUTSIDE else step] += n
    if not total:
        return f"{path}: no samples"
    busy = sum(n for c, n in main_components.items() if c != "event loop (idle or C I/O)")
    lines = [f"{path}: {total} samples"]
    lines.append("threads:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in threads.most_common()]
    lines.append("main thread by component (% of main-thread samples; busy = not in the event loop's C code):")
    main_total = threads["main thread"] or 1
    for name, n in main_components.most_common():
        share_busy = f"{100 * n / busy:5.1f}% of busy" if busy and name != "event loop (idle or C I/O)" else ""
        lines.append(f"  {100 * n / main_total:5.1f}%  {name:<55} {share_busy}")
    lines.append(f"main thread, busy samples by the deepest app frame (top {top}):")
    lines += [f"  {100 * n / (busy or 1):5.1f}%  {name}" for name, n in steps.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", type=Path, nargs="+")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    for path in args.profiles:
        print(summarise(path, args.top))
        print()


if __name__ == "__main__":
    main()
