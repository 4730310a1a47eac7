"""Match runs: the scenario built from the database, the matcher run off the request path, proposals stored.

A run is created ``queued`` by :func:`start_run` (in the request's transaction) and executed by
:func:`execute_run` in a worker thread (:data:`EXECUTOR`, one run at a time, its own session), which commits
its progress (``stage``, ``percent``) at each stage and looks at ``cancel_requested`` between stages:

    loading (listings in scope) → scenario → solving (``matching.match``) → storing → done

Everything a ``match`` run produces (its proposals, the replacement of earlier untouched proposals, the
run's KPIs) is written in ONE transaction at the end, under a lock of the run row that also re-reads the
cancel flag: a cancelled or failed run stores nothing. ``what_if`` runs (planners' scenarios: remove a firm,
add a hub or a pipeline, change a price) keep their links in ``result`` and never create proposals.
At start-up :func:`recover_interrupted_runs` marks runs left ``queued``/``running`` as failed.

The scenario: active, non-private listings of the scope's parks (haves → supplies, wants → demands) in their
material's canonical unit per year (a one-off listing counts its quantity as one year's), less what agreed
and active deals already commit; a site per listing site, with the firm's valid hazardous-waste permits;
the knowledge base with the admins' regional overrides (prices, disposal costs, circuity). A ``park``
listing may only be linked inside its park: it gets its own scenario site, stated to be unreachably far
(``UNREACHABLE_KM``) from every site of another park, so the optimiser never pays to link it outside.
"""

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from backend import disclosure, policy
from backend.audit import set_actor
from backend.db import new_session
from backend.errors import Conflict, InvalidInput, NotFound
from backend.kb import get_kb
from backend.models import Deal, Firm, Listing, MatchRun, Park, Permit, Proposal, Site, User, utcnow
from backend.policy import Actor
from backend.schemas_deals import RunCreate, RunPublic
from backend.services import deals as deals_svc
from backend.services import ledger as ledger_svc
from backend.services.users import actor_for
from matching.api import match
from matching.errors import MatchingError, ScenarioError
from matching.scenario import parse_scenario

log = logging.getLogger(__name__)

EXECUTOR = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isx-run")
_futures: set[Future[None]] = set()
_futures_lock = threading.Lock()
UNREACHABLE_KM = 1.0e6
TERMINAL = ("succeeded", "failed", "cancelled")
INTERRUPTED = "interrupted by restart"


class RunCancelled(Exception):
    """Raised between stages when the run's cancel flag is set."""


# --- starting, reading, cancelling ---------------------------------------------------------------------
def _scope_parks(session: Session, run_in: RunCreate) -> tuple[list[int], frozenset[int] | None]:
    """(park ids the scope covers, the park ids for the permission check or None for province/region)."""
    scope = run_in.scope
    if scope.park_ids is not None:
        ids = sorted(set(scope.park_ids))
        known = set(session.scalars(select(Park.id).where(Park.id.in_(ids))))
        for i, pid in enumerate(scope.park_ids):
            if pid not in known:
                raise InvalidInput.at(("body", "scope", "park_ids", i), f"park {pid} does not exist")
        return ids, frozenset(ids)
    if scope.province is not None:
        ids = sorted(session.scalars(select(Park.id).where(Park.province == scope.province)))
        if not ids:
            raise InvalidInput.at(("body", "scope", "province"), f"no park in province '{scope.province}'")
        return ids, None
    return sorted(session.scalars(select(Park.id))), None


def _check_what_if(session: Session, run_in: RunCreate) -> None:
    kb = get_kb()
    options = run_in.options
    for i, family in enumerate(options.families or []):
        if family not in kb.families():
            raise InvalidInput.at(("body", "options", "families", i),
                                  f"unknown material family '{family}' (known: {', '.join(kb.families())})")
    w = run_in.what_if
    if w is None:
        return
    for i, firm_id in enumerate(w.remove_firm_ids):
        if session.get(Firm, firm_id) is None:
            raise InvalidInput.at(("body", "what_if", "remove_firm_ids", i), f"firm {firm_id} does not exist")
    for table in ("prices", "disposal_costs"):
        for material in getattr(w, table):
            if material not in kb.materials:
                raise InvalidInput.at(("body", "what_if", table, material), f"unknown material id '{material}'")
    for i, hub in enumerate(w.hubs):
        for material in hub.materials:
            if material not in kb.materials:
                raise InvalidInput.at(("body", "what_if", "hubs", i, "materials"), f"unknown material '{material}'")
    if w.hubs and options.mode != "milp":
        raise InvalidInput.at(("body", "options", "mode"), "hubs are placed by the MILP mode: set mode 'milp'")
    for mode_id, spec in w.transport.items():
        if mode_id not in kb.transport_modes and spec.cost_per_tkm is None:
            raise InvalidInput.at(("body", "what_if", "transport", mode_id, "cost_per_tkm"),
                                  f"a new transport mode '{mode_id}' needs cost_per_tkm")
    for i, d in enumerate(w.distances):
        for key in ("from_site_id", "to_site_id"):
            if session.get(Site, getattr(d, key)) is None:
                raise InvalidInput.at(("body", "what_if", "distances", i, key),
                                      f"site {getattr(d, key)} does not exist")


