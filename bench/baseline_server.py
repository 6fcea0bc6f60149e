"""The bare baseline: a websockets server that only parses the frame and checks the pass signature.

`python -m bench.baseline_server --port P --keys FILE` (FILE: JSON cid → base64 public key).
It speaks just enough of the device protocol for the load generator: `hello` → `welcome`,
`scan` → `decision` after the same stateless pass-token checks the real server runs
(api.passtoken: parse, step window, Ed25519 verify). No database, no replay memory, no
policy, no event log: what the real server costs beyond this is its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import time
from pathlib import Path
from typing import Any

from gatehouse_gate import passtoken
from websockets.asyncio.server import ServerConnection, serve

PERIOD = 15


def decide(data: dict[str, Any], keys: dict[str, bytes]) -> dict[str, Any]:
    parsed = passtoken.parse(data.get("credential"))  # type: ignore[arg-type]
    if parsed is None:
        reason = "malformed"
    else:
        key = keys.get(parsed.cid)
        if key is None:
            reason = "unknown_credential"
        else:
            reason = passtoken.step_window(parsed.step, time.time(), PERIOD) or (
                "ok" if passtoken.verify_signature(parsed, key) else "bad_signature"
            )
    out: dict[str, Any] = {"type": "decision", "ref": data.get("ref"), "granted": reason == "ok", "reason": reason}
    if reason == "ok":
        out["person"] = {"displayName": "Bench Person"}
        out["open"] = {"gateId": data.get("gateId"), "durationMs": 3000}
    return out


def make_handler(keys: dict[str, bytes]) -> Any:
    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            try:
                data = json.loads(raw)
                kind = data["type"]
            except (ValueError, TypeError, KeyError):
                await ws.send(json.dumps({"type": "error", "ref": None, "code": "bad_message", "message": "?"}))
                continue
            if kind == "scan":
                await ws.send(json.dumps(decide(data, keys)))
            elif kind == "hello":
                welcome = {"type": "welcome", "deviceId": data.get("deviceId"), "gates": [], "heartbeatSeconds": 30}
                await ws.send(json.dumps(welcome))

    return handler


async def serve_forever(port: int, keys: dict[str, bytes]) -> None:
    async with serve(make_handler(keys), "127.0.0.1", port, compression=None, max_size=1024 * 1024, ping_interval=None):
        gc.collect()
        gc.freeze()
        print(f"baseline listening on 127.0.0.1:{port}", flush=True)
        await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", type=Path, required=True)
    args = parser.parse_args()
    keys = {cid: base64.b64decode(k) for cid, k in json.loads(args.keys.read_text()).items()}
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        runner.run(serve_forever(args.port, keys))


if __name__ == "__main__":
    main()
