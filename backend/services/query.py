"""Pagination and sorting shared by the list endpoints."""

from collections.abc import Mapping
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlmodel import Session

from backend.errors import InvalidInput

T = TypeVar("T", bound=tuple[Any, ...])
MAX_LIMIT = 500


def apply_sort(stmt: Select[T], sort: str | None, allowed: Mapping[str, ColumnElement[Any]],
               tiebreak: ColumnElement[Any]) -> Select[T]:
    """``sort`` is a comma-separated list of fields, each optionally prefixed by ``-`` for descending."""
    order: list[Any] = []
    for raw in (sort or "").split(","):
        key = raw.strip()
        if not key:
            continue
        name = key.lstrip("-+")
        column = allowed.get(name)
        if column is None:
            raise InvalidInput.at(("query", "sort"), f"cannot sort by '{name}'; choose from {', '.join(allowed)}")
        order.append(column.desc() if key.startswith("-") else column.asc())
    return stmt.order_by(*order, tiebreak)


LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own ``%``, ``_`` and escape characters taken literally
    (use with ``column.ilike(pattern, escape=LIKE_ESCAPE)``, or ``contains`` below)."""
    escaped = text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
    return f"%{escaped}%"


def contains(column: Any, text: str) -> ColumnElement[bool]:
    """Case-insensitive "column contains text", the text taken literally: the one text search of the list
    endpoints (``q=%`` matches a per cent sign, not everything)."""
    return column.ilike(contains_pattern(text), escape=LIKE_ESCAPE)


def count_of(session: Session, stmt: Select[Any]) -> int:
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def page(session: Session, stmt: Select[T], *, skip: int, limit: int) -> tuple[list[T], int]:
    total = count_of(session, stmt)
    rows = list(session.execute(stmt.offset(skip).limit(limit)).all())
    return rows, total