def start_run(*, session: Session, actor: Actor, run_in: RunCreate) -> MatchRun:
    """Create a queued run; the caller submits it (:func:`submit`) once the transaction has committed."""
    park_ids, checked = _scope_parks(session, run_in)
    policy.require(policy.can_start_run(actor, run_in.kind, checked),
                   "you may not run the matcher over this scope" if run_in.kind == "match"
                   else "you may not run what-if scenarios over this scope")
    _check_what_if(session, run_in)
    scope = run_in.scope.model_dump(exclude_none=True, exclude_defaults=True) | {"resolved_park_ids": park_ids}
    run = MatchRun(kind=run_in.kind, created_by=actor.id, scope=scope, options=run_in.options.model_dump(),
                   what_if=run_in.what_if.model_dump() if run_in.what_if else {})
    session.add(run)
    session.flush()
    return run


def _run_parks(run: MatchRun) -> frozenset[int]:
    return frozenset(run.scope.get("resolved_park_ids", []))


def _readable(session: Session, actor: Actor, run_id: int) -> MatchRun:
    run = session.get(MatchRun, run_id)
    if run is None or not policy.can_read_run(actor, run.kind, run.created_by, _run_parks(run)):
        raise NotFound(f"run {run_id} not found")
    return run


def list_runs(*, session: Session, actor: Actor, kind: str | None = None, status: str | None = None,
              skip: int = 0, limit: int = 100) -> tuple[list[RunPublic], int]:
    stmt = select(MatchRun).order_by(MatchRun.id.desc())
    if kind:
        stmt = stmt.where(MatchRun.kind == kind)
    if status:
        stmt = stmt.where(MatchRun.status == status)
    if not (actor.is_admin or actor.role in ("planner", "park_manager")):
        stmt = stmt.where(MatchRun.created_by == actor.id)
    runs = [r for r in session.scalars(stmt)
            if policy.can_read_run(actor, r.kind, r.created_by, _run_parks(r))]
    return [run_public(session, actor, r) for r in runs[skip: skip + limit]], len(runs)


def get_run(*, session: Session, actor: Actor, run_id: int) -> RunPublic:
    return run_public(session, actor, _readable(session, actor, run_id))


def cancel_run(*, session: Session, actor: Actor, run_id: int) -> MatchRun:
    _readable(session, actor, run_id)
    run = session.scalar(select(MatchRun).where(MatchRun.id == run_id).with_for_update()
                         .execution_options(populate_existing=True))
    assert run is not None
    policy.require(policy.can_cancel_run(actor, run.created_by), "only who started a run (or an admin) cancels it")
    if run.status in TERMINAL:
        raise Conflict(f"run {run_id} has already {run.status}")
    run.cancel_requested = True
    if run.status == "queued":
        run.status, run.stage, run.finished_at = "cancelled", "cancelled", utcnow()
    session.add(run)
    session.flush()
    return run


