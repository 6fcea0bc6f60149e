"""The harness's servers: a port taken between `free_port` and the server's bind.

`free_port` only asks the kernel for a port nobody holds now; a server of another test process
or a client's ephemeral port may take it before the server binds. The harness must then neither
report the server up (a /healthz answer on that port is someone else's) nor fail the test.
"""

from __future__ import annotations

import socket

from tests.harness import ServerProcess, Site


def test_a_server_whose_port_was_taken_serves_on_another(sqlite_site: Site) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = ServerProcess(env=sqlite_site.env, clock=sqlite_site.clock, port=taken)
        server.start(sqlite_site.tmp)
        sqlite_site.servers.append(server)
        assert server.port != taken
        assert server.healthy()
        logs = sorted(p.name for p in sqlite_site.tmp.glob("server-*.log"))
        first = (sqlite_site.tmp / f"server-{taken}.log").read_text()
        assert "address already in use" in first, (logs, first)
