"""Names of the backend's own codes in Chinese and English: the words the backend writes into the documents it
produces (exports and reports) and that pages show for the same codes.

One catalogue per language (``zh.yaml``, ``en.yaml``), flat ``key: text`` like the web UI's. The web UI's
translator reads this catalogue beneath its own (``web/i18n``), so a code has one name wherever it appears:
a key lives in exactly one of the two catalogues (``tests/web/test_i18n.py`` checks it). Keys here are the
names of codes the backend defines or hands out (material families, the ``on_site`` mode, benefit-ledger
states, KPI row kinds) and the headings of the files it writes.
"""

from functools import cache
from pathlib import Path
from typing import Any

import yaml

LOCALES: tuple[str, ...] = ("zh", "en")
CATALOGUE_DIR = Path(__file__).resolve().parent


@cache
def catalogue(locale: str) -> dict[str, str]:
    """``key -> text`` of one language (``zh`` or ``en``)."""
    if locale not in LOCALES:
        raise ValueError(f"no catalogue for locale '{locale}' (have: {', '.join(LOCALES)})")
    data = yaml.safe_load((CATALOGUE_DIR / f"{locale}.yaml").read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"backend/i18n/{locale}.yaml must be a mapping of key to text")
    return {str(k): str(v) for k, v in data.items()}


def word(locale: str, key: str, default: str | None = None, **values: Any) -> str:
    """The text of ``key`` in ``locale`` with ``{name}`` placeholders filled; ``default`` (else the key itself)
    when the catalogue has no such key, so an unknown code still shows as itself."""
    text = catalogue(locale if locale in LOCALES else "zh").get(key)
    if text is None:
        return key if default is None else default
    return text.format(**values) if values else text
