"""`/healthz`, `/readyz` and `/metrics`: what a load balancer and Prometheus ask a worker.

- `/healthz`: the process is alive and its event loop turns. No I/O: a database outage must not
  get every worker restarted by its supervisor.
- `/readyz`: the checks of resolvers/core/readiness.py (database, migrations, Redis, and whatever
  a feature adds), side by side, each bounded; 200 when all pass, 503 naming the failing ones.
- `/metrics`: Prometheus' text format (realtime/metrics.py). It tells a lot about a site (how
  many gates, how busy, which refusals), so it is served only to the addresses of
  GATEHOUSE_METRICS_ALLOW (loopback by default) or to a bearer of GATEHOUSE_METRICS_TOKEN.
  A request that came through a proxy is judged by the address the proxy names, when the proxy is
  one of GATEHOUSE_TRUSTED_PROXIES, and refused (without the token) when it is not: a reverse
  proxy on the same host would otherwise make every outside request look like loopback.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from realtime import metrics
from resolvers.core.settings import Settings

if TYPE_CHECKING:  # annotations only: the CLI imports this module before the server is needed
    from devices.hub import DeviceHub
    from resolvers.runtime import Runtime

FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


async def healthz(request: Request) -> JSONResponse:
    hub: DeviceHub = request.app.state.device_hub
    return JSONResponse({"status": "ok", "devicesConnected": hub.connected})


async def readyz(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    results = await rt.readiness.run()
    ready = all(r.ok for r in results)
    body: dict[str, object] = {
        "status": "ready" if ready else "unavailable",
        "checks": {r.name: r.to_json() for r in results},
    }
    if not ready:
        body["failing"] = [r.name for r in results if not r.ok]
    # Which worker runs the site-wide loops (README "Several workers"): shown, not a condition of
    # readiness (a follower serves gates as well as the leader does).
    leadership = getattr(request.app.state, "leadership", None)
    if leadership is not None:
        body["leadership"] = leadership.describe()
    return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})


@cache
def _networks(allowed: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in allowed)


def _allowed_address(settings: Settings, request: Request) -> bool:
    peer = request.client.host if request.client is not None else ""
    address = peer
    if any(h in request.headers for h in FORWARDING_HEADERS):
        if peer not in settings.trusted_proxies:
            return False
        hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
        while hops and hops[-1] in settings.trusted_proxies:
            hops.pop()
        if not hops:
            return False
        address = hops[-1]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 from a dual-stack socket is loopback too
    return any(ip in network for network in _networks(settings.metrics_allow))


def refusal(settings: Settings, request: Request) -> Response | None:
    """None when the request may read /metrics; the 401 or 403 answer otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        if settings.metrics_token is not None and hmac.compare_digest(token.encode(), settings.metrics_token.encode()):
            return None
        return JSONResponse({"error": "FORBIDDEN", "message": "this token does not open /metrics"}, status_code=403)
    if _allowed_address(settings, request):
        return None
    return JSONResponse(
        {"error": "UNAUTHENTICATED", "message": "/metrics needs GATEHOUSE_METRICS_TOKEN as a bearer token from here"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


async def metrics_route(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    refused = refusal(rt.settings, request)
    if refused is not None:
        return refused
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def worker_stopped() -> None:
    """A worker's last counts are written, and its live gauges leave the sums (multiprocess mode)."""
    if metrics.MULTIPROCESS:
        metrics.flush()
        multiprocess.mark_process_dead(os.getpid())


@contextlib.contextmanager
def shared_metrics(workers: int) -> Iterator[Path | None]:
    """For `gatehouse serve --workers N` (N > 1): the directory where every worker keeps its
    metrics, so that a scrape answered by any worker covers them all (prometheus-client's
    multiprocess mode). PROMETHEUS_MULTIPROC_DIR when the operator set it, else a private
    temporary directory removed at the end. Emptied first: files a previous run left would be
    added to this run's counters. Must run before the workers start (they read the variable at
    their first import of prometheus-client)."""
    if workers <= 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield None
        return
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="gatehouse-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    try:
        yield directory
    finally:
        if not given:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            shutil.rmtree(directory, ignore_errors=True)
