from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from backend.api.deps import CurrentActor
from backend.errors import NotFound
from backend.kb import get_kb

router = APIRouter(prefix="/materials", tags=["knowledge base"])


class MaterialPublic(BaseModel):
    id: str
    name_zh: str
    name_en: str
    family: str
    form: str
    unit: str
    hazardous: bool
    hw_code: str | None
    gb_code: str | None


def _public(m: object) -> MaterialPublic:
    return MaterialPublic.model_validate(m, from_attributes=True)


@router.get("", response_model=list[MaterialPublic])
def list_materials(actor: CurrentActor, family: str | None = None,
                   q: Annotated[str | None, Query(max_length=50, description="Chinese or English name, or id")] = None,
                   ) -> list[MaterialPublic]:
    """Materials of the knowledge base (for pickers): search by Chinese or English name or id."""
    needle = (q or "").strip().lower()
    return [_public(m) for m in get_kb().materials.values()
            if (family is None or m.family == family)
            and (not needle or needle in m.id or needle in m.name_en.lower() or needle in m.name_zh)]


@router.get("/{material_id}", response_model=MaterialPublic)
def get_material(actor: CurrentActor, material_id: str) -> MaterialPublic:
    found = get_kb().materials.get(material_id)
    if found is None:
        raise NotFound(f"material '{material_id}' not found")
    return _public(found)
