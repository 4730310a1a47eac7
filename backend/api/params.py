"""Parameters shared by the routes: paging of list endpoints and row ids."""

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

from backend.schemas import MAX_ID, Id
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


# Row ids in paths, queries and bodies: one type (``backend.schemas.Id``), so an id beyond the database's
# integer is a 422 everywhere, never a database error.
OptionalId = Id | None
__all__ = ["MAX_ID", "Id", "OptionalId", "Paging", "PagingDep", "paging"]
