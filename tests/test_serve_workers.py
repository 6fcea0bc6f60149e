"""`gatehouse serve --workers N`: more than one worker needs Redis (issue 11, item 18).

Without GATEHOUSE_REDIS_URL each worker would keep its own used tokens, presence and device
connections: a token could be used twice and a remote open miss its device. The command
refuses with a one-line reason and exit code 2; with Redis it serves.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx

from tests.harness import GATEHOUSE, PROJECT, REDIS_URL, Site, free_port


def test_several_workers_without_redis_refuse_to_start_with_one_line_reason(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.env.pop("GATEHOUSE_REDIS_URL", None)
    port = str(free_port())
    result = site.cli("serve", "--port", port, "--workers", "2", check=False)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "GATEHOUSE_REDIS_URL" in lines[0] and "--workers 2" in lines[0], lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "gatehouse.sqlite3").exists(), "refused before touching the database"


def test_several_workers_with_redis_start(tmp_path: Path, require_redis: None) -> None:
    site = Site(tmp_path, redis_url=REDIS_URL)
    site.load_demo()
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [*GATEHOUSE, "serve", "--port", str(port), "--workers", "2"], cwd=PROJECT, env=site.env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
