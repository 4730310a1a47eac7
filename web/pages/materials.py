"""The material picker: searches the knowledge base by Chinese or English name (or id) and shows the unit."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from backend.kb import get_kb
from matching.knowledge import Material
from web.deps import CurrentViewer
from web.templating import render

router = APIRouter(include_in_schema=False)
MAX_OPTIONS = 12


def search_materials(q: str, limit: int = MAX_OPTIONS) -> list[Material]:
    """Materials matching ``q``: exact id first, then names starting with it, then names containing it."""
    needle = q.strip().lower()
    if not needle:
        return []
    ranked: list[tuple[int, str, Material]] = []
    for m in get_kb().materials.values():
        names = (m.id, m.name_zh, m.name_en.lower())
        if needle == m.id or needle in (m.name_zh, m.name_en.lower()):
            rank = 0
        elif any(n.startswith(needle) for n in names):
            rank = 1
        elif any(needle in n for n in names):
            rank = 2
        else:
            continue
        ranked.append((rank, m.id, m))
    return [m for _r, _i, m in sorted(ranked, key=lambda x: (x[0], x[1]))[:limit]]


@router.get("/materials/options")
def material_options(request: Request, viewer: CurrentViewer,
                     q: Annotated[str, Query(max_length=50)] = "",
                     target: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,60}$")] = "material") -> Response:
    return render(request, "partials/material_options.html",
                  {"options": search_materials(q), "q": q, "target": target})
