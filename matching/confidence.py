"""How far a proposal can be trusted, and why: a score in (0, 1] per candidate pair and its reasons.

The score multiplies what must all hold for the exchange to work::

    confidence = c(supply) · c(demand) · c(rule) · (½ + ½·margin) · 0.8 if quality unverified
                 · 0.7 if the receiver's permit is to verify

- ``c(stream)``: a stated stream's data-quality grade (A 1.0, B 0.85, C 0.7, D 0.55), or for a stream
  estimated from an industry profile the profile entry's confidence × the share of plants that have the
  stream × a penalty when the profile is a group's or division's fallback (see :mod:`matching.screening`);
- ``c(rule)``: the substitution rule's confidence (sourced 1.0, unverified 0.85, estimate 0.7);
- ``margin``: the share of the link's gross benefit left after its distance costs (transport per km and
  pipeline), 1 on the same site: a link near its break-even distance is fragile.

Reasons are codes with parameters (not sentences), so that the web pages tell them in any language.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from matching.candidates import CandidateSet
from matching.economics import Economics
from matching.scenario import Scenario

__all__ = ["CONFIDENCE_OF", "PERMIT_TO_VERIFY", "QUALITY_UNVERIFIED", "pair_confidence", "pair_reasons"]

#: a knowledge-base confidence as a probability-like weight (rules stated by a scenario count as sourced)
CONFIDENCE_OF = {"sourced": 1.0, "unverified": 0.85, "estimate": 0.7, None: 1.0}
QUALITY_UNVERIFIED = 0.8
PERMIT_TO_VERIFY = 0.7
THIN_MARGIN = 0.25  # below this share of the gross benefit left after distance costs, a reason is given


def pair_confidence(cands: CandidateSet, scenario: Scenario) -> npt.NDArray[np.float64]:
    """The confidence of every candidate pair (see the module docstring)."""
    if not len(cands):
        return np.zeros(0)
    s_conf = np.array([s.confidence for s in scenario.supplies], dtype=np.float64)
    d_conf = np.array([d.confidence for d in scenario.demands], dtype=np.float64)
    r_conf = np.array([CONFIDENCE_OF.get(r.confidence, 1.0) for r in cands.rules], dtype=np.float64)
    out = s_conf[cands.supply] * d_conf[cands.demand] * r_conf[cands.rule] * (0.5 + 0.5 * cands.margin)
    out = np.where(cands.quality_unknown, out * QUALITY_UNVERIFIED, out)
    return np.where(cands.permit_to_verify, out * PERMIT_TO_VERIFY, out)


def pair_reasons(cands: CandidateSet, a: int, scenario: Scenario, econ: Economics) -> list[dict[str, Any]]:
    """Why candidate ``a`` has the confidence it has: codes with their parameters, most important first."""
    s = scenario.supplies[int(cands.supply[a])]
    d = scenario.demands[int(cands.demand[a])]
    rule = cands.rules[int(cands.rule[a])]
    out: list[dict[str, Any]] = []
    for side, stream in (("supply", s), ("demand", d)):
        if stream.estimated:
            out.append({"code": f"estimated_{side}", **(stream.estimate.to_json() if stream.estimate else {})})
        elif stream.confidence < 1.0:
            out.append({"code": f"data_quality_{side}", "confidence": round(stream.confidence, 2)})
    if cands.permit_to_verify[a]:
        out.append({"code": "permit_to_verify", "hw_code": econ.material(s.material).hw_code})
    if cands.quality_unknown[a]:
        out.append({"code": "quality_unverified", "rule": rule.id})
    if rule.confidence in ("estimate", "unverified"):
        out.append({"code": f"rule_{rule.confidence}", "rule": rule.id})
    if cands.margin[a] < THIN_MARGIN:
        out.append({"code": "thin_margin", "margin": round(float(cands.margin[a]), 2)})
    return out

