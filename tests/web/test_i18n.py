"""The message catalogues: both languages hold the same keys, and every key the code uses exists."""

import re
from pathlib import Path

import pytest

from backend.i18n import catalogue as backend_catalogue
from backend.kb import get_kb
from backend.models import KINDS, LEDGER_ACTIONS, LEDGER_STATES, LOGISTICS, ROLES, STATUSES, VISIBILITIES
from backend.services import baseline, ledger
from matching.result import BINDING_CODES
from web.errors import TITLES
from web.forms import ERROR_KEYS, STATE_KEYS
from web.i18n import LOCALES, Translator, catalogue, own_catalogue, pick_locale

pytestmark = pytest.mark.nodb

WEB = Path(__file__).resolve().parents[2] / "web"
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']\s*[,)]""")
# keys built from a prefix in the code (t('role.' ~ viewer.role)) and every value they can take
DYNAMIC = {
    "role.": ROLES, "kind.": KINDS, "status.": STATUSES, "visibility.": VISIBILITIES, "logistics.": LOGISTICS,
    "home.lead.": ROLES, "home.parks.": ("mine", "all"), "import.action.": ("create", "update", "unchanged"),
    "family.": tuple(get_kb().families()),
    "mode.": (*get_kb().transport_modes, "on_site"), "explain.binding.": (*BINDING_CODES, "none"),
    "ledger.src.": tuple(ledger.FIXED_SOURCES),
    "ledger_state.": LEDGER_STATES, "benefit.state_note.": LEDGER_STATES, "benefit.action.": LEDGER_ACTIONS,
    "benefit.note.": LEDGER_ACTIONS, "benefit.do.": ("evidence", "verify", "reject"),
    "deal.done.ledger_": ("evidence", "verify", "reject"),
    # every error and warning code of the ledger import (backend/services/baseline.py) has its words
    "err.": tuple(c for c in re.findall(r'"(ledger_[a-z_]+)"', Path(baseline.__file__).read_text(encoding="utf-8"))
                  if c != "ledger_unbalanced"),
    "warn.": ("ledger_unbalanced", "quantity_outlier"),
    "ledger.in.": tuple(re.findall(r'(?:LedgerInput\(name=|_quantity_input\()"(\w+)"',
                                   Path(ledger.__file__).read_text(encoding="utf-8"))),
}


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*WEB.rglob("*.html"), *WEB.rglob("*.py")]:
        keys |= set(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    for prefix, values in DYNAMIC.items():
        keys |= {prefix + v for v in values}
    keys |= set(ERROR_KEYS.values()) | set(STATE_KEYS.values()) | {"error.other"}
    keys |= set(TITLES.values()) | {f"{k}.explain" for k in (*TITLES.values(), "error.other")}
    return keys


@pytest.mark.parametrize("which", [own_catalogue, backend_catalogue], ids=["web", "backend"])
def test_both_languages_have_the_same_keys(which: object) -> None:
    zh, en = which("zh"), which("en")  # type: ignore[operator]
    assert set(zh) - set(en) == set(), "keys only in zh.yaml"
    assert set(en) - set(zh) == set(), "keys only in en.yaml"
    assert all(text.strip() for text in (*zh.values(), *en.values()))


def test_a_key_lives_in_one_catalogue_only() -> None:
    """The backend's names of its codes (backend/i18n) and the web UI's texts (web/i18n) never repeat a key:
    a code has one name wherever it is shown or exported."""
    for locale in LOCALES:
        assert set(own_catalogue(locale)) & set(backend_catalogue(locale)) == set(), locale
        assert catalogue(locale)["mode.on_site"] == backend_catalogue(locale)["mode.on_site"]


def test_every_key_used_by_the_code_exists() -> None:
    keys = used_keys()
    assert len(keys) > 150
    for locale in LOCALES:
        missing = sorted(k for k in keys if k not in catalogue(locale))
        assert missing == [], f"missing in {locale}.yaml: {missing}"


def test_placeholders_match_between_languages() -> None:
    field = re.compile(r"{(\w+)}")
    zh, en = catalogue("zh"), catalogue("en")
    for key in zh:
        assert set(field.findall(zh[key])) == set(field.findall(en[key])), key


def test_the_literal_key_pattern_finds_keys() -> None:
    assert LITERAL_KEY.findall("""{{ t('nav.home') }} t("home.hello", name=x)""") == ["nav.home", "home.hello"]


def test_translator_fills_placeholders_and_shows_missing_keys() -> None:
    assert Translator("en")("home.hello", name="Li") == "Hello, Li"
    assert Translator("zh")("home.hello", name="李") == "您好，李"
    assert Translator("xx").locale == "zh"
    assert Translator("en")("no.such.key") == "no.such.key"


def test_locale_choice_order() -> None:
    from starlette.requests import Request

    def request(query: str = "", cookie: str = "") -> Request:
        headers = [(b"cookie", cookie.encode())] if cookie else []
        return Request({"type": "http", "method": "GET", "path": "/", "query_string": query.encode(),
                        "headers": headers})

    assert pick_locale(request()) == "zh"
    assert pick_locale(request(), "en") == "en"
    assert pick_locale(request(cookie="isx_lang=zh"), "en") == "zh"
    assert pick_locale(request("lang=en", "isx_lang=zh"), "zh") == "en"
    assert pick_locale(request("lang=fr")) == "zh"
