"""The console page in headless Chromium against a real server with the demo collection.

Types a query, narrows it by industry and then severity, checks that every shown hit
matches, that latency and plan are shown, that payload text is rendered as text (never
as markup), and saves a screenshot. Needs Debian's ``chromium`` and ``chromium-driver``:
in CI (``CI`` set) their absence fails the test; elsewhere it skips, saying so.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import LiveServer

DEMO_SIZE = 2000
WAIT_S = 20
INDUSTRY = "Financial Services"
SEVERITY = "high"
PLAN_STRATEGIES = {"ann", "ann_filtered", "partition", "exact", "empty"}
QUERY = "stolen customer bank account numbers after a phishing email"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1100",
)


def _require(found: bool, what: str) -> None:
    if found:
        return
    message = f"{what}; install it with: apt-get install -y chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(f"CI needs the browser test: {message}", pytrace=False)
    pytest.skip(message)


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    _require(chromium is not None, "the chromium binary is not on PATH")
    _require(driver is not None, "chromedriver (Debian chromium-driver) is not on PATH")
    assert chromium is not None and driver is not None
    return chromium, driver


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("console"), demo_size=DEMO_SIZE) as live:
        live.wait_demo_ready()
        yield live


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium, driver_path = _browser_paths()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _require(False, "the selenium package is missing (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    with tempfile.TemporaryDirectory(prefix="vecfleet-chromium-") as profile:
        options.add_argument(f"--user-data-dir={profile}")
        # An explicit driver path keeps Selenium Manager from looking anything up online.
        driver = webdriver.Chrome(options=options, service=Service(driver_path))
        driver.set_page_load_timeout(WAIT_S)
        try:
            yield driver
        finally:
            driver.quit()


def _wait(driver: Any, condition: Any, what: str) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(condition)
    except TimeoutException:
        raise AssertionError(f"page never showed {what}") from None


def _wait_request(driver: Any, number: int) -> list[Any]:
    """Waits for the page to finish its ``number``-th search; returns the hit elements."""
    from selenium.webdriver.common.by import By

    results = driver.find_element(By.ID, "results")
    _wait(
        driver,
        lambda _: (
            results.get_attribute("data-request") == str(number)
            or results.get_attribute("data-state") == "error"
        ),
        f"the results of search {number}",
    )
    error = driver.find_element(By.ID, "error")
    assert not error.is_displayed(), f"the page shows an error: {error.text}"
    return list(results.find_elements(By.CSS_SELECTOR, "li.hit"))


def _texts(hits: list[Any], css: str) -> list[str]:
    from selenium.webdriver.common.by import By

    return [hit.find_element(By.CSS_SELECTOR, css).text for hit in hits]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


# ``browser`` comes first so a missing Chromium is reported before a server is started.
def test_search_filter_and_screenshot(browser: Any, server: LiveServer, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(server.url + "/")
    demo = browser.find_element(By.ID, "demo")
    _wait(browser, lambda _: demo.get_attribute("data-state") == "ready", "the demo as ready")
    assert f"{DEMO_SIZE:,}" in browser.find_element(By.ID, "demo-state").text

    browser.find_element(By.ID, "q").send_keys(QUERY, Keys.ENTER)
    hits = _wait_request(browser, 1)
    assert len(hits) == 20, "the default page size is 20 and the demo holds 2,000 records"
    assert len(set(_texts(hits, ".hit-industry"))) > 1, "an unfiltered query spans industries"

    Select(browser.find_element(By.ID, "industry")).select_by_visible_text(INDUSTRY)
    hits = _wait_request(browser, 2)
    assert hits, f"no {INDUSTRY} hits"
    assert set(_texts(hits, ".hit-industry")) == {INDUSTRY}

    browser.find_element(By.CSS_SELECTOR, f"#severities input[value='{SEVERITY}']").click()
    hits = _wait_request(browser, 3)
    assert hits, f"no {INDUSTRY} hits of {SEVERITY} severity"
    assert set(_texts(hits, ".hit-industry")) == {INDUSTRY}
    assert set(_texts(hits, ".hit-severity")) == {SEVERITY}
    assert all(title for title in _texts(hits, ".hit-title"))
    assert all(len(date) == 10 for date in _texts(hits, ".hit-date"))
    scores = [float(s.split()[-1]) for s in _texts(hits, ".hit-score")]
    assert scores == sorted(scores, reverse=True)

    latency = browser.find_element(By.ID, "latency").text
    assert "engine" in latency and "round trip" in latency and latency.count(" ms") == 2
    plan_rows = browser.find_elements(By.CSS_SELECTOR, "#plan tbody tr")
    assert plan_rows, "the query plan is not shown"
    strategies = {row.find_elements(By.TAG_NAME, "td")[1].text for row in plan_rows}
    assert strategies <= PLAN_STRATEGIES and strategies - {"empty"}, strategies
    assert "industry" in browser.find_element(By.ID, "summary").text

    shot = tmp_path / "console.png"
    assert browser.save_screenshot(str(shot))
    width, height = _png_size(shot)
    assert width >= 1000 and height >= 600, (width, height)
    assert shot.stat().st_size > 30_000, "the screenshot looks blank"
    print(f"console screenshot: {shot}")

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"browser console errors: {severe}"


def test_payload_text_is_never_markup(browser: Any, server: LiveServer) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    title = "<img src=x onerror=\"document.title='pwned'\"> Markup <b>in</b> a title"
    point = {
        "id": "inc-markup",
        "text": "markup injection probe record",
        "payload": {"title": title, "narrative": "<script>alert(1)</script>", "industry": "Other"},
    }
    assert server.post("/v1/collections/incidents/points", {"points": [point]}).status_code == 200

    browser.get(server.url + "/")
    browser.find_element(By.ID, "q").send_keys("markup injection probe record", Keys.ENTER)
    hits = _wait_request(browser, 1)
    first = hits[0]
    assert first.get_attribute("data-id") == "inc-markup"
    assert first.find_element(By.CSS_SELECTOR, ".hit-title").text == title
    assert first.find_element(By.CSS_SELECTOR, ".hit-snippet").text == point["payload"]["narrative"]
    assert not browser.find_elements(By.CSS_SELECTOR, "#results img, #results script, #results b")
    assert browser.title != "pwned"
