"""Typed errors of the matcher. Each carries what was wrong and where: a JSON path into the scenario.

Paths are written the way a planner reads them, ``$.supplies[3].quantity``; :func:`json_path` builds them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = [
    "InfeasibleScenario",
    "MatchingError",
    "ScenarioError",
    "SolverError",
    "SolverUnavailable",
    "UnknownMaterial",
    "UnknownSite",
    "json_path",
]


def json_path(*parts: str | int) -> str:
    """Join keys and indices into a JSON path: ``json_path("supplies", 3, "quantity") == "$.supplies[3].quantity"``."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


class MatchingError(Exception):
    """Base class of every error the matching library raises on purpose."""


class ScenarioError(MatchingError, ValueError):
    """A scenario that cannot be solved as written. ``errors`` lists every problem as (JSON path, message).

    Examples
    --------
    >>> err = ScenarioError([("$.sites[0].lat", "latitude 91 is out of range [-90, 90]")])
    >>> err.errors[0][0]
    '$.sites[0].lat'
    """

    def __init__(self, errors: Iterable[tuple[str, str]]):
        self.errors: list[tuple[str, str]] = list(errors)
        super().__init__(self._summary())

    def _summary(self) -> str:
        head = f"{len(self.errors)} problem(s) in the scenario"
        lines = [f"{path}: {message}" for path, message in self.errors[:20]]
        if len(self.errors) > 20:
            lines.append(f"... and {len(self.errors) - 20} more")
        return head + ("\n  " + "\n  ".join(lines) if lines else "")

    @property
    def paths(self) -> list[str]:
        """The JSON paths of every problem, in the order found."""
        return [path for path, _ in self.errors]

    def to_json(self) -> dict[str, object]:
        return {"errors": [{"path": p, "message": m} for p, m in self.errors]}


class UnknownMaterial(ScenarioError):
    """A material id that neither the knowledge base nor the scenario's parameters define."""

    def __init__(self, material: str, path: str):
        self.material = material
        self.path = path
        super().__init__([(path, f"unknown material id '{material}'")])


class UnknownSite(ScenarioError):
    """A stream or distance naming a site the scenario does not define."""

    def __init__(self, site: str, path: str):
        self.site = site
        self.path = path
        super().__init__([(path, f"unknown site id '{site}'")])


class InfeasibleScenario(MatchingError):
    """The model has no feasible solution (only the MILP side constraints, such as minimum lots, can cause it)."""

    def __init__(self, message: str, paths: Sequence[str] = ()):
        self.paths = list(paths)
        super().__init__(message)


class SolverError(MatchingError, RuntimeError):
    """A solver returned a status the matcher cannot read flows from (never read after such a status)."""


class SolverUnavailable(SolverError):
    """The requested solver is not part of this OR-Tools build."""
