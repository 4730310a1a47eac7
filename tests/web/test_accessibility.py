"""Basic accessibility of every page a role reaches from its navigation, in the real browser on the demo region:
every form control has a label, text meets the WCAG AA contrast ratio, and the app works from the keyboard
(skip link, login, navigation with a visible focus ring)."""

import re
from typing import Any

import pytest

from tests.web.conftest import DEMO, login

pytestmark = pytest.mark.browser

# Form controls without an accessible name: no <label for>, no wrapping <label>, no aria-label(ledby), no title.
UNLABELLED = """() => {
  const skip = new Set(['hidden', 'submit', 'button', 'reset', 'image']);
  return [...document.querySelectorAll('input, select, textarea')]
    .filter(el => !skip.has((el.getAttribute('type') || '').toLowerCase()))
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                  && !el.getAttribute('aria-labelledby') && !el.getAttribute('title'))
    .map(el => el.outerHTML.slice(0, 160));
}"""

# Visible text whose contrast with the background behind it is below WCAG 2.1 AA: 4.5:1, or 3:1 for large text
# (>= 24 px, or >= 18.66 px bold). The background is the nearest opaque one up the tree (translucent ones are
# blended over it); text over an image or a gradient is skipped, since its background is not one colour.
LOW_CONTRAST = """() => {
  const rgba = s => { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const p = m[1].split(',').map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const over = (top, under) => { const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = el => { const layers = [];
    for (let n = el; n; n = n.parentElement) { const st = getComputedStyle(n);
      if (st.backgroundImage && st.backgroundImage !== 'none') return null;
      const c = rgba(st.backgroundColor); if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; } }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg; };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || seen.has(el) || !walker.currentNode.textContent.trim()) continue;
    seen.add(el);
    const st = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (st.visibility !== 'visible' || st.display === 'none' || box.width === 0 || box.height === 0
        || el.closest('[aria-hidden="true"], .skip-link, canvas')) continue;
    let fg = rgba(st.color); const bg = background(el);
    if (!fg || !bg) continue;
    fg = over([fg[0], fg[1], fg[2], fg[3] * Number(st.opacity)], bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
    const need = (size >= 24 || (bold && size >= 18.66)) ? 3 : 4.5;
    const text = walker.currentNode.textContent.trim().slice(0, 40);
    if (ratio < need - 0.01) out.push(`${ratio.toFixed(2)} < ${need}: <${el.tagName} class="${el.className}"> ${text}`);
  }
  return out;
}"""


def nav_pages(page: Any) -> list[str]:
    hrefs = page.eval_on_selector_all("nav.mainnav a", "els => els.map(a => a.getAttribute('href'))")
    return list(dict.fromkeys(["/", *hrefs]))


@pytest.mark.parametrize("who", ["firm", "manager", "planner"])
def test_every_page_labels_its_controls_and_meets_contrast(page: Any, who: str) -> None:
    page.goto("/login")
    problems = {"/login": page.evaluate(UNLABELLED) + page.evaluate(LOW_CONTRAST)}
    login(page, who)
    pages = nav_pages(page)
    assert len(pages) >= 5, pages
    for lang in ("zh", "en"):
        for href in pages:
            page.goto(f"{href}{'&' if '?' in href else '?'}lang={lang}")
            page.wait_for_load_state("networkidle")
            found = page.evaluate(UNLABELLED) + page.evaluate(LOW_CONTRAST)
            if found:
                problems[f"{href} ({lang})"] = found
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, "\n".join(f"{k}: {v[:6]}" for k, v in problems.items())


def test_the_app_works_from_the_keyboard(page: Any) -> None:
    page.goto("/login")
    # log in with the keyboard only: the e-mail field has the focus on arrival; type, Tab, type, Enter
    email, password = DEMO["planner"]
    assert page.evaluate("document.activeElement.getAttribute('type')") == "email"
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('type')") == "password"
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/$"))
    # the first Tab reaches the skip link, which moves past the navigation to the main content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()  # shown while focused
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#main') !== null")
    page.goto("/")
    # every navigation link can be reached with Tab and shows where the focus is
    targets = set(nav_pages(page)) - {"/"}
    reached: dict[str, str] = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement.closest('nav.mainnav') ? "
                             "document.activeElement.getAttribute('href') : null")
        if href:
            ring = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                                 " return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2"
                                 " || s.boxShadow !== 'none'; })()")
            reached[href] = "ring" if ring else "no visible focus"
        if targets <= reached.keys():
            break
    assert targets <= reached.keys(), f"not reachable by Tab: {targets - reached.keys()}"
    assert set(reached.values()) == {"ring"}, reached
    # Enter on the focused map link opens the map
    while page.evaluate("document.activeElement.getAttribute('href')") != "/map":
        page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/map"))
    assert page.locator("#map").count() == 1
