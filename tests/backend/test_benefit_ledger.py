"""The auditable benefit ledger: a deal's figures are estimated (frozen from the plan when it is agreed),
evidenced (frozen from the deliveries that carry a document) and verified (signed off by a verifier), each state
change a record frozen with the knowledge-base version, every factor and its source, and the counterfactual;
later knowledge-base changes never alter a record; voiding a counted delivery withdraws the evidence."""

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work


@pytest.fixture
def ash_deal(world: World) -> int:
    """firm_a1's fly ash (123 456 t/yr, l_public) replaces clinker at firm_a2 (cement): agreed at 100 000 t
    a year from 2026-01-01, active."""
    with unit_of_work(world) as (session, admin):
        want = add_listing(session, admin, world["site_a2"], "want", "clinker", 200_000)
        deal_id = seed_deal(session, admin, world["l_public"], want, 100_000)
        move(session, admin, deal_id, "opt_in", "negotiate", "agree", "activate", agreed=100_000)
    return deal_id


def _records(client: Any, deal_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/deals/{deal_id}/ledger/records")
    assert response.status_code == 200, response.text
    return response.json()


def _deliver(client: Any, deal_id: int, day: str, quantity: float, **extra: Any) -> int:
    made = client.post(f"/api/v1/deals/{deal_id}/deliveries",
                       json={"delivered_on": day, "quantity": quantity} | extra)
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def _move(client: Any, deal_id: int, action: str, **body: Any) -> Any:
    return client.post(f"/api/v1/deals/{deal_id}/ledger/transitions", json={"action": action} | body)


def _input(record: dict[str, Any], name: str) -> dict[str, Any]:
    return next(i for i in record["inputs"] if i["name"] == name)


def test_agreeing_freezes_the_estimate_with_its_factors_and_counterfactual(client_as: Any, world: World,
                                                                          ash_deal: int) -> None:
    from backend.kb import get_kb

    kb = get_kb()
    firm = client_as("fu_own")
    (estimate,) = _records(firm, ash_deal)
    assert (estimate["state"], estimate["action"], estimate["from_state"]) == ("estimated", "estimate", None)
    assert estimate["kb_version"] == kb.version and estimate["user_id"] == world["user_admin"]
    assert firm.get(f"/api/v1/deals/{ash_deal}").json()["ledger_state"] == "estimated"
    # the plan: the agreed quantity, with the factors and their sources
    assert estimate["quantity"] == 100_000 and estimate["figures"]["quantity"] == 100_000
    assert _input(estimate, "quantity")["source_code"] == "agreed_quantity"
    factor = _input(estimate, "co2_factor_replaced")
    assert factor["value"] == kb.co2_factors["clinker"] and "domain.md" in factor["source"]
    unit_co2 = _input(estimate, "unit_co2_avoided_t")["value"]
    assert estimate["figures"]["co2_avoided_t"] == pytest.approx(100_000 * unit_co2)
    # the counterfactual: fly ash would have gone to landfill (fee and environmental tax of its category), and
    # the cement plant would have bought clinker
    cf = estimate["counterfactual"]
    category = kb.disposal_categories["fly_ash"]
    assert (cf["waste_route"], cf["disposal_category"]) == ("landfill", "fly_ash")
    assert (cf["landfill_fee"], cf["env_tax"]) == (category.landfill_fee, category.env_tax) == (60, 25)
    assert "环境保护税法" in cf["env_tax_source"] and cf["landfilled_t"] == 100_000
    assert (cf["replaced"], cf["replaced_unit"]) == ("clinker", "t")
    assert cf["replaced_quantity"] == pytest.approx(100_000 * _input(estimate, "delivered_ratio")["value"])
    assert cf["replaced_price"] == kb.prices["clinker"]
    assert cf["disposal_avoided_yuan"] == pytest.approx(100_000 * 85)
    # nothing is frozen before agreement
    with unit_of_work(world) as (session, admin):
        want = add_listing(session, admin, world["site_a2"], "want", "clinker", 10_000)
        early = seed_deal(session, admin, world["l_public"], want, 1_000)
        move(session, admin, early, "opt_in", "negotiate")
    assert _records(firm, early) == [] and firm.get(f"/api/v1/deals/{early}").json()["ledger_state"] is None


def test_evidence_counts_documented_deliveries_and_a_verifier_signs_it_off(client_as: Any, world: World,
                                                                          ash_deal: int) -> None:
    firm, verifier = client_as("fu_own"), client_as("verifier")
    documented = _deliver(firm, ash_deal, "2026-03-01", 20_000, document_ref="磅单-0301")
    _deliver(firm, ash_deal, "2026-04-01", 5_000)  # no document: not evidence
    second = _deliver(firm, ash_deal, "2026-05-01", 10_000, document_ref="INV-0501")
    made = _move(firm, ash_deal, "evidence", note="两张磅单")
    assert made.status_code == 201, made.text
    evidenced = made.json()
    assert (evidenced["state"], evidenced["from_state"]) == ("evidenced", "estimated")
    assert evidenced["quantity"] == 30_000 and evidenced["figures"]["quantity"] == 30_000
    assert [d["id"] for d in evidenced["deliveries"]] == [documented, second]
    assert (evidenced["undocumented_count"], evidenced["undocumented_quantity"]) == (1, 5_000)
    assert (evidenced["period_from"], evidenced["period_to"]) == ("2026-03-01", "2026-05-01")
    assert _input(evidenced, "quantity")["source_code"] == "documented_deliveries"
    # what each may ask for now, and the verifiers' work list
    assert firm.get(f"/api/v1/deals/{ash_deal}").json()["ledger_actions"] == ["evidence"]
    assert verifier.get(f"/api/v1/deals/{ash_deal}").json()["ledger_actions"] == ["verify", "reject"]
    assert client_as("planner").get(f"/api/v1/deals/{ash_deal}").json()["ledger_actions"] == []
    waiting = verifier.get("/api/v1/deals", params={"ledger_state": "evidenced"}).json()
    assert [d["id"] for d in waiting["data"]] == [ash_deal] and waiting["count"] == 1
    assert verifier.get("/api/v1/deals", params={"ledger_state": "verified"}).json()["count"] == 0
    assert verifier.get("/api/v1/deals", params={"ledger_state": "signed"}).status_code == 422
    # only a verifier signs off: not the parties, not their park manager, not an admin, not a planner
    for role in ("fu_own", "fu_same_park", "pm_own", "admin", "planner"):
        refused = _move(client_as(role), ash_deal, "verify", record_id=evidenced["id"], note="checked")
        assert refused.status_code == 403, (role, refused.text)
    missing = _move(verifier, ash_deal, "verify", record_id=evidenced["id"])
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "note"]
    no_id = _move(verifier, ash_deal, "verify", note="checked")
    assert no_id.status_code == 422 and no_id.json()["detail"][0]["loc"] == ["body", "record_id"]
    stale = _move(verifier, ash_deal, "verify", record_id=evidenced["id"] - 1, note="checked")
    assert stale.status_code == 409 and "read it again" in stale.json()["detail"]
    signed = _move(verifier, ash_deal, "verify", record_id=evidenced["id"], note="磅单与发票核对一致",
                   reference="HC-2026-017")
    assert signed.status_code == 201, signed.text
    verified = signed.json()
    assert (verified["state"], verified["record_id"], verified["reference"]) == ("verified", evidenced["id"],
                                                                                 "HC-2026-017")
    assert verified["user_id"] == world["user_verifier"] and verified["user_role"] == "verifier"
    assert verified["figures"] == evidenced["figures"] and verified["kb_version"] == evidenced["kb_version"]
    assert verified["deliveries"] == evidenced["deliveries"]
    assert firm.get(f"/api/v1/deals/{ash_deal}").json()["ledger_state"] == "verified"
    assert [r["state"] for r in _records(client_as("planner"), ash_deal)] == ["estimated", "evidenced", "verified"]
    # a verified record cannot be verified again
    again = _move(verifier, ash_deal, "verify", record_id=verified["id"], note="x")
    assert again.status_code == 409


