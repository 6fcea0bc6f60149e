"""`gatehouse serve` under pyinstrument (`scan_throughput --pyinstrument`): the whole life of one
worker, written as text when it stops (SIGTERM: uvicorn shuts down, then the report is written).

    python -m bench.profile_server OUT.txt serve --host 127.0.0.1 --port P
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path


def main() -> None:
    from pyinstrument import Profiler

    from api import cli

    out = Path(sys.argv[1])
    # A scan's own work is short: sample every 0.2 ms. async_mode "disabled": each sample is what
    # runs at that moment (CPU), not the coroutine that waits; the event loop's idle time shows
    # as its select call.
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    # uvicorn re-raises the SIGTERM it caught once it has shut down: exit through Python, so the
    # report below is still written.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler.start()
    try:
        cli.main(sys.argv[2:])
    finally:
        profiler.stop()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
