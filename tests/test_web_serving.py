"""The web bundle as the server serves it (api/web_routes.py): the app's addresses with a strict
Content-Security-Policy and the other security headers, caching of hashed assets, the service
worker and manifest, CORS for configured origins only, GraphiQL from local files only where the
settings allow it, and the GH1 token module of the app checked against PASS_TOKEN.md's vectors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser import PROJECT, require_web_build, unavailable
from tests.harness import Site, http_client

APP_ADDRESSES = ["/", "/invite/ABCD2345EFGH", "/guard"]


@pytest.fixture(autouse=True)
def _built() -> None:
    require_web_build()


def csp_directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.partition(" ")[2] for part in (p.strip() for p in header.split(";")) if part}


@pytest.mark.parametrize("address", APP_ADDRESSES)
async def test_app_pages_carry_a_strict_policy(sqlite_site: Site, address: str) -> None:
    server = sqlite_site.start_server()
    async with http_client() as http:
        page = await http.get(server.http + address)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = csp_directives(page.headers["content-security-policy"])
    assert csp["script-src"] == "'self'" and csp["style-src"] == "'self'", csp
    assert csp["frame-ancestors"] == "'none'" and csp["object-src"] == "'none'"
    host = f"127.0.0.1:{server.port}"
    assert csp["connect-src"].split() == ["'self'", f"ws://{host}", f"wss://{host}"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-cache"
    # Nothing inline for the policy to refuse: every script and style is a file of this origin.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), page.text
    assert "<style" not in page.text and " style=" not in page.text
    assert '<meta name="viewport"' in page.text


async def test_assets_manifest_icons_and_service_worker(sqlite_site: Site) -> None:
    server = sqlite_site.start_server()
    async with http_client() as http:
        index = (await http.get(server.http + "/")).text
        scripts = re.findall(r'src="(/assets/[^"]+\.js)"', index)
        assert scripts, index
        script = await http.get(server.http + scripts[0])
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
        sw = await http.get(server.http + "/sw.js")
        assert sw.status_code == 200 and sw.headers["cache-control"] == "no-cache"
        assert scripts[0] in sw.text, "the service worker keeps the app's script for offline use"
        manifest = await http.get(server.http + "/manifest.webmanifest")
        assert manifest.headers["content-type"].startswith("application/manifest+json")
        icons = manifest.json()["icons"]
        for icon in icons:
            answer = await http.get(server.http + icon["src"])
            assert answer.status_code == 200 and answer.headers["content-type"].startswith(icon["type"])
        for escape in ("/assets/..%2F..%2Fpyproject.toml", "/icons/..%2F..%2F..%2Fpyproject.toml"):
            assert (await http.get(server.http + escape)).status_code == 404
        assert (await http.get(server.http + "/assets/nothing-here.js")).status_code == 404


async def test_cors_only_for_the_configured_origins(sqlite_site: Site) -> None:
    server = sqlite_site.start_server(GATEHOUSE_ALLOWED_ORIGINS="https://app.example.com")
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with http_client() as http:
        listed = await http.options(
            server.http + "/graphql", headers={"Origin": "https://app.example.com", **preflight}
        )
        other = await http.options(server.http + "/graphql", headers={"Origin": "https://evil.example", **preflight})
        post = await http.post(
            server.http + "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://app.example.com"}
        )
        post_other = await http.post(
            server.http + "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://evil.example"}
        )
        asset = await http.get(server.http + "/manifest.webmanifest", headers={"Origin": "https://app.example.com"})
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in listed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert post.headers["access-control-allow-origin"] == "https://app.example.com"
    assert post.json() == {"data": {"__typename": "Query"}}
    assert "access-control-allow-origin" not in post_other.headers
    assert asset.headers["access-control-allow-origin"] == "https://app.example.com"


async def test_no_cors_headers_without_configured_origins(sqlite_site: Site) -> None:
    server = sqlite_site.start_server()
    async with http_client() as http:
        answer = await http.post(
            server.http + "/graphql", json={"query": "{ __typename }"}, headers={"Origin": "https://app.example.com"}
        )
    assert "access-control-allow-origin" not in answer.headers


async def test_graphiql_from_local_files_only_where_allowed(sqlite_site: Site) -> None:
    off = sqlite_site.start_server()
    on = sqlite_site.start_server(GATEHOUSE_GRAPHIQL="1")
    html = {"Accept": "text/html"}
    async with http_client() as http:
        refused = await http.get(off.http + "/graphql", headers=html)
        page = await http.get(on.http + "/graphql", headers=html)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        scripts = re.findall(r'src="(/assets/[^"]+\.js)"', page.text)
        assert scripts and all("graphiql" in s for s in scripts), page.text
        for script in scripts:
            assert (await http.get(on.http + script)).status_code == 200
    assert "graphiql" not in refused.text.lower()
    assert not re.search(r"https?://", page.text), "GraphiQL's page loads nothing from elsewhere"
    csp = csp_directives(page.headers["content-security-policy"])
    assert csp["script-src"] == "'self'" and csp["frame-ancestors"] == "'none'"


def test_the_apps_pass_token_module_meets_the_contract_vectors() -> None:
    """web/src/pass/token.ts, run by Node against PASS_TOKEN.md's vectors (web/test/pass_token_vectors.mjs)."""
    node = shutil.which("node")
    if node is None or not (PROJECT / "web" / "node_modules" / "vite").is_dir():
        unavailable("needs Node.js and web/node_modules (`make web`)")
    result = subprocess.run(
        [node, "test/pass_token_vectors.mjs"],
        cwd=PROJECT / "web",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_node_pass_token_script_fails_on_a_wrong_vector(tmp_path: Path) -> None:
    """The vector script can fail: a token module that signs a different message is caught."""
    node = shutil.which("node")
    if node is None or not (PROJECT / "web" / "node_modules" / "vite").is_dir():
        unavailable("needs Node.js and web/node_modules (`make web`)")
    web = tmp_path / "web"
    (web / "src" / "pass").mkdir(parents=True)
    (web / "test").mkdir()
    source = (PROJECT / "web" / "src" / "pass" / "token.ts").read_text()
    broken = source.replace("return `GH1:${cid}:${step}`;", "return `GH1:${cid}:${step + 1}`;")
    assert broken != source
    (web / "src" / "pass" / "token.ts").write_text(broken)
    (web / "test" / "pass_token_vectors.mjs").write_text(
        (PROJECT / "web" / "test" / "pass_token_vectors.mjs").read_text()
    )
    (web / "node_modules").symlink_to(PROJECT / "web" / "node_modules")
    result = subprocess.run([node, "test/pass_token_vectors.mjs"], cwd=web, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "AssertionError" in result.stderr


def test_the_web_sources_type_check() -> None:
    """`tsc --noEmit` over web/src: the screens, the GraphQL client and both dictionaries (zh-CN
    must have every key of en) agree with their types. Vite strips types without checking them."""
    node = shutil.which("node")
    tsc = PROJECT / "web" / "node_modules" / "typescript" / "bin" / "tsc"
    if node is None or not tsc.is_file():
        unavailable("needs Node.js and web/node_modules (`make web`)")
    result = subprocess.run(
        [node, str(tsc), "--noEmit", "-p", "."], cwd=PROJECT / "web", capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
