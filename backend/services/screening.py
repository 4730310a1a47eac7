"""Screening of a park from industry profiles: the exchanges worth a closer look, ranked by confidence.

The scenario is built through the run services (``runs.load_scope`` / ``runs.build_scenario``, with the
knowledge base and the admins' overrides, exactly as a match run does); every site of the park's firms is
added with its industry codes (the site's own, else its firm's) and no stated permits, so that a hazardous
stream may go to a firm whose industry usually holds the permit ("permit to verify"). ``matching.screen``
estimates each site's by-products and needs from its industry profile, matches them and ranks the viable
pairs (each stream's best ``top``, or all). Nothing is stored; no proposal is written (a screening is a first
look, not an offer to the firms).

Two modes: ``profiles`` (every site estimated from its profile, stated listings ignored: a park without data)
and ``combined`` (the park's listings kept; sites without any listing estimated): only for those who see the
park's listings whole (its managers and admins), since the answer carries exact quantities and distances.
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend import policy
from backend.errors import InvalidInput, NotFound
from backend.models import Firm, MatchRun, Park, Site
from backend.policy import Actor
from backend.services import ledger as ledger_svc
from backend.services import runs as runs_svc
from matching.scenario import parse_scenario
from matching.screening import DEFAULT_MIN_ANNUAL_BENEFIT, DEFAULT_TOP, screen

MODES = ("profiles", "combined")


@dataclass
class Screening:
    mode: str
    sites: int
    top: int | None
    links: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    candidates_total: int = 0
    estimated: int = 0
    streams: list[dict[str, Any]] = field(default_factory=list)  # the estimated supplies and demands
    objective: dict[str, Any] = field(default_factory=dict)


def screen_park(*, session: Session, actor: Actor, park_id: int, mode: str = "profiles",
                top: int | None = DEFAULT_TOP, min_annual_benefit: float = DEFAULT_MIN_ANNUAL_BENEFIT,
                ) -> Screening:
    """Screen a park (see the module docstring). Park managers of the park, planners and admins may."""
    park = session.get(Park, park_id)
    if park is None:
        raise NotFound(f"park {park_id} not found")
    if mode not in MODES:
        raise InvalidInput.at(("query", "mode"), f"mode must be one of: {', '.join(MODES)}")
    policy.require(policy.can_screen_park(actor, park), "only the park's managers, planners and admins screen it")
    policy.require(policy.can_screen_park(actor, park, with_listings=mode == "combined"),
                   "screening with the park's listings is for its managers and admins")
    if top is not None and top < 1:
        raise InvalidInput.at(("query", "top"), "top must be at least 1 (or leave it out with all=true)")
    probe = MatchRun(kind="what_if", created_by=actor.id, scope={"resolved_park_ids": [park.id]}, options={},
                     what_if={})
    pr = ledger_svc.pricing(session)
    data = runs_svc.load_scope(session, probe) if mode == "combined" else runs_svc.ScopeData()
    doc = runs_svc.build_scenario(data, probe, pr)
    names: dict[str, str] = {}
    for listing, firm, site, _park in data.rows:
        names[f"L{listing.id}"] = firm.name
        names.setdefault(f"s{site.id}", firm.name)
    known = {s["id"] for s in doc["sites"]}
    rows = session.execute(select(Site, Firm).join(Firm, Firm.id == Site.firm_id)
                           .where(Firm.park_id == park.id).order_by(Site.id)).all()
    for site, firm in rows:
        key = f"s{site.id}"
        if key in known or f"{key}p" in known:
            continue
        names[key] = firm.name
        doc["sites"].append({"id": key, "lat": site.lat, "lon": site.lon, "park": park.code,
                             "province": park.province, "industry": runs_svc.site_industries(site, firm),
                             "access": list(site.access or [])})
    result = screen(parse_scenario(doc, knowledge_base=pr.kb), top=top, min_annual_benefit=min_annual_benefit)

    def who(stream_id: str, site_key: str) -> str:
        return names.get(stream_id) or names.get(site_key.removesuffix("p"), site_key)

    out = Screening(mode=mode, sites=len(doc["sites"]), top=top, candidates_total=result.total_candidates,
                    estimated=len(result.estimated_supplies) + len(result.estimated_demands),
                    objective=result.match.objective.to_json())
    for stream in result.to_json()["estimated_streams"]:
        out.streams.append(stream | {"firm": who(stream["id"], stream["site"])})
    for link in result.match.links:
        out.links.append(link.to_json() | {"from_firm": who(link.supply, link.from_site),
                                           "to_firm": who(link.demand, link.to_site),
                                           "estimated": "~est" in link.supply or "~est" in link.demand})
    for cand in result.candidates:
        out.candidates.append(cand | {"from_firm": who(cand["supply"], cand["from_site"]),
                                      "to_firm": who(cand["demand"], cand["to_site"])})
    return out
