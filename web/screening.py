"""Screening of a park from industry profiles: a thin adapter the web UI needs and the backend does not offer.

It builds the scenario through the backend's own run services (``runs.load_scope`` / ``runs.build_scenario``
with the knowledge base and the admins' overrides, exactly as a match run does), adds every site of the park's
firms with its firm's industry code, and hands it to ``matching.screening.screen``, which estimates the
by-products and needs of each site from its industry profile and matches them. Nothing is stored; no
proposal is written (a screening is a first look, not an offer to the firms).

Two modes: ``profiles`` (every site estimated from its profile, stated listings ignored: a park without data)
and ``combined`` (stated listings kept; sites without any listing estimated).
"""

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from backend.models import Firm, MatchRun, Park
from backend.policy import Actor
from backend.services import ledger as ledger_svc
from backend.services import runs as runs_svc
from backend.services import sites as sites_svc
from backend.services.query import MAX_LIMIT
from matching.scenario import parse_scenario
from matching.screening import screen

MODES = ("profiles", "combined")


@dataclass
class Screening:
    mode: str
    sites: int
    links: list[dict[str, Any]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    estimated: int = 0
    objective: dict[str, Any] = field(default_factory=dict)


def screen_park(session: Session, actor: Actor, park: Park, mode: str = "profiles") -> Screening:
    probe = MatchRun(kind="what_if", created_by=actor.id, scope={"resolved_park_ids": [park.id]}, options={},
                     what_if={})
    pr = ledger_svc.pricing(session)
    data = runs_svc.load_scope(session, probe) if mode == "combined" else runs_svc.ScopeData()
    doc = runs_svc.build_scenario(data, probe, pr)
    names: dict[str, str] = {}
    for listing, firm, site, _park in data.rows:
        names[f"L{listing.id}"] = firm.name
        names[f"s{site.id}"] = firm.name
    firms = {f.id: f for f in session.scalars(select(Firm).where(Firm.park_id == park.id))}
    sites, _ = sites_svc.list_sites(session=session, actor=actor, limit=MAX_LIMIT)
    known = {s["id"] for s in doc["sites"]}
    for site in sites:
        firm = firms.get(site.firm_id)
        if firm is None:
            continue
        key = f"s{site.id}"
        names[key] = firm.name
        if key in known or f"{key}p" in known:
            continue
        doc["sites"].append({"id": key, "lat": site.lat, "lon": site.lon, "park": park.code,
                             "province": park.province, "industry": firm.industry_code, "permits": [],
                             "access": list(site.access or [])})
    result = screen(parse_scenario(doc, knowledge_base=pr.kb))

    def who(stream_id: str, site_key: str | None = None) -> str:
        if stream_id in names:
            return names[stream_id]
        return names.get(site_key or stream_id.split("~")[0], stream_id)

    out = Screening(mode=mode, sites=len(doc["sites"]),
                    estimated=len(result.estimated_supplies) + len(result.estimated_demands),
                    objective=result.match.objective.to_json())
    for link in result.match.links:
        row = link.to_json()
        out.links.append(row | {"from_firm": who(link.supply), "to_firm": who(link.demand),
                                "estimated": "~est" in link.supply or "~est" in link.demand})
    for cand in result.candidates[:50]:
        out.candidates.append(cand | {"from_firm": who(cand["supply"], cand["from_site"]),
                                      "to_firm": who(cand["demand"], cand["to_site"])})
    return out
