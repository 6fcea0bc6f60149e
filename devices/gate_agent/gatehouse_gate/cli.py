"""`gatehouse-gate`: the command line of the gate distribution.

`run` serves one gate (gatehouse_gate.agent); `simulate` drives many (gatehouse_gate.simulator).
The command line lives here, above both, so the agent never imports the simulator that is
built on it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from gatehouse_gate.agent import GateAgent, make_door, run_scanner
from gatehouse_gate.simulator import run_simulation


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatehouse-gate", description="Gatehouse reference gate agent")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one gate: QR lines on stdin, door through --door")
    run.add_argument("--server", required=True, help="ws://host:port")
    run.add_argument("--device-id", required=True)
    run.add_argument("--secret", required=True)
    run.add_argument("--gate", required=True, help="the gate id this scanner serves")
    run.add_argument("--direction", choices=["IN", "OUT"], help="for a BOTH gate")
    run.add_argument("--door", default="log", help="log, gpio:<pin> or an http(s) relay URL")
    run.add_argument("--state-dir", default="var/gate", help="snapshot and offline events are kept here")

    sim = sub.add_parser("simulate", help="drive many gates from a fleet file")
    sim.add_argument("--server", required=True, help="ws://host:port")
    sim.add_argument("--fleet", required=True, help="JSON file with devices and credentials")
    sim.add_argument("--seconds", type=float, default=10.0)
    sim.add_argument("--rate", type=float, default=50.0, help="scans per second, all gates together")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        if args.command == "run":
            # A wrong --door is refused before the agent connects or touches its state dir.
            door = make_door(args.door)
            agent = GateAgent(args.server, args.device_id, args.secret, Path(args.state_dir), door)
            return asyncio.run(run_scanner(agent, args.gate, args.direction))
        return asyncio.run(run_simulation(args.server, Path(args.fleet), args.seconds, args.rate))
    except (ValueError, OSError) as exc:
        print(f"gatehouse-gate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
