"""What the OpenAPI contract declares beyond each route's own answer: the refusals every API route can give,
declared once (``ERROR_RESPONSES``, the ``responses=`` of the ``/api/v1`` router), and the file answers of
the exports with their real content types (``file_response``)."""

from typing import Any

from pydantic import BaseModel, ConfigDict


class Problem(BaseModel):
    """One problem with the input: where (``loc``, e.g. ``["body", "lat"]``), what, and its kind."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int]
    msg: str
    type: str


class ErrorAnswer(BaseModel):
    """Every refusal: ``detail`` is a sentence, or for bad input (422) the list of problems."""

    detail: str | list[Problem]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorAnswer, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("Not logged in: no session cookie or API token, or an expired one"),
    403: _error("Logged in, but this role or account may not do this (or the CSRF token is missing)"),
    404: _error("No such row, or none this account may know of"),
    409: _error("Conflicts with the current state (a duplicate, a row still in use, a changed version)"),
    413: _error("The request body or the uploaded file is over the size limit"),
    422: _error("Bad input: every problem with its location"),
    429: _error("Too many attempts: wait and try again (see Retry-After)"),
    503: _error("The server is busy (no database connection free in time): retry after Retry-After seconds"),
}


def file_response(media_type: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The 200 answer of a route that returns a file of ``media_type`` (instead of JSON)."""
    return {200: {"description": description,
                  "content": {media_type: {"schema": schema or {"type": "string", "format": "binary"}}}}}