def run_public(session: Session, actor: Actor, run: MatchRun) -> RunPublic:
    """A run as one viewer sees it (``backend.disclosure``): what-if links touching a listing the viewer may
    not see whole are shaped like anonymised proposals (quantity band, rounded distance, no explanation), the
    unmatched remainder of such a listing is a band, and the run's totals (a match run's too, whose links are
    its proposals) add those links at the lower edge of their band (``kpis.approximate``)."""
    result = dict(run.result or {})
    kpis = dict(run.kpis or {})
    if run.kind == "what_if" and result:
        links = result.get("links") or []
        unmatched = result.get("unmatched") or {}
        ids = {i for link in links for i in (link.get("supply_listing_id"), link.get("demand_listing_id")) if i}
        ids |= {r.get("listing_id") for rows in unmatched.values() for r in rows if r.get("listing_id")}
        hidden = disclosure.anonymised_ids(session, actor, ids)
        if hidden:
            result["links"] = [_shaped_link(link, hidden) for link in links]
            result["unmatched"] = {side: [_shaped_unmatched(r, hidden) for r in rows]
                                   for side, rows in unmatched.items()}
            kpis = _shaped_totals(kpis, links, hidden)
    if run.kind == "match" and run.status == "succeeded":  # its links are its proposals
        links = [{"supply_listing_id": p.supply_listing_id, "demand_listing_id": p.demand_listing_id,
                  "quantity": p.quantity, "net_benefit": p.net_benefit, "co2_avoided_t": p.co2_avoided_t}
                 for p in session.scalars(select(Proposal).where(Proposal.run_id == run.id))]
        hidden = disclosure.anonymised_ids(session, actor, {i for x in links for i in (x["supply_listing_id"],
                                                                                      x["demand_listing_id"])})
        if hidden:
            kpis = _shaped_totals(kpis, links, hidden)
    data = run.model_dump() | {"result": result, "kpis": kpis}
    return RunPublic.model_validate(data)


def _touches(link: dict[str, Any], hidden: set[int]) -> bool:
    return bool({link.get("supply_listing_id"), link.get("demand_listing_id")} & hidden)


def _shaped_link(link: dict[str, Any], hidden: set[int]) -> dict[str, Any]:
    if not _touches(link, hidden):
        return link
    band = disclosure.quantity_band(float(link["quantity"]))
    return {"supply_listing_id": link.get("supply_listing_id"), "demand_listing_id": link.get("demand_listing_id"),
            "material": link["material"], "replaces": link["replaces"], "unit": link["unit"],
            "quantity": None, "quantity_band": band.model_dump(), "mode": link["mode"],
            "distance_km": disclosure.rounded_km(float(link["distance_km"])), "anonymised": True,
            "via_hub": link.get("via_hub")}


def _shaped_unmatched(row: dict[str, Any], hidden: set[int]) -> dict[str, Any]:
    if row.get("listing_id") not in hidden:
        return row
    band = disclosure.quantity_band(float(row["remaining"]))
    return {"listing_id": row["listing_id"], "remaining": None, "remaining_band": band.model_dump(),
            "anonymised": True}


TOTALS = ("net_benefit", "quantity", "co2_avoided_t")


def _shaped_totals(kpis: dict[str, Any], links: list[dict[str, Any]], hidden: set[int]) -> dict[str, Any]:
    """The run's totals as the viewer may see them: a link touching a hidden listing counts at its band's
    lower edge (its figures scaled to that quantity, two significant figures), never at its exact size; the
    landfill figure, which the links do not break down, is withheld."""
    out = dict(kpis)
    for key in TOTALS:
        if not isinstance(out.get(key), int | float):
            continue
        for link in links:
            if not _touches(link, hidden):
                continue
            q = float(link["quantity"])
            exact = q if key == "quantity" else float(link.get(key) or 0.0)
            scale = disclosure.quantity_band(q).min / q if q else 0.0
            out[key] += float(f"{exact * scale:.2g}") - exact
    if "landfill_diverted_t" in out:
        out["landfill_diverted_t"] = None
    out["approximate"] = True
    return out


# --- the worker ----------------------------------------------------------------------------------------
def submit(run_id: int) -> Future[None]:
    future = EXECUTOR.submit(execute_run, run_id)
    with _futures_lock:
        _futures.add(future)
    future.add_done_callback(lambda f: _futures.discard(f))
    return future


def wait_for_runs(timeout: float = 120.0) -> None:
    """Block until every submitted run has finished (tests; graceful shutdown)."""
    deadline = time.monotonic() + timeout
    while True:
        with _futures_lock:
            pending = [f for f in _futures if not f.done()]
        if not pending:
            return
        pending[0].result(timeout=max(0.0, deadline - time.monotonic()))


def recover_interrupted_runs() -> int:
    """Mark runs left queued or running by a previous process as failed. Returns how many."""
    session = new_session()
    try:
        runs = list(session.scalars(select(MatchRun).where(MatchRun.status.in_(("queued", "running")))))
        for run in runs:  # through the ORM, so that the audit log records it
            run.status, run.stage, run.error, run.finished_at = "failed", "failed", INTERRUPTED, utcnow()
            session.add(run)
        session.commit()
        return len(runs)
    finally:
        session.close()


