"""Query parameters shared by list endpoints."""

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

from backend.services.query import MAX_LIMIT


class Paging(BaseModel):
    skip: int
    limit: int
    sort: str | None


def paging(skip: Annotated[int, Query(ge=0)] = 0,
           limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
           sort: Annotated[str | None, Query(max_length=200, description="fields, '-' for descending")] = None,
           ) -> Paging:
    return Paging(skip=skip, limit=limit, sort=sort)


PagingDep = Annotated[Paging, Depends(paging)]
