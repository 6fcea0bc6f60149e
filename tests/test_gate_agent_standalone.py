"""The gate agent stands alone: what a gate controller installs is enough to scan.

devices/gate_agent is installed with pip into a clean virtualenv (no system site packages,
not this project's virtualenv, not on PYTHONPATH), the way devices/gate_agent/README.md tells
a gate controller to. In there the server's packages and its frameworks cannot be imported,
no module of `gatehouse_gate` imports anything beyond the standard library and its declared
dependencies (lazy imports inside functions included), and the installed `gatehouse-gate run`
console script does a scan round trip against a real server.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import PROJECT, Demo, GraphQLClient, Phone, ServerProcess

GATE_DISTRIBUTION = PROJECT / "devices" / "gate_agent"
# What the gate's modules may import: the standard library, the distribution's own
# dependencies (tzdata is data that zoneinfo finds; nobody imports it) and itself.
# gpiod is the `gpio` extra, imported only by gatehouse_gate.gpio when a GPIO door is asked for.
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"__future__", "gatehouse_gate", "websockets", "cryptography", "gpiod"}
# The server's own packages and what only the server needs: none may be importable at a gate.
SERVER_ONLY = [
    "api",
    "schema",
    "resolvers",
    "realtime",
    "devices",
    "tortoise",
    "strawberry",
    "starlette",
    "uvicorn",
    "redis",
    "asyncpg",
    "aiosqlite",
]

INSPECT_VENV = """
import importlib, importlib.util, json, pkgutil, sys
import gatehouse_gate
# Every module of the package (not __main__, which would run the command line).
modules = [m.name for m in pkgutil.walk_packages(gatehouse_gate.__path__, "gatehouse_gate.")]
for name in modules:
    if not name.endswith(".__main__"):
        importlib.import_module(name)
server_only = sys.argv[1:]
print(json.dumps({
    "package": gatehouse_gate.__file__,
    "modules": sorted(modules),
    "importable": [n for n in server_only if importlib.util.find_spec(n) is not None],
    "loaded": sorted({m.split(".")[0] for m in sys.modules} & set(server_only)),
}))
"""

EVENTS = """
query { gateEvents(first: 10) { edges { node { id reason decision offline gate { id } person { displayName } } } } }
"""


def clean_env(venv: Path) -> dict[str, str]:
    """This process's environment minus what would point Python at this project or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="session")
def gate_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean virtualenv with devices/gate_agent installed, built once per session.

    `venv --without-pip` plus this environment's pip run against it (`pip --python`)
    installs the same packages as the venv's own pip would, without seeding pip into
    the venv first (about 4 s in all instead of 10, with pip's cache warm). The source
    is copied first so the build leaves no build/ or egg-info in the repository.
    """
    root = tmp_path_factory.mktemp("gate-venv")
    source = root / "gate_agent"
    shutil.copytree(GATE_DISTRIBUTION, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    venv = root / "venv"
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-input",
            "--disable-pip-version-check",
            str(source),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        env=clean_env(venv),
        timeout=300,
    )
    assert install.returncode == 0, f"pip install ./devices/gate_agent failed:\n{install.stdout}\n{install.stderr}"
    print(f"gate venv built in {time.monotonic() - started:.1f} s")
    return venv


def test_installed_gate_imports_nothing_of_the_server(gate_venv: Path) -> None:
    config = (gate_venv / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config, config
    result = subprocess.run(
        [str(gate_venv / "bin" / "python"), "-c", INSPECT_VENV, *SERVER_ONLY],
        capture_output=True,
        text=True,
        cwd=gate_venv,  # not the repository: its packages must not be found from the cwd
        env=clean_env(gate_venv),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert Path(found["package"]).is_relative_to(gate_venv), found["package"]
    assert {
        "gatehouse_gate.agent",
        "gatehouse_gate.cli",
        "gatehouse_gate.offline",
        "gatehouse_gate.passtoken",
        "gatehouse_gate.schedules",
        "gatehouse_gate.simulator",
    } <= set(found["modules"]), found["modules"]
    assert found["importable"] == [], f"a gate controller's venv can import {found['importable']}"
    assert found["loaded"] == []

    # Imports inside functions only fail when that function runs: read every module's source.
    installed = Path(found["package"]).parent
    outside: dict[str, set[str]] = {}
    for module in sorted(installed.rglob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            foreign = {n.split(".")[0] for n in names} - ALLOWED_IMPORTS
            if foreign:
                outside.setdefault(str(module.relative_to(installed)), set()).update(foreign)
    assert outside == {}, f"gatehouse_gate imports beyond its own dependencies: {outside}"


async def test_installed_gate_agent_scans_against_a_real_server(
    gate_venv: Path, server: ServerProcess, api: GraphQLClient, demo: Demo, tmp_path: Path
) -> None:
    lobby_in = demo.gates["Lobby turnstile in"]
    admin = await api.login("admin", demo.passwords["admin"])
    phone = Phone()
    await phone.bind(await api.login("alice", demo.passwords["alice"]))
    command = [
        str(gate_venv / "bin" / "gatehouse-gate"),
        "run",
        "--server",
        server.ws,
        "--device-id",
        demo.device_id,
        "--gate",
        lobby_in,
        "--state-dir",
        str(tmp_path / "gate"),
    ]
    # The secret from the environment, as a deployment gives it (the command line shows in ps).
    env = {**clean_env(gate_venv), "GATEHOUSE_GATE_SECRET": demo.device_secret}
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        input=f"{phone.token()}\nGH1:NOT-A-PASS\n",
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert answers == [
        {"granted": True, "reason": "ok", "offline": False},
        {"granted": False, "reason": "malformed", "offline": False},
    ], (result.stdout, result.stderr)
    assert f"door {lobby_in}: open for 3000 ms" in result.stdout.splitlines()
    # The server decided both and stored them (oldest first).
    edges = (await admin.ok(EVENTS))["gateEvents"]["edges"]
    events = sorted((edge["node"] for edge in edges), key=lambda e: int(e["id"]))
    assert [
        (e["reason"], e["decision"], e["offline"], e["gate"]["id"], (e["person"] or {}).get("displayName"))
        for e in events
    ] == [
        ("ok", "GRANTED", False, lobby_in, "Alice Li"),
        ("malformed", "DENIED", False, lobby_in, None),
    ]
