"""The client's address as the server counts it (sign-in limits, failed device hellos, audit).

Behind a reverse proxy (README "Running in production") every connection comes from the proxy:
its `X-Forwarded-For` names the client, and is believed only from GATEHOUSE_TRUSTED_PROXIES.
The right-most hop that is not a trusted proxy is the client; anything to its left was written
by the client itself and proves nothing.
"""

from __future__ import annotations

MAX_ADDRESS_CHARS = 64


def client_address(peer: str, forwarded_for: str | None, trusted_proxies: frozenset[str]) -> str:
    if not peer or peer not in trusted_proxies:
        return peer
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    while hops and hops[-1] in trusted_proxies:
        hops.pop()
    return hops[-1][:MAX_ADDRESS_CHARS] if hops else peer