def test_a_verifier_rejects_and_a_voided_delivery_withdraws_the_evidence(client_as: Any, world: World,
                                                                          ash_deal: int) -> None:
    firm, verifier = client_as("fu_own"), client_as("verifier")
    nothing = _move(firm, ash_deal, "evidence")
    assert nothing.status_code == 409 and "nothing to evidence" in nothing.json()["detail"]
    delivery = _deliver(firm, ash_deal, "2026-03-01", 20_000, document_ref="磅单-0301")
    first = _move(firm, ash_deal, "evidence").json()
    rejected = _move(verifier, ash_deal, "reject", record_id=first["id"], note="磅单缺少签章")
    assert rejected.status_code == 201, rejected.text
    estimate = _records(firm, ash_deal)[0]
    back = rejected.json()
    assert (back["state"], back["action"], back["note"]) == ("estimated", "reject", "磅单缺少签章")
    assert back["figures"] == estimate["figures"] and back["quantity"] == 100_000  # the plan, as frozen
    again = _move(firm, ash_deal, "evidence").json()
    _move(verifier, ash_deal, "verify", record_id=again["id"], note="ok")
    # voiding the counted delivery withdraws the verified figures (the history keeps them)
    void = firm.post(f"/api/v1/deals/{ash_deal}/deliveries/{delivery}/void", json={"reason": "重复登记"})
    assert void.status_code == 200, void.text
    history = _records(firm, ash_deal)
    assert [(r["action"], r["state"]) for r in history] == [
        ("estimate", "estimated"), ("evidence", "evidenced"), ("reject", "estimated"), ("evidence", "evidenced"),
        ("verify", "verified"), ("withdraw", "estimated")]
    assert history[-1]["record_id"] == history[-2]["id"] and "重复登记" in history[-1]["note"]
    assert history[-1]["user_id"] == world["user_fu_own"]
    # a delivery the evidence did not count changes nothing
    other = _deliver(firm, ash_deal, "2026-06-01", 1_000, document_ref="T-1")
    evidence = _move(firm, ash_deal, "evidence").json()
    late = _deliver(firm, ash_deal, "2026-07-01", 500)
    firm.post(f"/api/v1/deals/{ash_deal}/deliveries/{late}/void", json={"reason": "test"})
    assert _records(firm, ash_deal)[-1]["id"] == evidence["id"]
    assert [d["id"] for d in evidence["deliveries"]] == [other]


