"""The dashboard in headless Chromium against the real service: it asks for a token, draws its
charts with data, switches its labels zh → en, and shows a tenant only its own rows.

Screenshots go to ``<tmp_path>/screenshots`` (the path is printed; run with ``-s`` to see it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .conftest import DEMO_DAYS, DEMO_START, TENANT, Service

CHARTS = (
    "chart-today",
    "chart-yesterday",
    "chart-gauges",
    "chart-certificates",
    "chart-completeness",
    "chart-storage",
    "chart-jobs",
)
LAST_DAY = f"2025-06-0{int(DEMO_START[-1]) + DEMO_DAYS - 1}"

# Per chart: its traces' names and how many of their y (or values, or x for horizontal bars,
# or value for gauges) are numbers other than zero.
_TRACES_JS = """(id) => (document.getElementById(id).data || []).map((t) => {
  const ys = t.type === "pie" ? t.values
    : t.type === "indicator" ? [t.value]
    : t.orientation === "h" ? t.x : t.y;
  return {name: t.name || "", type: t.type,
          nonzero: (ys || []).filter((v) => typeof v === "number" && v !== 0).length};
})"""


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = tmp_path / "screenshots"
    out.mkdir()
    print(f"\ndashboard screenshots: {out}")
    return out


def _sign_in(browser: Browser, service: Service, token: str) -> tuple[Page, list[str]]:
    page = browser.new_page(viewport={"width": 1600, "height": 1400})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{service.url}/dashboard")
    page.wait_for_selector("#login-form", state="visible")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    return page, errors


def _traces(page: Page, chart: str) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = page.evaluate(_TRACES_JS, chart)
    return traces


def test_park_view_draws_every_chart_and_switches_language(
    browser: Browser, service: Service, shots: Path
) -> None:
    page, errors = _sign_in(browser, service, service.tokens["admin"])
    assert page.input_value("#date") == LAST_DAY
    assert page.text_content("#title") == "绿电态势感知大屏"
    assert page.text_content("#scope") == "园区视图"
    assert page.text_content("#park") == "西宁南川零碳算力园区"
    for chart in CHARTS:
        traces = _traces(page, chart)
        assert traces, f"{chart} has no trace"
        assert any(int(t["nonzero"]) > 0 for t in traces), f"{chart} has no data: {traces}"
    today = _traces(page, "chart-today")
    names = {str(t["name"]) for t in today}
    assert {"园区光伏", "园区风电", "电网火电"} <= names
    assert all(len(t) for t in today)
    jobs = _traces(page, "chart-jobs")
    assert {str(t["name"]) for t in jobs} == {f"{TENANT[0]}/fab-sim", "dc/llm-train"}
    rows = page.locator("#consumers tbody tr")
    assert rows.count() == 22
    assert page.text_content("#reference") is not None
    assert "cn-national-2023" in (page.text_content("#reference") or "")
    page.screenshot(path=str(shots / "park-zh.png"), full_page=True)

    page.click("#lang")
    page.wait_for_selector("body[data-lang='en'][data-ready='1']")
    assert page.text_content("#title") == "Green-power situational awareness"
    assert page.text_content("#scope") == "Park view"
    assert page.text_content("#park") == "Xining Nanchuan zero-carbon compute park"
    assert page.text_content("#consumers thead th") == "Consumer"
    names = {str(t["name"]) for t in _traces(page, "chart-today")}
    assert {"On-site PV", "On-site wind", "Grid fossil"} <= names
    labels = page.eval_on_selector_all("[data-i18n]", "els => els.map(e => e.textContent)")
    assert len(labels) > 10
    assert not any("\u4e00" <= ch <= "\u9fff" for label in labels for ch in label), labels
    assert page.text_content("#lang") == "中文"
    page.screenshot(path=str(shots / "park-en.png"), full_page=True)

    page.fill("#date", DEMO_START)  # the first day: there is no day before it
    page.wait_for_function(
        f"document.getElementById('today-date').textContent === '{DEMO_START}' "
        "&& document.body.dataset.ready === '1'"
    )
    assert _traces(page, "chart-yesterday") == []
    assert any(int(t["nonzero"]) > 0 for t in _traces(page, "chart-today"))
    assert errors == []
    page.close()


def test_tenant_view_shows_only_its_own_rows(
    browser: Browser, service: Service, shots: Path
) -> None:
    page, errors = _sign_in(browser, service, service.tokens[TENANT[0]])
    assert page.text_content("#scope") == "租户视图"
    keys = page.eval_on_selector_all("#consumers tbody tr", "rows => rows.map(r => r.dataset.key)")
    assert keys == [TENANT[1]]
    jobs = _traces(page, "chart-jobs")
    assert [t["name"] for t in jobs] == [f"{TENANT[0]}/fab-sim"]
    today = _traces(page, "chart-today")
    assert any(int(t["nonzero"]) > 0 for t in today)
    completeness = page.evaluate("document.getElementById('chart-completeness').data[0].y")
    assert completeness == ["用电"]
    page.screenshot(path=str(shots / "tenant-zh.png"), full_page=True)
    assert "dc-nanchuan" not in page.content()
    assert errors == []
    page.close()


def test_a_bad_token_is_asked_for_again(browser: Browser, service: Service) -> None:
    page = browser.new_page()
    page.goto(f"{service.url}/dashboard")
    page.fill("#token", "sd_not-a-token")
    page.click("#login-form button[type=submit]")
    page.wait_for_function("document.getElementById('login-error').textContent.length > 0")
    assert "令牌无效" in (page.text_content("#login-error") or "")
    assert page.evaluate("sessionStorage.getItem('suandian.token')") is None
    page.close()
