"""The matcher's answer as frozen dataclasses, and its JSON form (see docs/matcher.md).

JSON text is written by ``orjson`` (a compiled encoder: the standard library's pure-Python indenting encoder
took 7 s for the 100k-stream benchmark's result, orjson well under a second).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["BINDING_CODES", "Breakdown", "Link", "MatchResult", "Objective", "Remaining", "Stats", "json_bytes"]


def json_bytes(data: Mapping[str, Any] | list[Any], *, indent: bool = True) -> bytes:
    """UTF-8 JSON of a result (or any plain data), indented by two spaces like ``json.dumps(indent=2)``.

    NumPy scalars and arrays are written as numbers and arrays; NaN and infinities as ``null``.
    """
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    return orjson.dumps(data, option=option)

BINDING_CODES = ("supply", "demand", "share")


@dataclass(frozen=True)
class Breakdown:
    """The parts of a link's explanation as data, so that it can be told in any language.

    Per unit of the supply moved (yuan): ``value + disposal_avoided − pretreatment − transport − pipeline``
    is the link's ``unit_benefit``. ``value`` is what the delivered material is worth (delivered ratio × price
    of the material it replaces); ``transport`` is handling plus the cost per km × distance (0 on the same
    site); ``pipeline`` is a pipeline's annualised capex spread over the most the link could carry (linear
    mode; the MILP charges the pipe as the link's ``fixed_cost`` instead, and ``pipeline`` is 0).
    ``ratio`` is the substitution rule's ratio (the link's own ``ratio`` is what arrives: after pipeline
    losses). ``binding`` lists the limits that stop the link from growing: ``"supply"`` (the supply is fully
    used), ``"demand"`` (the demand is filled), ``"share"`` (the rule's ``max_share`` of the demand is reached,
    given in ``max_share``); empty means a better use of the rest exists. ``rule`` and ``use`` name the
    substitution rule and what the receiver uses the material for (its need); ``pretreatment_name`` what the
    pretreatment is; ``gate_fee`` what a treatment receiver usually charges.
    """

    value: float
    disposal_avoided: float
    pretreatment: float
    transport: float
    ratio: float = 1.0
    binding: tuple[str, ...] = ()
    max_share: float | None = None
    pipeline: float = 0.0
    rule: str | None = None
    use: str | None = None
    pretreatment_name: str | None = None
    gate_fee: float | None = None
    capacity: float | None = None  # pipeline links: the yearly flow the pipe is sized for (its charge is over it)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "disposal_avoided": self.disposal_avoided,
                               "pretreatment": self.pretreatment, "transport": self.transport,
                               "pipeline": self.pipeline, "ratio": self.ratio, "binding": list(self.binding),
                               "rule": self.rule, "use": self.use}
        if self.max_share is not None:
            out["max_share"] = self.max_share
        if self.pretreatment_name:
            out["pretreatment_name"] = self.pretreatment_name
        if self.gate_fee is not None:
            out["gate_fee"] = self.gate_fee
        if self.capacity is not None:
            out["capacity"] = self.capacity
        return out


@dataclass(frozen=True)
class Link:
    """One proposed exchange: ``quantity`` units of the supply per year moved to the demand."""

    supply: str
    demand: str
    from_site: str
    to_site: str
    material: str
    replaces: str
    quantity: float
    unit: str
    distance_km: float
    mode: str
    unit_benefit: float
    net_benefit: float
    co2_avoided_t: float
    explanation: str
    ratio: float = 1.0
    binding: str = ""
    quality_unverified: bool = False
    via_hub: str | None = None
    fixed_cost: float = 0.0
    breakdown: Breakdown | None = None  # None for the legs through a hub (their explanation says it all)
    confidence: float | None = None  # see matching.confidence
    reasons: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "supply": self.supply, "demand": self.demand, "from_site": self.from_site,
            "to_site": self.to_site, "material": self.material, "replaces": self.replaces,
            "quantity": self.quantity, "unit": self.unit, "distance_km": self.distance_km, "mode": self.mode,
            "unit_benefit": self.unit_benefit, "net_benefit": self.net_benefit,
            "co2_avoided_t": self.co2_avoided_t, "explanation": self.explanation,
            "ratio": self.ratio, "binding": self.binding,
        }
        if self.quality_unverified:
            out["quality_unverified"] = True
        if self.via_hub is not None:
            out["via_hub"] = self.via_hub
        if self.fixed_cost:
            out["fixed_cost"] = self.fixed_cost
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown.to_json()
        if self.confidence is not None:
            out["confidence"] = self.confidence
            out["reasons"] = [dict(r) for r in self.reasons]
        return out


@dataclass(frozen=True)
class Remaining:
    id: str
    remaining: float

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "remaining": self.remaining}


@dataclass(frozen=True)
class Objective:
    net_benefit: float
    quantity: float
    co2_avoided_t: float
    landfill_diverted_t: float
    gap: float | None = None
    fixed_costs: float = 0.0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"net_benefit": self.net_benefit, "quantity": self.quantity,
                               "co2_avoided_t": self.co2_avoided_t,
                               "landfill_diverted_t": self.landfill_diverted_t}
        if self.gap is not None:
            out["gap"] = self.gap
        if self.fixed_costs:
            out["fixed_costs"] = self.fixed_costs
        return out


@dataclass(frozen=True)
class Stats:
    candidates: int
    components: int
    solver: str
    seconds: dict[str, float] = field(default_factory=dict, hash=False)
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"candidates": self.candidates, "components": self.components, "solver": self.solver,
                "seconds": dict(self.seconds), **self.extra}


@dataclass(frozen=True)
class MatchResult:
    """What :func:`matching.match` returns. ``objective.net_benefit`` is the sum of the links' net benefit
    (in MILP mode each link's net benefit already has its fixed cost taken off; ``objective.fixed_costs``
    reports their total)."""

    status: str
    objective: Objective
    links: tuple[Link, ...]
    unmatched_supplies: tuple[Remaining, ...]
    unmatched_demands: tuple[Remaining, ...]
    stats: Stats
    objective_kind: str = "benefit"
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    model: str = "linear"  # "milp": pipelines are charged as fixed costs, not spread per unit

    def to_json(self, *, links: bool = True) -> dict[str, Any]:
        """The result as plain data (``links=False``: with an empty ``links`` array)."""
        out: dict[str, Any] = {
            "status": self.status,
            "model": self.model,
            "objective": self.objective.to_json(),
            "links": [link.to_json() for link in self.links] if links else [],
            "unmatched": {"supplies": [r.to_json() for r in self.unmatched_supplies],
                          "demands": [r.to_json() for r in self.unmatched_demands]},
            "stats": self.stats.to_json(),
        }
        if self.objective_kind != "benefit":
            out["objective"]["kind"] = self.objective_kind
        out.update(self.extra)
        return out

    def json_chunks(self, *, links_per_chunk: int = 5_000) -> Iterator[bytes]:
        """The bytes of ``json_bytes(self.to_json())``, in pieces: the links are turned into plain data and
        encoded a few thousand at a time, so that a large result (100 MB of JSON at 100k streams) is never
        held whole as Python objects."""
        text = json_bytes(self.to_json(links=False))
        if not self.links:
            yield text
            return
        head, tail = text.split(b'"links": []', 1)  # status and objective come first: the first match
        yield head + b'"links": [\n'
        for start in range(0, len(self.links), links_per_chunk):
            part = json_bytes([link.to_json() for link in self.links[start:start + links_per_chunk]])
            # the array's items sit two spaces in; inside "links" they sit four: indent every line by two
            yield (b",\n" if start else b"") + b"  " + part[2:-2].replace(b"\n", b"\n  ")
        yield b"\n  ]" + tail

    def dumps(self, indent: int | None = 2) -> str:
        return json_bytes(self.to_json(), indent=bool(indent)).decode("utf-8")