def _progress(session: Session, run: MatchRun, stage: str, percent: int) -> None:
    """Commit the stage, then re-read the cancel flag (set by another request) and end that read: the stage
    that follows (the solver) keeps no transaction open while it works."""
    run.stage, run.percent = stage, percent
    session.add(run)
    session.commit()
    session.refresh(run)
    session.commit()
    if run.cancel_requested:
        raise RunCancelled


def execute_run(run_id: int, *, on_progress: Callable[[str, int], None] | None = None) -> None:
    """Run one queued run to its end in its own session. Never raises: failures are stored on the run."""
    session = new_session()
    try:
        run = session.get(MatchRun, run_id)
        if run is None or run.status != "queued":
            return
        set_actor(session, run.created_by)
        if run.cancel_requested:
            raise RunCancelled
        run.status, run.started_at = "running", utcnow()
        timings: dict[str, float] = {}

        def stage(name: str, percent: int) -> None:
            _progress(session, run, name, percent)
            if on_progress is not None:
                on_progress(name, percent)

        t0 = time.perf_counter()
        stage("loading", 5)
        data = load_scope(session, run)
        timings["load_db"] = time.perf_counter() - t0
        stage("scenario", 20)
        t1 = time.perf_counter()
        pr = ledger_svc.pricing(session)
        doc = build_scenario(data, run, pr)
        scenario = parse_scenario(doc, knowledge_base=pr.kb)
        timings["scenario"] = time.perf_counter() - t1
        stage("solving", 35)
        options = run.options
        result = match(scenario, mode=options.get("mode", "linear"), objective=options.get("objective", "benefit"),
                       time_limit=options.get("time_limit"))
        stage("storing", 85)
        store_result(session, run, result, data, timings)
        session.commit()
        if on_progress is not None:
            on_progress("done", 100)
    except RunCancelled:
        session.rollback()
        _finish(session, run_id, "cancelled", None)
    except Exception as exc:  # the run must end in a state, whatever went wrong
        session.rollback()
        if isinstance(exc, ScenarioError):
            message = "; ".join(f"{where}: {msg}" for where, msg in exc.errors[:20])
        elif isinstance(exc, MatchingError):
            message = str(exc)
        else:
            log.exception("match run %s failed", run_id)
            message = f"{type(exc).__name__}: {exc}"
        _finish(session, run_id, "failed", message[:2000])
    finally:
        session.close()


def _finish(session: Session, run_id: int, status: str, error: str | None) -> None:
    run = session.get(MatchRun, run_id)
    if run is None:
        return
    session.refresh(run)
    run.status, run.stage, run.error, run.finished_at = status, status, error, utcnow()
    session.add(run)
    session.commit()


# --- the scenario --------------------------------------------------------------------------------------
class ScopeData:
    """What a run reads from the database: listings with their firm, site and park, commitments, permits."""

    def __init__(self) -> None:
        self.rows: list[tuple[Listing, Firm, Site, Park]] = []
        self.remaining: dict[int, float] = {}
        self.permits: dict[int, list[str]] = {}
        self.supply_materials: set[str] = set()


def _creator(session: Session, run: MatchRun) -> Actor | None:
    user = session.get(User, run.created_by) if run.created_by else None
    return actor_for(session, user) if user is not None else None


def _removed(creator: Actor | None, listing: Listing, firm: Firm, removed: set[int]) -> bool:
    """A what-if's ``remove_firm_ids`` removes the listings its creator can attribute to those firms: an
    anonymous listing the creator may not see whole stays, so that differencing two what-ifs cannot tell
    which firm owns it (``backend.disclosure``)."""
    if firm.id not in removed:
        return False
    return creator is None or not disclosure.anonymised(creator, listing, firm)


