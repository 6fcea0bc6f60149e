"""The WebSocket protocol uvicorn runs: its own, without keepalive pings on gates' connections.

uvicorn pings every WebSocket (`GATEHOUSE_WS_PING_SECONDS`) and closes one whose pong does not come
back within as long again: that is how a browser or phone that vanished without closing is noticed.
A gate already says it is there: it heartbeats (protocol v1), and devices/endpoint.py's Watchdog
closes a connection silent for 3 heartbeats. For a campus of 10,000 gates the pings told nothing
more and cost 500 pings, pongs and timers a second (README, issue 13).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from devices.endpoint import DeviceEndpoint


class WebSocketProtocol(WebSocketsSansIOProtocol):
    def start_keepalive(self) -> None:
        if self.scope["path"] == DeviceEndpoint.PATH:
            return
        super().start_keepalive()
