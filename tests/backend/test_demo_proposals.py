"""The demo region's match run, read as an engineer would: no proposal of the kinds that made practitioners
distrust the matcher (issue 10). Every proposal of a run over all demo parks is checked against the
knowledge base, independently of the matcher's code:

- low-grade heat is never proposed beyond its economic radius, nor anything beyond its material's radius;
- a pipeline link's pipe is sized for the flow it carries and its annualised capex never exceeds the link's
  annual benefit;
- every heat proposal's grade fits the receiver's use (or a heat pump lifts it);
- every explanation names its rule and, where the rule has one, the receiver's use; the rule serves the
  receiving firm's industry; no steam goes to a neighbour to make electricity; fly ash goes to alumina
  extraction only when it reports the alumina content the rule requires.
"""

from typing import Any

import pytest
from sqlalchemy import select

from matching.knowledge.models import GRADE_ORDER, HEAT_PUMP_WORDS


@pytest.fixture
def demo_run(engine: Any) -> dict[str, Any]:
    from backend.db import new_session
    from backend.models import Firm, Listing, MatchRun, Proposal, User
    from backend.schemas_deals import RunCreate
    from backend.services import runs, users
    from backend.services.seed import seed_demo

    with new_session() as session:
        seed_demo(session=session)
        session.commit()
    with new_session() as session:
        admin = session.scalar(select(User).where(User.role == "admin"))
        run = runs.start_run(session=session, actor=users.actor_for(session, admin),
                             run_in=RunCreate.model_validate({"scope": {"all": True}}))
        session.commit()
        run_id = run.id
    runs.execute_run(run_id)
    runs.wait_for_runs()
    with new_session() as session:
        run = session.get(MatchRun, run_id)
        assert run is not None and run.status == "succeeded", run.error if run else None
        rows = []
        for p in session.scalars(select(Proposal).where(Proposal.run_id == run_id)):
            supply = session.get(Listing, p.supply_listing_id)
            demand = session.get(Listing, p.demand_listing_id)
            receiver = session.get(Firm, demand.firm_id) if demand else None
            rows.append({"p": p, "supply": supply, "demand": demand, "receiver": receiver})
    assert len(rows) >= 20, "the demo region has enough exchanges to judge"
    return {"rows": rows}


def test_no_proposal_an_engineer_would_reject(demo_run: dict[str, Any]) -> None:
    from backend.kb import get_kb

    kb = get_kb()
    rules = {r.id: r for r in kb.substitutions}
    modes = kb.transport_modes
    problems: list[str] = []
    for row in demo_run["rows"]:
        p, supply, receiver = row["p"], row["supply"], row["receiver"]
        b = p.breakdown or {}
        where = f"proposal {p.id} ({p.material} → {p.replaces}, {p.distance_km:.1f} km by {p.mode})"
        rule = rules.get(b.get("rule") or "")
        if p.material != p.replaces:
            if rule is None:
                problems.append(f"{where}: names no rule of the knowledge base ({b.get('rule')})")
                continue
            if rule.use and b.get("use") != rule.use:
                problems.append(f"{where}: does not name the receiver's use {rule.use}")
            codes = (receiver.industry_code,) if receiver and receiver.industry_code else ()
            if rule.receivers and codes and not any(c.startswith(r) for c in codes for r in rule.receivers):
                problems.append(f"{where}: rule {rule.id} does not serve a {codes} receiver")
            if rule.replaces == "electricity" and p.material == "steam":
                problems.append(f"{where}: steam piped to a neighbour to make electricity")
            if any(g.required for g in rule.gates):
                attrs = supply.attributes or {}
                for gate in (g for g in rule.gates if g.required):
                    if gate.check(rule.after_pretreatment(attrs)) != "pass":
                        problems.append(f"{where}: required gate {gate} not shown by the supply")
        radius = kb.economic_radii.get(p.material)
        if radius is not None and p.distance_km > radius * (1 + 1e-9):
            problems.append(f"{where}: beyond the economic radius of {p.material} ({radius} km)")
        mode = modes.get(p.mode)
        if mode is not None and mode.annualised_capex_per_km:
            sized = b.get("capacity")
            if sized is None or p.quantity < sized * (1 - 1e-6):
                problems.append(f"{where}: a pipe sized for {sized} carries {p.quantity}: it is not paid in full")
            else:  # the pipe sized for this link, a year, against what the link earns before paying for it
                capex = b.get("pipeline", 0.0) * sized
                annual = (p.unit_benefit + b.get("pipeline", 0.0)) * p.quantity
                if capex > annual * (1 + 1e-9):
                    problems.append(f"{where}: pipe capex {capex:,.0f} yuan/yr > annual benefit {annual:,.0f}")
        material = kb.materials.get(p.material)
        if material is not None and material.is_heat and rule is not None:
            needed = kb.use_grade(rule.use)
            lifted = any(w in (rule.pretreatment or "").lower() for w in HEAT_PUMP_WORDS)
            if needed and rule.temperature_grade and not lifted \
                    and GRADE_ORDER[rule.temperature_grade] < GRADE_ORDER[needed]:
                problems.append(f"{where}: {rule.temperature_grade}-grade heat for {rule.use} ({needed})")
    assert not problems, "\n".join(problems)


def test_low_grade_heat_stays_near(demo_run: dict[str, Any]) -> None:
    from backend.kb import get_kb

    radius = get_kb().economic_radii["low_grade_heat"]
    far = [r["p"] for r in demo_run["rows"] if r["p"].material == "low_grade_heat" and r["p"].distance_km > radius]
    assert far == []
    assert radius <= 30  # heat below 60 °C is not worth a long pipe: tens of km at most