def load_scope(session: Session, run: MatchRun) -> ScopeData:
    kb = get_kb()
    data = ScopeData()
    park_ids = sorted(_run_parks(run))
    stmt = (select(Listing, Firm, Site, Park).join(Firm, Firm.id == Listing.firm_id)
            .join(Site, Site.id == Listing.site_id).join(Park, Park.id == Firm.park_id)
            .where(Listing.status == "active", Listing.visibility != "private", Firm.park_id.in_(park_ids))
            .order_by(Listing.id))
    creator = _creator(session, run)
    if creator is not None:
        stmt = stmt.where(disclosure.visible_clause(creator))
    removed = set((run.what_if or {}).get("remove_firm_ids", []))
    families = set(run.options.get("families") or [])
    rows = [(r[0], r[1], r[2], r[3]) for r in session.execute(stmt).all()
            if not _removed(creator, r[0], r[1], removed)]
    if families:
        rows = [r for r in rows if r[0].kind == "want" or kb.materials[r[0].material].family in families]
    haves = [r[0].id or 0 for r in rows if r[0].kind == "have"]
    wants = [r[0].id or 0 for r in rows if r[0].kind == "want"]
    used_s = deals_svc.committed_supply(session, haves)
    used_d = deals_svc.committed_demand(session, wants)
    for listing, firm, site, park in rows:
        lid = listing.id or 0
        left = deals_svc.listing_capacity(listing) - (used_s if listing.kind == "have" else used_d).get(lid, 0.0)
        if left > 1e-9 * max(1.0, abs(left)):
            data.rows.append((listing, firm, site, park))
            data.remaining[lid] = left
            if listing.kind == "have":
                data.supply_materials.add(listing.material)
    firm_ids = sorted({r[1].id or 0 for r in data.rows})
    today = date.today()
    for permit in session.scalars(select(Permit).where(Permit.firm_id.in_(firm_ids), Permit.valid_from <= today,
                                                       Permit.valid_to >= today)):
        data.permits.setdefault(permit.firm_id, []).extend(permit.hw_codes)
    return data


def site_industries(site: Site, firm: Firm) -> list[str]:
    """What a site does for the matcher: its own GB/T 4754 codes, else its firm's industry."""
    return list(site.industry_codes or ([firm.industry_code] if firm.industry_code else []))


def _site_key(listing: Listing, site: Site) -> str:
    return f"s{site.id}p" if listing.visibility == "park" else f"s{site.id}"


def build_scenario(data: ScopeData, run: MatchRun, pr: ledger_svc.Pricing) -> dict[str, Any]:
    """The scenario document for ``matching`` (see docs/matcher.md); listing ids become ``L<id>``."""
    sites: dict[str, dict[str, Any]] = {}
    site_park: dict[str, int] = {}
    supplies: list[dict[str, Any]] = []
    demands: list[dict[str, Any]] = []
    for listing, firm, site, park in data.rows:
        key = _site_key(listing, site)
        if key not in sites:
            sites[key] = {"id": key, "lat": site.lat, "lon": site.lon, "park": park.code,
                          "province": park.province, "industry": site_industries(site, firm),
                          "permits": sorted(set(data.permits.get(firm.id or 0, []))),
                          "access": list(site.access or [])}
            site_park[key] = park.id or 0
        stream: dict[str, Any] = {"id": f"L{listing.id}", "site": key, "material": listing.material,
                                  "quantity": data.remaining[listing.id or 0]}
        if listing.kind == "have":
            if listing.attributes:
                stream["attributes"] = dict(listing.attributes)
            disposal = ledger_svc.disposal_per_canonical_unit(listing)
            if disposal is not None:
                stream["disposal_cost"] = disposal
            supplies.append(stream)
        else:
            demands.append(stream)
    distances: list[dict[str, Any]] = []
    by_park: dict[int, list[str]] = defaultdict(list)
    for key, pid in site_park.items():
        by_park[pid].append(key)
    for key, pid in site_park.items():
        if not key.endswith("p"):
            continue
        for other_pid, keys in by_park.items():
            if other_pid != pid:
                distances.extend({"from": key, "to": other, "km": UNREACHABLE_KM} for other in keys)
    params: dict[str, Any] = {"prices": dict(pr.parameters["prices"]),
                              "disposal_costs": dict(pr.parameters["disposal_costs"])}
    w = run.what_if or {}
    params["prices"].update(w.get("prices") or {})
    params["disposal_costs"].update(w.get("disposal_costs") or {})
    if w.get("transport"):
        params["transport"] = {mode: {k: v for k, v in spec.items() if v is not None}
                               for mode, spec in w["transport"].items()}
    if w.get("hubs"):
        params["milp"] = {"hubs": w["hubs"]}
    for stated in w.get("distances") or []:  # never shortens a park listing's way out of its park
        for a in (f"s{stated['from_site_id']}", f"s{stated['from_site_id']}p"):
            for b in (f"s{stated['to_site_id']}", f"s{stated['to_site_id']}p"):
                if a in sites and b in sites and (
                        site_park[a] == site_park[b] or not (a.endswith("p") or b.endswith("p"))):
                    distances.append({"from": a, "to": b, "km": stated["km"]})
    return {"name": f"run {run.id}", "sites": list(sites.values()), "supplies": supplies, "demands": demands,
            "distances": distances, "parameters": params}


