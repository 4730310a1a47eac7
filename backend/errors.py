"""Domain exceptions raised by services; ``backend.api.handlers`` maps them to HTTP once."""

from collections.abc import Sequence
from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # a stable name of the reason, for interfaces that word it in their own language


class NotFound(DomainError):
    status_code = 404


class PermissionDenied(DomainError):
    status_code = 403


class NotAuthenticated(DomainError):
    status_code = 401


class Conflict(DomainError):
    status_code = 409


class TooManyRequests(DomainError):
    """Refused for now (login throttling): ``retry_after`` seconds until it may be tried again."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, retry_after)


class PayloadTooLarge(DomainError):
    """A request body or an uploaded file over the size limit (refused while streaming, before it is all read)."""

    status_code = 413


class InvalidInput(DomainError):
    """Bad input, with one entry per problem: ``{"loc": [...], "msg": str, "type": str}``."""

    status_code = 422

    def __init__(self, errors: Sequence[dict[str, Any]], message: str = "invalid input") -> None:
        super().__init__(message)
        self.errors = list(errors)

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str, kind: str = "value_error") -> "InvalidInput":
        return cls([{"loc": list(loc), "msg": msg, "type": kind}], msg)


class FieldConflict(Conflict):
    """A change refused by the state of other records (deals that commit a listing, a newer version of it),
    naming the field it concerns and the values its message is built from, for interfaces that word it in
    their own language (the web form, the import's row errors)."""

    def __init__(self, message: str, *, code: str, field: str, values: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field
        self.values = dict(values or {})
