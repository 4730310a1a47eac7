"""Helpers every service uses: fetch-or-404 and applying a partial update."""

from typing import Any, TypeVar

from pydantic import BaseModel
from sqlmodel import Session, SQLModel

from backend.errors import NotFound

M = TypeVar("M", bound=SQLModel)


def get_or_404(session: Session, model: type[M], ident: int, what: str | None = None) -> M:
    obj = session.get(model, ident)
    if obj is None:
        raise NotFound(f"{what or model.__name__.lower()} {ident} not found")
    return obj


def changes_of(update: BaseModel) -> dict[str, Any]:
    return update.model_dump(exclude_unset=True)


def apply_changes(obj: M, changes: dict[str, Any]) -> M:
    obj.sqlmodel_update(changes)
    return obj
