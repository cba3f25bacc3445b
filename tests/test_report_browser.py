"""`tcpcheck report` opened in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by `scripts/setup.sh --test`) driven through Selenium.

The page must stand on its own: every diagram laid out with a size, the verdict table saying
what `check --json` says, nothing fetched from anywhere. It saves a screenshot at laptop
width; with TCPCHECK_REPORT_SCREENSHOT=docs/report.png it refreshes the one the README shows.
Skipped, with the reason, where no browser is installed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SPEC = "specs/teardown.spec"
LAPTOP = (1280, 800)


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(scripts/setup.sh --test)")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed: the report has no diagrams to check")
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed (scripts/setup.sh --test)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={LAPTOP[0]},{LAPTOP[1]}"):
        options.add_argument(arg)
    # the driver Debian ships, never one downloaded at run time
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


def _tcpcheck(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tcpcheck", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    done = _tcpcheck("report", SPEC, "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_the_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text
    for outside in ("http://", "https://", "<link", "@import", "src="):
        # the SVG namespace URIs are names, not fetches
        rest = text.replace('xmlns="http://www.w3.org/2000/svg"', "") \
                   .replace('xmlns:xlink="http://www.w3.org/1999/xlink"', "")
        assert outside not in rest, f"the page refers outside itself: {outside}"


def test_the_report_in_chromium(page, tmp_path):
    from selenium.webdriver.common.by import By

    browser = _browser()
    try:
        browser.get(page.as_uri())
        diagrams = browser.find_elements(By.CSS_SELECTOR, "figure.diagram svg")
        assert diagrams, "the report has no diagram"
        for svg in diagrams:
            size = svg.size
            assert size["width"] > 0 and size["height"] > 0, svg.get_attribute("outerHTML")[:200]
        # laptop width: nothing wider than the window makes the whole page scroll sideways
        page_width = browser.execute_script("return document.documentElement.scrollWidth")
        assert page_width <= LAPTOP[0]
        rows = browser.find_elements(By.CSS_SELECTOR, "#verdict-table tbody tr")
        shown = {r.find_element(By.CSS_SELECTOR, "td code").text:
                 r.find_elements(By.TAG_NAME, "td")[2].text for r in rows}
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(LAPTOP[0], min(height, 2400))
        screenshot = ROOT / os.environ.get("TCPCHECK_REPORT_SCREENSHOT",
                                           str(tmp_path / "report.png"))
        browser.save_screenshot(str(screenshot))
    finally:
        browser.quit()
    checked = json.loads(_tcpcheck("check", SPEC, "--json", "--no-timing",
                                   "--no-progress").stdout)
    assert shown == {p["name"]: p["verdict"] for p in checked["properties"]}
    assert screenshot.stat().st_size > 0
