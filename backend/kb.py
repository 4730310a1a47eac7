"""The knowledge base as the backend uses it: one validated, cached instance per process."""

import os
from functools import cache
from pathlib import Path

from backend.errors import InvalidInput
from matching.knowledge import KnowledgeBase, load_knowledge_base
from matching.units import is_compatible


@cache
def get_kb() -> KnowledgeBase:
    overrides = os.environ.get("ISX_KB_OVERRIDES")
    return load_knowledge_base(overrides=Path(overrides) if overrides else None)


def check_material_and_unit(material: str, unit: str, loc: tuple[str | int, ...] = ("body",)) -> None:
    """Raise InvalidInput naming the field when the material is unknown or the unit does not fit it."""
    kb = get_kb()
    found = kb.materials.get(material)
    if found is None:
        raise InvalidInput.at((*loc, "material"), f"unknown material id '{material}'", "unknown_material")
    if not is_compatible(unit, found):
        raise InvalidInput.at((*loc, "unit"), f"unit '{unit}' does not fit material '{material}' "
                              f"(measured in {found.unit})", "bad_unit")
