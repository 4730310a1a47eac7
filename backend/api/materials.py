from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from backend.api.deps import CurrentActor
from backend.api.params import PagingDep
from backend.errors import InvalidInput, NotFound
from backend.kb import get_kb
from backend.schemas import Page

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


@router.get("", response_model=Page[MaterialPublic])
def list_materials(actor: CurrentActor, paging: PagingDep, family: str | None = None,
                   q: Annotated[str | None, Query(max_length=50, description="Chinese or English name, or id")] = None,
                   ) -> Page[MaterialPublic]:
    """Materials of the knowledge base (for pickers): search by Chinese or English name or id; ``{data, count}``
    like every list, ``count`` being all that match."""
    needle = (q or "").strip().lower()
    found = [_public(m) for m in get_kb().materials.values()
             if (family is None or m.family == family)
             and (not needle or needle in m.id or needle in m.name_en.lower() or needle in m.name_zh)]
    if paging.sort:
        raise InvalidInput.at(("query", "sort"), "materials are listed by id; sort is not supported here")
    return Page(data=found[paging.skip:paging.skip + paging.limit], count=len(found))


@router.get("/{material_id}", response_model=MaterialPublic)
def get_material(actor: CurrentActor,
                 material_id: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]) -> MaterialPublic:
    found = get_kb().materials.get(material_id)
    if found is None:
        raise NotFound(f"material '{material_id}' not found")
    return _public(found)
