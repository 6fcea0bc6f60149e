"""The web bundle (web/dist, built by Vite from web/): the phone app at `/`, `/invite/{code}` and
`/guard` (one single-page bundle; the screen is chosen in the browser), its assets, manifest,
icons and service worker, and GraphiQL from local files. Also the CORS policy of the whole app
(GATEHOUSE_ALLOWED_ORIGINS).

Every page carries a strict Content-Security-Policy: scripts and styles from this origin only
(nothing inline), connections to this origin over HTTP(S) and WebSocket, no framing. Hashed
assets (`/assets/name-HASH.ext`) are cached for a year; everything else is revalidated, so a
new build shows at once.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.core.settings import Settings

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

# The app's top-level addresses (PHONE_APP.md); a new area of the app adds its pattern here and a
# row in web/src/app/routes.tsx.
APP_PATHS = ("/", "/invite/{invite_code:str}", "/guard")

# `connect-src 'self'` covers ws(s): to the same host in current browsers (CSP Level 3); the
# explicit ws/wss sources are for those that do not. They are filled in per request from Host.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self' {ws}; worker-src 'self'; manifest-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# GraphiQL's editors add <style> elements and its stylesheet embeds fonts as data: URLs: relaxed on its
# page only (the phone app keeps the strict policy).
_GRAPHIQL_CSP = _CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "font-src 'self'", "font-src 'self' data:"
)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

mimetypes.add_type("application/manifest+json", ".webmanifest")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("image/svg+xml", ".svg")


def _websocket_sources(request: Request) -> str:
    host = request.headers.get("host", "")
    if not host or any(c in host for c in " ;,'\""):
        return ""
    return f"ws://{host} wss://{host}"


def security_headers(request: Request, csp: str = _CSP) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp.format(ws=_websocket_sources(request)).replace("  ", " "),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }


def _not_built() -> Response:
    return PlainTextResponse(
        "The web app is not built (web/dist is missing): run `make web` (needs Node.js 20.19+ and npm), "
        "or copy a web/dist built elsewhere.",
        status_code=503,
    )


def _file(path: Path, request: Request, cache: str, headers: dict[str, str] | None = None) -> Response:
    if not path.is_file():
        return PlainTextResponse("not found", status_code=404, headers={"X-Content-Type-Options": "nosniff"})
    return FileResponse(
        path,
        headers={"Cache-Control": cache, "X-Content-Type-Options": "nosniff", **(headers or {})},
    )


async def app_page(request: Request) -> Response:
    """index.html for every address of the app; which screen opens is the bundle's business."""
    index = DIST / "index.html"
    if not index.is_file():
        return _not_built()
    return _file(index, request, REVALIDATE, security_headers(request))


def graphiql_page(request: Request) -> Response:
    """GraphiQL, built into web/dist from the `graphiql` package (no CDN); the caller decides
    whether the settings allow it (api/graphql_http.py)."""
    page = DIST / "graphiql.html"
    if not page.is_file():
        return _not_built()
    return _file(page, request, REVALIDATE, security_headers(request, _GRAPHIQL_CSP))


def _inside(base: Path, relative: str) -> Path | None:
    """base/relative, or None when it would leave base (`..`, absolute parts)."""
    candidate = (base / relative).resolve()
    return candidate if candidate.is_relative_to(base.resolve()) else None


async def asset(request: Request) -> Response:
    """Built scripts, styles and fonts: their names carry a content hash, so they never change."""
    path = _inside(DIST / "assets", request.path_params["path"])
    if path is None:
        return PlainTextResponse("not found", status_code=404)
    return _file(path, request, IMMUTABLE)


async def icon(request: Request) -> Response:
    path = _inside(DIST / "icons", request.path_params["path"])
    if path is None:
        return PlainTextResponse("not found", status_code=404)
    return _file(path, request, "public, max-age=86400")


async def manifest(request: Request) -> Response:
    return _file(DIST / "manifest.webmanifest", request, "public, max-age=3600")


async def service_worker(request: Request) -> Response:
    # Revalidated every time: a new build must replace the worker (and the shell it keeps) at once.
    return _file(DIST / "sw.js", request, REVALIDATE)


routes = [
    *(Route(path, app_page, methods=["GET", "HEAD"]) for path in APP_PATHS),
    Route("/assets/{path:path}", asset, methods=["GET", "HEAD"]),
    Route("/icons/{path:path}", icon, methods=["GET", "HEAD"]),
    Route("/manifest.webmanifest", manifest, methods=["GET", "HEAD"]),
    Route("/sw.js", service_worker, methods=["GET", "HEAD"]),
]


# A browser that once reached the site over HTTPS refuses plain HTTP to it for a year: a phone on a
# hostile Wi-Fi cannot be steered to an http:// copy that reads its bearer token (POLICY 6.3).
HSTS = (b"strict-transport-security", b"max-age=31536000")


class StrictTransport:
    """HSTS on every response the server sends over its own TLS (`gatehouse serve --ssl-certfile`).
    Behind a proxy that ends TLS the proxy adds it (deploy/nginx, deploy/caddy)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), HSTS]
            await send(message)

        await self.app(scope, receive, with_hsts)


def middleware(settings: Settings) -> list[Middleware]:
    """CORS for the origins in GATEHOUSE_ALLOWED_ORIGINS (an app served from another origin,
    e.g. a native shell's web view): only those get the headers; none when the list is empty.
    Tokens travel in the Authorization header, never cookies, so no credentials mode.
    With TLS configured, HSTS (StrictTransport)."""
    hsts = [Middleware(StrictTransport)] if settings.ssl_certfile else []
    if not settings.allowed_origins:
        return hsts
    return [
        *hsts,
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "accept"],
            max_age=600,
        ),
    ]
