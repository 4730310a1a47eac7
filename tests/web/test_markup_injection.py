"""Names typed by users are text, never markup, in the scripts' widgets; and the charts' tooltips keep to the
strict Content-Security-Policy (no inline style). Browser tests on the real server with the demo region."""

import re
from typing import Any

import pytest

from tests.web.conftest import api_client, login

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.__xss=1">'
# Every Content-Security-Policy violation of the page, as the browser reports it to the page itself.
RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "") + " " + (e.sample || ""));
});
"""


def test_a_park_name_shows_as_text_in_the_map_tooltip(page: Any, served: str) -> None:
    with api_client(served, "admin") as admin:
        parks = admin.get("/api/v1/parks", params={"limit": 500}).json()["data"]
        park = parks[0]
        csrf = admin.cookies.get("isx_csrf")
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        answer = admin.patch(f"/api/v1/parks/{park['id']}", json={"name_zh": HOSTILE, "name_en": HOSTILE},
                             headers=headers)
        assert answer.status_code == 200, answer.text
    page.add_init_script(RECORD_VIOLATIONS)
    login(page, "admin")
    page.goto("/map")
    page.locator("path.park-marker").first.wait_for()
    seen = []
    for marker in page.locator("path.park-marker").all():
        marker.dispatch_event("mouseover")
        seen += [t.inner_text() for t in page.locator(".leaflet-tooltip").all()]
        if HOSTILE in seen:
            break
    assert HOSTILE in seen, seen  # the name shows as text ...
    assert page.locator(".leaflet-tooltip img").count() == 0  # ... and made no element
    assert page.evaluate("window.__xss") is None
    assert page.locator(".leaflet-pane img[src='x']").count() == 0
    assert page.evaluate("window.__csp") == []


def test_chart_tooltips_need_no_inline_style(page: Any) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    login(page, "planner")
    page.goto("/kpis")
    chart = page.locator("[data-kpi-chart][data-ready='true']").first
    chart.wait_for()
    box = chart.bounding_box()
    assert box is not None
    tip = page.locator(".chart-tip")
    for fraction in (0.2, 0.3, 0.4, 0.5, 0.6):
        page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(200)
        if tip.count() and tip.first.is_visible():
            break
    assert tip.count() and tip.first.is_visible(), "hovering the chart showed no tooltip"
    assert re.search(r"\S", tip.first.inner_text())
    assert page.evaluate("window.__csp") == []
