"""The phone app installs to the home screen: Chromium itself finds nothing missing (manifest,
icons, a service worker that controls the page, served from a secure context)."""

from __future__ import annotations

import tempfile

from tests.browser import CHROMIUM, PHONE, _require_chromium, require_web_build, unavailable
from tests.harness import Site


async def test_chromium_offers_to_install_the_app(sqlite_site: Site) -> None:
    require_web_build()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright; the test extras)")
    _require_chromium()
    server = sqlite_site.start_server()
    # A profile on disk: an incognito context (what new_context gives) is never offered an install.
    with tempfile.TemporaryDirectory() as profile:
        async with async_playwright() as pw:
            context = await pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=["--no-sandbox"], viewport=PHONE
            )
            try:
                page = await context.new_page()
                await page.goto(server.http + "/")
                await page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=20_000)
                cdp = await context.new_cdp_session(page)
                manifest = await cdp.send("Page.getAppManifest")
                assert manifest["url"].endswith("/manifest.webmanifest"), manifest
                assert manifest.get("errors", []) == [], manifest["errors"]
                found = await cdp.send("Page.getInstallabilityErrors")
                assert found["installabilityErrors"] == [], found
            finally:
                await context.close()
