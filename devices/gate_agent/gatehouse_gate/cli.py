"""`gatehouse-gate`: the command line of the gate distribution.

`run` serves one gate (gatehouse_gate.agent); `simulate` drives many (gatehouse_gate.simulator).
The command line lives here, above both, so the agent never imports the simulator that is
built on it.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import ssl
import sys
from pathlib import Path
from urllib.parse import urlsplit

from gatehouse_gate.agent import GateAgent, make_door, run_scanner
from gatehouse_gate.simulator import run_simulation

log = logging.getLogger("gatehouse.gate")
SECRET_ENV = "GATEHOUSE_GATE_SECRET"


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gatehouse-gate", description="Gatehouse reference gate agent")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one gate: QR lines on stdin, door through --door")
    run.add_argument("--server", required=True, help="wss://host:port (or ws:// on a trusted network)")
    run.add_argument("--ca-file", help="PEM CA certificate(s) that sign a wss:// server's certificate (a private CA)")
    run.add_argument("--device-id", required=True)
    secret = run.add_mutually_exclusive_group()
    secret.add_argument("--secret-file", help=f"a file holding the device secret (else ${SECRET_ENV})")
    secret.add_argument("--secret", help="deprecated: every user of the machine sees it in ps; use --secret-file")
    run.add_argument("--gate", required=True, help="the gate id this scanner serves")
    run.add_argument("--direction", choices=["IN", "OUT"], help="for a BOTH gate")
    run.add_argument("--door", default="log", help="log, gpio:[chip:]<line> (libgpiod) or an http(s) relay URL")
    run.add_argument("--state-dir", default="var/gate", help="snapshot and offline events are kept here")
    run.add_argument(
        "--faces",
        action="store_true",
        help="an offline face terminal: a key in --state-dir, templates in snapshots; stdin lines face:<json file>",
    )

    sim = sub.add_parser("simulate", help="drive many gates from a fleet file")
    sim.add_argument("--server", required=True, help="ws://host:port or wss://host:port")
    sim.add_argument("--ca-file", help="PEM CA certificate(s) for a wss:// server")
    sim.add_argument("--fleet", required=True, help="JSON file with devices and credentials")
    sim.add_argument("--seconds", type=float, default=10.0)
    sim.add_argument("--rate", type=float, default=50.0, help="scans per second, all gates together")
    return parser


def device_secret(args: argparse.Namespace) -> str:
    """From --secret-file, else $GATEHOUSE_GATE_SECRET, else the deprecated --secret."""
    if args.secret_file:
        path = Path(args.secret_file)
        try:
            secret = path.read_text(encoding="utf-8").strip()
            mode = path.stat().st_mode
        except OSError as exc:
            raise ValueError(f"--secret-file {args.secret_file}: {exc.strerror or exc}") from None
        if not secret:
            raise ValueError(f"--secret-file {args.secret_file} is empty")
        if mode & 0o077:
            log.warning("%s can be read by other users: chmod 600 it", args.secret_file)
        return secret
    if args.secret is not None:
        log.warning("--secret is visible to every user of this machine (ps): use --secret-file or $%s", SECRET_ENV)
        return str(args.secret)
    secret = os.environ.get(SECRET_ENV, "").strip()
    if not secret:
        raise ValueError(f"give the device secret in a file (--secret-file PATH) or in ${SECRET_ENV}")
    return secret


def tls_context(server: str, ca_file: str | None) -> ssl.SSLContext | None:
    """How a wss:// server is verified: against --ca-file, else the system's CAs; never not at all."""
    parts = urlsplit(server)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"--server must be wss://host:port or ws://host:port, not {server!r}")
    if parts.scheme == "ws":
        if ca_file:
            raise ValueError("--ca-file is for a wss:// server")
        if not _loopback(parts.hostname):
            # POLICY 6.3: the hello carries the device secret and every scan a pass.
            log.warning("ws:// sends the device secret and every pass unencrypted: use wss:// off this machine")
        return None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        why = "no PEM CA certificate in it" if isinstance(exc, ssl.SSLError) else exc.strerror or str(exc)
        raise ValueError(f"--ca-file {ca_file}: {why}") from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        tls = tls_context(args.server, args.ca_file)
        if args.command == "run":
            secret = device_secret(args)
            # A wrong --door is refused before the agent connects or touches its state dir.
            door = make_door(args.door)
            agent = GateAgent(args.server, args.device_id, secret, Path(args.state_dir), door, tls, faces=args.faces)
            return asyncio.run(run_scanner(agent, args.gate, args.direction))
        return asyncio.run(run_simulation(args.server, Path(args.fleet), args.seconds, args.rate, tls))
    except (ValueError, OSError) as exc:
        print(f"gatehouse-gate: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
