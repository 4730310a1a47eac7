"""Reading HTML forms and turning every way they can be wrong into messages shown next to the field.

Page routes validate with the API's own schemas and services, so a page and the API accept exactly the
same input; only the wording differs (the message catalogue has a text for the common error types).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from sqlmodel import Session

from backend.errors import Conflict, FieldConflict, InvalidInput

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# pydantic / service error type -> catalogue key; the context values fill the key's placeholders
ERROR_KEYS = {
    "missing": "err.required", "string_too_short": "err.required", "greater_than": "err.greater_than",
    "greater_than_equal": "err.min", "less_than_equal": "err.max", "float_parsing": "err.number",
    "float_type": "err.number", "int_parsing": "err.integer", "int_type": "err.integer",
    "string_pattern_mismatch": "err.pattern", "string_too_long": "err.too_long", "literal_error": "err.choice",
    "date_parsing": "err.date", "date_from_datetime_parsing": "err.date", "finite_number": "err.number",
    "unknown_material": "err.unknown_material", "bad_unit": "err.bad_unit", "conflict": "err.conflict",
    "too_large": "err.too_large", "implausible_quantity": "err.implausible_quantity",
    "delivery_in_future": "err.delivery_in_future", "delivery_before_active": "err.delivery_before_active",
    "delivery_over_agreed": "err.delivery_over_agreed", "unreachable": "err.unreachable",
    "too_many_rows": "err.too_many_rows", "bad_xlsx": "err.bad_xlsx", "upload_expired": "err.upload_expired",
    "xlsx_unpacks_too_large": "err.xlsx_unpacks_too_large",
}


@dataclass
class FieldError:
    key: str | None
    msg: str
    values: dict[str, Any] = field(default_factory=dict)

    def text(self, t: Any) -> str:
        return t(self.key, **self.values) if self.key else self.msg


Errors = dict[str, FieldError]


async def read_form(request: Request) -> dict[str, str]:
    """The submitted form as plain strings, trimmed (file fields are left out)."""
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str)}


def _error(kind: str, msg: str, ctx: dict[str, Any] | None = None) -> FieldError:
    key = ERROR_KEYS.get(kind)
    values = {k: v for k, v in (ctx or {}).items() if isinstance(v, int | float | str)}
    return FieldError(key=key, msg=msg, values=values)


def validate(model: type[M], data: dict[str, Any]) -> tuple[M | None, Errors]:
    """``model`` built from ``data`` (blank strings count as not given), or the errors by field name."""
    values = {k: v for k, v in data.items() if v not in ("", None)}
    try:
        return model.model_validate(values), {}
    except ValidationError as exc:
        errors: Errors = {}
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "__all__"
            errors.setdefault(name, _error(err["type"], err["msg"], err.get("ctx")))
        return None, errors


def domain_errors(exc: InvalidInput) -> Errors:
    """A service's InvalidInput keyed by the last part of each location (``["body", "unit"]`` -> ``unit``)."""
    errors: Errors = {}
    for err in exc.errors:
        loc = [p for p in err.get("loc", []) if isinstance(p, str) and p not in ("body", "query")]
        errors.setdefault(loc[-1] if loc else "__all__",
                          _error(str(err.get("type", "")), str(err["msg"]), err.get("ctx")))
    return errors


def conflict_error(msg: str) -> FieldError:
    return FieldError(key="err.conflict", msg=msg, values={"detail": msg})


def submit(session: Session, call: Callable[[], T], *, conflict_field: str) -> tuple[T | None, Errors]:
    """Run a service write for a form: its result, or (after a rollback) its refusal as form errors — the
    service's field errors where they belong, a conflict (a duplicate name, ref or e-mail) at ``conflict_field``."""
    try:
        return call(), {}
    except InvalidInput as exc:
        session.rollback()
        return None, domain_errors(exc)
    except FieldConflict as exc:
        session.rollback()
        return None, {exc.field if exc.field != "version" else "__all__": FieldError(
            key=STATE_KEYS.get(exc.code or "", "err.conflict"), msg=exc.message,
            values={"detail": exc.message} | exc.values)}
    except Conflict as exc:
        session.rollback()
        return None, {conflict_field: conflict_error(exc.message)}


# a refusal's reason code (``Conflict.code``) -> catalogue key; refusals without one show the service's message
STATE_KEYS = {"permit_missing": "err.state.permit_missing", "approval_missing": "err.state.approval_missing",
              "deal_not_active": "err.state.deal_not_active", "terms_missing": "err.state.terms_missing",
              "delivery_voided": "err.state.delivery_voided", "ledger_state": "err.state.ledger_state",
              "evidence_changed": "err.state.evidence_changed", "no_evidence": "err.state.no_evidence",
              # a listing change refused (services.listings): a newer version, or deals that hold the listing
              # (the import's row problems carry the same codes: one text each, ``err.<code>``)
              "listing_version": "err.listing_version", "listing_committed": "err.listing_committed",
              "listing_has_deals": "err.listing_has_deals", "listing_in_deals": "err.listing_in_deals"}


def state_error(msg: str, code: str | None = None) -> FieldError:
    """A move the current state does not allow (a service's Conflict on a deal or run), with its reason: in
    the page's language where the service names it with a code, else the service's own message."""
    return FieldError(key=STATE_KEYS.get(code or "", "err.state"), msg=msg, values={"detail": msg})
