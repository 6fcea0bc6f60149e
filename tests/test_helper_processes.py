"""The helper processes (the forkserver, the drawing and face-reading helpers) die with the server
that started them, even when it is killed (resolvers/core/helper_processes.py): a killed server
used to leave them running, 300 MB a pair."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SERVER_LIKE = """
import os, signal, sys
from concurrent.futures import ProcessPoolExecutor
from resolvers.core import helper_processes

def pids():
    return os.getppid(), os.getpid()

if __name__ == "__main__":
    pool = ProcessPoolExecutor(1, mp_context=helper_processes.context(), initializer=helper_processes.die_with_parent)
    forkserver, helper = pool.submit(pids).result(timeout=60)
    print(forkserver, helper, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_server_takes_its_forkserver_and_helpers_with_it(tmp_path: Path) -> None:
    script = tmp_path / "server_like.py"
    script.write_text(SERVER_LIKE)
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == -9, done.stderr
    forkserver, helper = (int(p) for p in done.stdout.split())
    deadline = time.monotonic() + 10
    while (alive(forkserver) or alive(helper)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(forkserver) and not alive(helper), "the helper processes outlived their server"
