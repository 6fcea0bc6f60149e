"""The phone app's stocktake screen (issue 18) in a real browser against a real server: wendy
(WAREHOUSE) opens a count of the demo's main warehouse in 简体中文, scans one laptop's real label
from a photo of its QR code and again with Chromium's fake camera filming it (decoded in the
page), types another's code in English (each scan named by the server's item name), is told a
second scan counts once and a forged label is refused, counts the A4 paper short and a
Chinese-named item the records hold none of, closes the count, and reads exactly the variances
the server found (the third laptop MISSING, both QUANTITY lines) in both languages, with real
glyphs and no CSP violation; offline, the screen says it needs a connection. Screenshots go
to var/screenshots/{en,zh-CN}/.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image

from mobile_contracts import documents
from tests.browser import (
    CHROMIUM,
    CONTRACT_NAMES,
    PHONE,
    PageWatch,
    _require_chromium,
    assert_page_glyphs,
    assert_real_glyphs,
    require_web_build,
    screenshot_path,
    unavailable,
)
from tests.harness import Demo, GraphQLClient, Site, operation_index

USERNAME = "wendy"  # the demo's warehouse keeper (WAREHOUSE)
NEW_PASSWORD = "fresh-wendy-password-42"
WAREHOUSE = "Main warehouse"

NAMES = {
    "en": {
        **CONTRACT_NAMES["en"],
        "menu": "Stocktake",
        "location": "Location to count",
        "open": "Open the count",
        "counting": f"Count: {WAREHOUSE}",
        "scanned": "Labels scanned: {n}",
        "photo": "Photo of a label",
        "typed": "Label code",
        "record": "Record label",
        "scans": "Scans",
        "counted": "Counted.",
        "before": "Already counted: a label counts once.",
        "forged": "This is not a valid asset label (forged or damaged).",
        "item": "Item",
        "quantity": "Quantity counted",
        "record_count": "Record quantity",
        "close": "Close the count",
        "confirm": "Yes, close the count",
        "report": f"Variance report: {WAREHOUSE}",
        "MISSING": "Missing",
        "QUANTITY": "Quantity differs",
    },
    "zh-CN": {
        **CONTRACT_NAMES["zh-CN"],
        "menu": "盘点",
        "none_open": "没有进行中的盘点。",
        "offline": "盘点页面需要网络连接",
        "location": "盘点库位",
        "open": "开始本次盘点",
        "counting": f"盘点：{WAREHOUSE}",
        "scanned": "已扫描标签：{n}",
        "photo": "标签照片",
        "camera": "用相机扫描",
        "before": "已计入过：每个标签只计一次。",
        "scans": "扫描记录",
        "counted": "已计入。",
        "report": f"差异报告：{WAREHOUSE}",
        "MISSING": "盘亏（缺失）",
        "QUANTITY": "数量不符",
    },
}

PAPER_ZH = "复印纸 A3"  # a stock item named in Chinese, with no stock on record
CREATE_ITEM = """mutation($name: String!) {
  createItem(name: $name, category: OFFICE_SUPPLIES, unit: "包") { item { id } errors { code message } } }"""
ASSETS = "{ assets(first: 50) { edges { node { id labelCode status item { name } } } } }"


def qr_png(text: str) -> bytes:
    """The label as its printed QR code, photographed straight on."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=8, border=4)
    return out.getvalue()


