"""Message catalogues of the web UI: Chinese (default) and English, one flat YAML file per language.

Templates and page code look texts up by key (``t("nav.home")``); ``tests/web/test_i18n.py`` checks that
both catalogues hold the same keys and that every key used in the code exists. Beneath them lies the backend's
catalogue of the names of its own codes (``backend.i18n``: material families, the ``on_site`` mode, benefit-ledger
states...), which the exports use too: a code has one name everywhere, and a key lives in one catalogue only.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from starlette.requests import Request

from backend.i18n import catalogue as backend_catalogue

LOCALES: tuple[str, ...] = ("zh", "en")
DEFAULT_LOCALE = "zh"
LANG_COOKIE = "isx_lang"
LANG_PARAM = "lang"
CATALOGUE_DIR = Path(__file__).resolve().parent


@cache
def own_catalogue(locale: str) -> dict[str, str]:
    """The web UI's own texts (``web/i18n/<locale>.yaml``)."""
    data = yaml.safe_load((CATALOGUE_DIR / f"{locale}.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{locale}.yaml must be a mapping of key to text")
    return {str(k): str(v) for k, v in data.items()}


@cache
def catalogue(locale: str) -> dict[str, str]:
    """Every text a page may show: the web UI's own and the backend's names of its codes."""
    return backend_catalogue(locale) | own_catalogue(locale)


class Translator:
    """``t(key, **values)``: the text of ``key`` in this locale, with ``{name}`` placeholders filled."""

    def __init__(self, locale: str) -> None:
        self.locale = locale if locale in LOCALES else DEFAULT_LOCALE
        self.messages = catalogue(self.locale)

    def __call__(self, key: str, **values: Any) -> str:
        text = self.messages.get(key)
        if text is None:  # a missing key shows itself instead of failing the page; the tests catch it
            return key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.messages


def requested_locale(request: Request) -> str | None:
    """The locale asked for by ``?lang=`` on this request, if it is one we have."""
    value = request.query_params.get(LANG_PARAM)
    return value if value in LOCALES else None


def pick_locale(request: Request, user_locale: str | None = None) -> str:
    """``?lang=`` first, then the remembered cookie, then the user's saved preference, then Chinese."""
    for candidate in (requested_locale(request), request.cookies.get(LANG_COOKIE), user_locale):
        if candidate in LOCALES:
            return str(candidate)
    return DEFAULT_LOCALE
