"""Jinja2 environment of the web UI and the one way pages answer: a whole page, or one block of it.

One template per page. A full load gets the page; an HTMX request names a ``{% block %}`` of the same
template (jinja2-fragments), so a fragment and its page never drift apart.
"""

import json
from pathlib import Path
from typing import Any

from babel.numbers import format_decimal
from jinja2 import pass_context
from jinja2_fragments.fastapi import Jinja2Blocks
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response

from backend.config import get_settings
from web.i18n import LANG_COOKIE, requested_locale

BABEL_LOCALES = {"zh": "zh_CN", "en": "en"}
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

templates = Jinja2Blocks(directory=str(TEMPLATE_DIR))
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


@pass_context
def _number(context: Any, value: float | int | None, digits: int = 0) -> str:
    """A number in the page's locale (Babel): grouping and decimal signs of zh_CN or en."""
    if value is None:
        return "—"
    locale = BABEL_LOCALES.get(context.get("locale", "zh"), "zh_CN")
    return format_decimal(round(float(value), digits), format=f"#,##0{'.' + '0' * digits if digits else ''}",
                          locale=locale)


@pass_context
def _wan(context: Any, value: float | None) -> str:
    """A total in 万元 (10,000 yuan), one decimal: money totals are shown in this unit everywhere."""
    if value is None:
        return "—"
    return _number(context, float(value) / 1e4, 1)


UNIT_LABELS = {"m3": "m³"}


def _unit_label(unit: str | None) -> str:
    return UNIT_LABELS.get(unit or "", unit or "")


def _amount(value: float) -> str:
    """Yuan per unit the way the matcher's explanation writes them: whole yuan from 100, else cents, else
    three significant digits."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _json_attr(value: Any) -> Markup:
    """JSON for a ``data-*`` attribute (autoescaping quotes it safely; no inline script needed)."""
    return Markup.escape(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _use_of(use_id: str | None) -> Any:
    """The knowledge base's use (what a receiver does with a material), for its names; None if unknown."""
    from backend.kb import get_kb

    return get_kb().uses.get(use_id) if use_id else None


templates.env.globals["use_of"] = _use_of
templates.env.filters["number"] = _number
templates.env.filters["wan"] = _wan
templates.env.filters["unit_label"] = _unit_label
templates.env.filters["amount"] = _amount
templates.env.filters["json_attr"] = _json_attr


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def render(request: Request, name: str, context: dict[str, Any], *, block: str | None = None,
           status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Render ``name`` with the page context of ``request`` (see ``web.deps.page_context``) plus ``context``.

    ``block`` renders only that block (for HTMX swaps). Answers that depend on HX-Request say so in Vary.
    """
    from web.deps import page_context

    full = page_context(request) | context
    response = templates.TemplateResponse(request, name, full, status_code=status_code, headers=headers,
                                          block_name=block)
    response.headers["Vary"] = "HX-Request, Cookie"
    asked = requested_locale(request)
    if asked is not None:  # ?lang= is remembered for the next pages
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 24 * 3600, httponly=True, samesite="lax",
                            secure=get_settings().cookie_secure, path="/")
    return response