# --- storing -------------------------------------------------------------------------------------------
def _listing_id(stream_id: str) -> int | None:
    return int(stream_id[1:]) if stream_id.startswith("L") and stream_id[1:].isdigit() else None


def _proposal_from_link(run: MatchRun, link: Any) -> Proposal:
    supply, demand = _listing_id(link.supply), _listing_id(link.demand)
    assert supply is not None and demand is not None
    return Proposal(run_id=run.id or 0, supply_listing_id=supply, demand_listing_id=demand, material=link.material,
                    replaces=link.replaces, quantity=link.quantity, unit=link.unit, ratio=link.ratio,
                    distance_km=link.distance_km, mode=link.mode, unit_benefit=link.unit_benefit,
                    net_benefit=link.net_benefit, co2_avoided_t=link.co2_avoided_t,
                    explanation=link.explanation[:2000], quality_unverified=link.quality_unverified,
                    breakdown=link.breakdown.to_json() if link.breakdown is not None else None,
                    confidence=link.confidence, reasons=[dict(r) for r in link.reasons])


def _replace_untouched(session: Session, run: MatchRun, data: ScopeData) -> int:
    """Delete open proposals of earlier match runs within this run's scope (both sides in its parks; only the
    families it covered) that no deal refers to. Proposals under discussion stay."""
    parks = sorted(_run_parks(run))
    sl, dl, sf, df = aliased(Listing), aliased(Listing), aliased(Firm), aliased(Firm)
    stmt = (select(Proposal).join(MatchRun, MatchRun.id == Proposal.run_id)
            .join(sl, sl.id == Proposal.supply_listing_id).join(dl, dl.id == Proposal.demand_listing_id)
            .join(sf, sf.id == sl.firm_id).join(df, df.id == dl.firm_id)
            .where(MatchRun.kind == "match", Proposal.run_id != run.id, Proposal.status == "open",
                   ~exists().where(Deal.proposal_id == Proposal.id),
                   sf.park_id.in_(parks), df.park_id.in_(parks)))
    families = set(run.options.get("families") or [])
    if families:
        kb = get_kb()
        stmt = stmt.where(sl.material.in_(sorted(m.id for m in kb.materials.values() if m.family in families)))
    old = list(session.scalars(stmt))
    for proposal in old:
        session.delete(proposal)
    return len(old)


def store_result(session: Session, run: MatchRun, result: Any, data: ScopeData, timings: dict[str, float]) -> None:
    """Everything a run writes, in the caller's one transaction, under a lock of the run row."""
    session.refresh(run, with_for_update=True)
    if run.cancel_requested:
        raise RunCancelled
    haves = sum(1 for r in data.rows if r[0].kind == "have")
    kpis = {**result.objective.to_json(), "links": len(result.links), "supplies": haves,
            "demands": len(data.rows) - haves, "unmatched_supplies": len(result.unmatched_supplies),
            "unmatched_demands": len(result.unmatched_demands), "status": result.status}
    stats = result.stats.to_json() | {"backend_seconds": {k: round(v, 4) for k, v in timings.items()}}
    if run.kind == "match":
        kpis["replaced_proposals"] = _replace_untouched(session, run, data)
        session.flush()
        for link in result.links:
            session.add(_proposal_from_link(run, link))
    else:
        links = []
        for link in result.links:
            row = link.to_json()
            row["supply_listing_id"], row["demand_listing_id"] = _listing_id(link.supply), _listing_id(link.demand)
            links.append(row)
        run.result = {"links": links,
                      "unmatched": {"supplies": [{"listing_id": _listing_id(r.id), "remaining": r.remaining}
                                                 for r in result.unmatched_supplies],
                                    "demands": [{"listing_id": _listing_id(r.id), "remaining": r.remaining}
                                                for r in result.unmatched_demands]}}
    run.kpis, run.stats = kpis, stats
    run.status, run.stage, run.percent, run.finished_at = "succeeded", "done", 100, utcnow()
    session.add(run)
    session.flush()