def write_y4m(path: Path, text: str) -> None:
    """A one-frame Y4M video of the label's QR on a white page: Chromium's fake camera loops it."""
    frame = Image.new("L", (640, 480), 255)
    qr = Image.open(io.BytesIO(qr_png(text))).convert("L")
    frame.paste(qr, ((640 - qr.width) // 2, (480 - qr.height) // 2))
    chroma = bytes([128]) * (320 * 240)
    header = b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n"
    path.write_bytes(header + b"FRAME\n" + frame.tobytes() + chroma + chroma)


@pytest.fixture(name="camera_file")
def camera_file_fixture(tmp_path: Path) -> Path:
    return tmp_path / "camera.y4m"


@pytest.fixture(name="browser")
async def browser_fixture(camera_file: Path) -> AsyncIterator[Any]:
    """tests/browser.py's Chromium with a fake camera that films `camera_file` (written by the
    test once it knows the label: Chromium opens the file when the page starts the camera)."""
    require_web_build()
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("Playwright for Python is not installed (pip install playwright; the test extras)")
    _require_chromium()
    args = [
        "--no-sandbox",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={camera_file}",
    ]
    async with async_playwright() as pw:
        try:
            chromium = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        except Exception as exc:
            unavailable(f"Chromium at {CHROMIUM} did not start: {exc}")
        try:
            yield chromium
        finally:
            await chromium.close()


def forged(real: str, other: str) -> str:
    """`real`'s signature on `other`'s asset number: well formed, but the server's MAC fails."""
    prefix, _, mac = real.split(":")
    return f"{prefix}:{other.split(':')[1]}:{mac}"


def printed(label: str) -> str:
    """A label's number as the report prints it (the signature left off)."""
    return ":".join(label.split(":")[:2])


async def last_scan(page: Any, scans: str, text: str) -> None:
    """The newest line of the scan log says `text`."""
    await page.get_by_role("log", name=scans).locator("li").first.filter(has_text=text).wait_for()


async def test_warehouse_counts_the_main_warehouse_and_reads_the_variances(
    sqlite_site: Site, demo: Demo, browser: Any, camera_file: Path
) -> None:
    server = sqlite_site.start_server()
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", service_workers="block")
    context.set_default_timeout(20_000)
    page = await context.new_page()
    watch = PageWatch()
    watch.attach(page)
    zh, en = NAMES["zh-CN"], NAMES["en"]
    try:
        await page.goto(server.http + "/")
        await page.get_by_label(zh["username"]).fill(USERNAME)
        await page.get_by_label(zh["password"], exact=True).fill(demo.passwords[USERNAME])
        await page.get_by_role("button", name=zh["sign_in"], exact=True).click()
        await page.get_by_label(zh["new"], exact=True).fill(NEW_PASSWORD)
        await page.get_by_label(zh["repeat"], exact=True).fill(NEW_PASSWORD)
        await page.get_by_role("button", name=zh["save"]).click()
        await page.get_by_role("button", name=zh["bind"]).wait_for()
        api = await GraphQLClient(server, demo=demo, operations=operation_index(documents())).login(
            USERNAME, NEW_PASSWORD
        )
        laptops = [
            a["node"]
            for a in (await api.ok(ASSETS))["assets"]["edges"]
            if a["node"]["item"]["name"] == "Laptop" and a["node"]["status"] == "IN_STOCK"
        ]
        assert len(laptops) == 3, laptops
        first, second, third = laptops
        made = (await api.ok(CREATE_ITEM, {"name": PAPER_ZH}))["createItem"]
        assert made["errors"] == [], made

        # The screen from the menu: nothing open yet; a count of the main warehouse.
        await page.get_by_role("button", name=zh["menu"], exact=True).click()
        await page.get_by_text(zh["none_open"]).wait_for()
        await page.get_by_label(zh["location"]).select_option(label=WAREHOUSE)
        await page.get_by_role("button", name=zh["open"]).click()
        await page.get_by_role("heading", name=zh["counting"]).wait_for()
        await page.get_by_role("status").filter(has_text=zh["scanned"].format(n=0)).wait_for()
        opened = (await api.op_ok("StocktakesToCount"))["stocktakes"]["edges"]
        assert [e["node"]["location"]["name"] for e in opened] == [WAREHOUSE], opened
        stocktake = opened[0]["node"]["id"]

        # A photo of the first laptop's label: the page reads the QR code and the server counts it.
        await page.get_by_label(zh["photo"]).set_input_files(
            {"name": "label.png", "mimeType": "image/png", "buffer": qr_png(first["labelCode"])}
        )
        await last_scan(page, zh["scans"], f"Laptop {zh['counted']}")
        await page.get_by_role("status").filter(has_text=zh["scanned"].format(n=1)).wait_for()
        await page.screenshot(path=screenshot_path("zh-CN", "50-stocktake-scanned"), full_page=True)
        # The live camera films the same label: read from its frames, it counts once.
        write_y4m(camera_file, first["labelCode"])
        await page.get_by_role("button", name=zh["camera"]).click()
        await last_scan(page, zh["scans"], f"Laptop {zh['before']}")
        await page.get_by_role("button", name=zh["camera"]).wait_for()  # off again after one label
        await assert_real_glyphs(page, [zh["counted"], zh["counting"]])

        # English: the second laptop's code typed; typed again, it counts once; a forged label is refused.
        await page.get_by_label("Language / 语言").select_option("en")
        typed = page.get_by_label(en["typed"])
        for code, answer in (
            (second["labelCode"], f"Laptop {en['counted']}"),
            (second["labelCode"], f"Laptop {en['before']}"),
            (forged(first["labelCode"], third["labelCode"]), en["forged"]),
        ):
            await typed.fill(code)
            await page.get_by_role("button", name=en["record"]).click()
            await last_scan(page, en["scans"], answer)
        await page.get_by_role("status").filter(has_text=en["scanned"].format(n=2)).wait_for()
        await page.screenshot(path=screenshot_path("en", "51-stocktake-refused"), full_page=True)

        # The paper counted short: 38 of the 40 on record.
        await page.get_by_label(en["item"], exact=True).select_option(label="A4 paper")
        await page.get_by_label(en["quantity"]).fill("38")
        await page.get_by_role("button", name=en["record_count"]).click()
        await page.get_by_role("status").filter(has_text="Counted A4 paper: 38").wait_for()
        # And 5 packs of an item the records hold none of here.
        await page.get_by_label(en["item"], exact=True).select_option(label=PAPER_ZH)
        await page.get_by_label(en["quantity"]).fill("5")
        await page.get_by_role("button", name=en["record_count"]).click()
        await page.get_by_role("status").filter(has_text=f"Counted {PAPER_ZH}: 5").wait_for()
        await assert_real_glyphs(page, [f"Counted {PAPER_ZH}: 5"])

        # Closed behind a confirmation; the report is the server's.
        await page.get_by_role("button", name=en["close"]).click()
        dialog = page.get_by_role("alertdialog")
        await dialog.wait_for()
        assert (await api.op_ok("StocktakeReport", {"id": stocktake}))["stocktake"]["status"] == "OPEN"
        await dialog.get_by_role("button", name=en["confirm"]).click()
        await page.get_by_role("heading", name=en["report"]).wait_for()
        report = (await api.op_ok("StocktakeReport", {"id": stocktake}))["stocktake"]
        assert report["status"] != "OPEN" and report["scanned"] == 2, report
        found = sorted(
            (v["kind"], v["item"]["name"], v["asset"]["id"] if v["asset"] else None, v["expected"], v["counted"])
            for v in report["variances"]
        )
        assert found == [
            ("MISSING", "Laptop", third["id"], 1, 0),
            ("QUANTITY", "A4 paper", None, 40, 38),
            ("QUANTITY", PAPER_ZH, None, 0, 5),
        ], found

        async def shown() -> list[list[str]]:
            rows = page.locator("table.variances tbody tr")
            return [
                [c.strip() for c in await rows.nth(i).locator("td").all_inner_texts()]
                for i in range(await rows.count())
            ]

        want = [
            ("MISSING", [f"Laptop {printed(third['labelCode'])}", WAREHOUSE, "1 / 0"]),
            ("QUANTITY", ["A4 paper", WAREHOUSE, "40 / 38"]),
            ("QUANTITY", [PAPER_ZH, WAREHOUSE, "0 / 5"]),
        ]
        assert sorted(await shown()) == sorted([[en[k], *rest] for k, rest in want]), await shown()
        await page.screenshot(path=screenshot_path("en", "52-stocktake-report"), full_page=True)

        # The same report in Chinese, drawn with real glyphs.
        await page.get_by_label("Language / 语言").select_option("zh-CN")
        await page.get_by_role("heading", name=zh["report"]).wait_for()
        assert sorted(await shown()) == sorted([[zh[k], *rest] for k, rest in want]), await shown()
        await assert_real_glyphs(page, [zh["MISSING"], zh["QUANTITY"], zh["report"], PAPER_ZH])
        await page.screenshot(path=screenshot_path("zh-CN", "53-stocktake-report"), full_page=True)
        await assert_page_glyphs(page)

        # Offline: the screen says it needs a connection instead of failing.
        await context.set_offline(True)
        await page.get_by_role("status").filter(has_text=zh["offline"]).wait_for()
        assert watch.csp_violations() == [], watch.errors
    finally:
        await context.close()