def test_later_knowledge_base_changes_never_alter_a_frozen_record(client_as: Any, world: World, ash_deal: int,
                                                                 tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A new edition of the knowledge base (clinker's CO2 factor and the landfill fee revised) and an admin's
    regional price: the live ledger follows them, every frozen record keeps its version, factors and figures,
    and only a new state change freezes the new ones."""
    from backend.kb import get_kb

    firm, admin = client_as("fu_own"), client_as("admin")
    _deliver(firm, ash_deal, "2026-03-01", 20_000, document_ref="磅单-0301")
    assert _move(firm, ash_deal, "evidence").status_code == 201
    before = _records(firm, ash_deal)
    old_version = get_kb().version
    edition = tmp_path / "edition.yaml"
    edition.write_text("version: edition-2027\nsource: 'test: a later edition'\nconfidence: estimate\n"
                       "co2_factors:\n  clinker: 0.70\n"
                       "disposal_costs:\n  fly_ash: {landfill_fee: 90}\n", encoding="utf-8")
    monkeypatch.setenv("ISX_KB_OVERRIDES", str(edition))
    get_kb.cache_clear()
    try:
        assert get_kb().version == f"{old_version}+edition-2027"
        assert admin.post("/api/v1/overrides", json={"kind": "price", "key": "clinker", "value": 500}).status_code \
            == 201
        live = firm.get(f"/api/v1/deals/{ash_deal}/ledger").json()
        live_inputs = {i["name"]: i for i in live["inputs"]}
        assert live_inputs["co2_factor_replaced"]["value"] == 0.70 and live_inputs["price_replaced"]["value"] == 500
        after = _records(firm, ash_deal)
        assert after == before  # nothing frozen moved
        assert _input(after[0], "co2_factor_replaced")["value"] == 0.85
        assert after[0]["counterfactual"]["landfill_fee"] == 60
        # a new state change freezes the new edition
        _deliver(firm, ash_deal, "2026-04-01", 10_000, document_ref="磅单-0401")
        new = _move(firm, ash_deal, "evidence").json()
        assert new["kb_version"] == f"{old_version}+edition-2027"
        assert _input(new, "co2_factor_replaced")["value"] == 0.70
        assert _input(new, "price_replaced")["source_code"] == "override"
        assert new["counterfactual"]["landfill_fee"] == 90 and new["counterfactual"]["replaced_price"] == 500
        # the verifier signs what was evidenced, even when the knowledge base changes in between
        monkeypatch.delenv("ISX_KB_OVERRIDES")
        get_kb.cache_clear()
        signed = _move(client_as("verifier"), ash_deal, "verify", record_id=new["id"], note="ok").json()
        assert signed["kb_version"] == new["kb_version"] and signed["figures"] == new["figures"]
    finally:
        monkeypatch.undo()
        get_kb.cache_clear()


def test_records_are_audited_and_never_change_in_the_database(client_as: Any, world: World, ash_deal: int) -> None:
    from backend.models import AuditLog, BenefitRecord

    firm = client_as("fu_own")
    _deliver(firm, ash_deal, "2026-03-01", 20_000, document_ref="磅单-0301")
    evidenced = _move(firm, ash_deal, "evidence").json()
    with unit_of_work() as (session, _):
        audited = session.scalars(select(AuditLog).where(AuditLog.entity == "benefit_record")
                                  .order_by(AuditLog.id)).all()
        assert [(a.action, a.changes["state"], a.changes["action"]) for a in audited] == [
            ("create", "estimated", "estimate"), ("create", "evidenced", "evidence")]
        assert audited[1].user_id == world["user_fu_own"] and audited[1].entity_id == evidenced["id"]
        assert audited[1].changes["kb_version"] == evidenced["kb_version"] and "figures" not in audited[1].changes
        assert session.get(BenefitRecord, evidenced["id"]).figures == evidenced["figures"]


def test_the_figures_a_viewer_may_not_see_exactly_are_frozen_from_the_rounded_distance(
        client_as: Any, world: World) -> None:
    """firm_a1's anonymous fly ash to firm_b1: planners and verifiers see the record computed from the distance
    rounded to 10 km (frozen too), the parties the exact one."""
    with unit_of_work(world) as (session, admin):
        want = add_listing(session, admin, world["site_b1"], "want", "fly_ash", 100_000)
        deal_id = seed_deal(session, admin, world["l_anon"], want, 50_000)
        move(session, admin, deal_id, "opt_in", "negotiate", "agree", agreed=50_000)
    (exact,) = _records(client_as("fu_own"), deal_id)
    for role in ("planner", "verifier"):
        (seen,) = _records(client_as(role), deal_id)
        assert seen["approximate"] is True
        assert _input(seen, "distance_km")["value"] % 10 == 0
        assert _input(seen, "distance_km")["value"] != _input(exact, "distance_km")["value"]
        assert seen["figures"]["cost_saved_yuan"] != exact["figures"]["cost_saved_yuan"]
    assert exact["approximate"] is False


def test_kpis_report_realised_figures_by_ledger_state(client_as: Any, world: World, ash_deal: int) -> None:
    """Deliveries in 2026: 20 000 t verified, 10 000 t evidenced later (the whole evidence then is evidenced),
    5 000 t without a document (estimated). Each state's CO2 is its quantity × the frozen per-unit figure."""
    firm, verifier = client_as("fu_own"), client_as("verifier")
    _deliver(firm, ash_deal, "2026-03-01", 20_000, document_ref="磅单-0301")
    first = _move(firm, ash_deal, "evidence").json()
    _move(verifier, ash_deal, "verify", record_id=first["id"], note="ok")
    _deliver(firm, ash_deal, "2026-04-01", 5_000)
    body = client_as("admin").get("/api/v1/kpis", params={"park_id": world["park_a"], "year": 2026}).json()
    states = {r["state"]: r for r in body["groups"][0]["totals"]["realised_by_state"]}
    unit_co2 = first["figures"]["co2_avoided_t"] / first["quantity"]
    assert states["verified"]["co2_avoided_t"] == pytest.approx(20_000 * unit_co2)
    assert states["estimated"]["co2_avoided_t"] == pytest.approx(5_000 * unit_co2)
    assert states["verified"]["deals"] == 1 and states["verified"]["firms"] == 1
    assert "evidenced" not in states
    totals = body["groups"][0]["totals"]
    assert totals["co2_avoided_t_realised"] == pytest.approx(25_000 * unit_co2)
    assert totals["planned_state"] == "estimated"
    assert states["verified"]["landfill_diverted_t"] == pytest.approx(20_000)
    # more documented deliveries evidenced again: the whole (cumulative) evidence is evidenced, not verified
    _deliver(firm, ash_deal, "2026-05-01", 10_000, document_ref="INV-0501")
    _move(firm, ash_deal, "evidence")
    body = client_as("admin").get("/api/v1/kpis", params={"park_id": world["park_a"], "year": 2026}).json()
    states = {r["state"]: r for r in body["groups"][0]["totals"]["realised_by_state"]}
    assert states["evidenced"]["co2_avoided_t"] == pytest.approx(30_000 * unit_co2)
    assert "verified" not in states and states["estimated"]["co2_avoided_t"] == pytest.approx(5_000 * unit_co2)
    assert body["groups"][0]["totals"]["co2_avoided_t_realised"] == pytest.approx(35_000 * unit_co2)
