"""The parts of a link's explanation (``Link.breakdown``): hand-checked figures and binding codes, the parts
adding up to the unit benefit on random scenarios and with the knowledge base, and the independent check
catching a breakdown that does not agree."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given

from matching.api import match
from matching.evaluate import evaluate
from matching.knowledge import default_knowledge_base
from matching.result import BINDING_CODES, Link
from matching.scenario import load_scenario
from tests.matching.test_properties import SETTINGS, scenarios


def adds_up(link: Link) -> bool:
    assert link.breakdown is not None
    p = link.breakdown
    total = p.value + p.disposal_avoided - p.pretreatment - p.transport - p.pipeline
    return math.isclose(total, link.unit_benefit, rel_tol=1e-9, abs_tol=1e-9)


def _fly_ash_doc(base_doc: dict[str, Any], **rule: Any) -> dict[str, Any]:
    doc = copy.deepcopy(base_doc)
    doc["supplies"][0].update(material="fly_ash", disposal_cost=25.0)
    doc["demands"][0]["material"] = "cement"
    doc["parameters"]["prices"] = {"cement": 100.0}
    doc["parameters"]["substitutions"] = [{"material": "fly_ash", "replaces": "cement", "ratio": 1.0,
                                           "pretreatment_cost": 5.0, **rule}]
    return doc


def test_parts_by_hand(base_doc: dict[str, Any]) -> None:
    # per t: 100 value + 25 disposal avoided − 5 pretreatment − (10 handling + 0.5 × 100 km) transport = 60
    scenario = load_scenario(_fly_ash_doc(base_doc))
    result = match(scenario)
    (link,) = result.links
    parts = link.breakdown
    assert parts is not None
    assert parts.value == pytest.approx(100.0)
    assert parts.disposal_avoided == pytest.approx(25.0)
    assert parts.pretreatment == pytest.approx(5.0)
    assert parts.transport == pytest.approx(60.0, rel=1e-9)
    assert link.unit_benefit == pytest.approx(60.0, rel=1e-9) and adds_up(link)
    assert parts.binding == ("demand",) and parts.max_share is None
    # the English sentence and binding string stay as they were
    assert link.binding == "demand filled"
    assert link.explanation == ("fly_ash replaces cement (rule fly_ash->cement), 100.0 km by road: 60.00 yuan per t "
                                "net (100 value + 25.00 disposal avoided − 5.00 pretreatment − 60.00 transport); "
                                "binding: demand filled.")
    data = result.to_json()["links"][0]
    assert data["breakdown"] == {"value": parts.value, "disposal_avoided": 25.0, "pretreatment": 5.0,
                                 "transport": parts.transport, "ratio": 1.0, "binding": ["demand"],
                                 "pipeline": 0.0, "rule": "fly_ash->cement", "use": None}
    assert evaluate(scenario, result).ok


def test_binding_codes(base_doc: dict[str, Any]) -> None:
    (link,) = match(load_scenario(_fly_ash_doc(base_doc, max_share=0.3))).links
    assert link.breakdown is not None
    assert link.breakdown.binding == ("share",) and link.breakdown.max_share == 0.3
    assert link.binding == "max share 30% of the demand reached"
    doc = _fly_ash_doc(base_doc)
    doc["demands"][0]["quantity"] = 500.0  # more than the 100 t supplied
    (link,) = match(load_scenario(doc)).links
    assert link.breakdown is not None and link.breakdown.binding == ("supply",)
    doc["demands"][0]["quantity"] = 100.0  # exactly what is supplied: both
    (link,) = match(load_scenario(doc)).links
    assert link.breakdown is not None and link.breakdown.binding == ("supply", "demand")
    assert link.binding == "supply fully used; demand filled"


def test_same_site_has_no_transport(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["prices"]["slag"] = 5.0  # below handling: only the same-site link pays
    base_doc["demands"].append({"id": "d2", "site": "A", "material": "slag", "quantity": 30.0})
    (link,) = match(load_scenario(base_doc)).links
    assert link.mode == "on_site" and link.breakdown is not None
    assert link.breakdown.transport == 0.0 and link.breakdown.value == pytest.approx(5.0) and adds_up(link)


def test_pipeline_losses_lower_the_value_not_the_transport(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["transport"]["pipe"] = {"cost_per_tkm": 0.0, "handling_per_t": 0.0,
                                                   "loss_per_km": 0.001}
    (link,) = match(load_scenario(base_doc)).links  # 0.9 delivered per unit over 100 km
    assert link.mode == "pipe" and link.breakdown is not None
    assert link.breakdown.value == pytest.approx(90.0) and link.breakdown.transport == pytest.approx(0.0, abs=1e-9)
    assert adds_up(link)


@SETTINGS
@given(scenarios())
def test_parts_add_up_on_random_scenarios(doc: dict[str, Any]) -> None:
    result = match(load_scenario(doc))
    for link in result.links:
        assert adds_up(link), link
        assert link.breakdown is not None and set(link.breakdown.binding) <= set(BINDING_CODES)


def test_parts_add_up_with_the_knowledge_base() -> None:
    # fly ash, GGBS and steam (a pipeline with losses, 1 %/km) between sites of one park
    sites = [{"id": f"S{i}", "lat": 39.0 + 0.05 * i, "lon": 118.5 + 0.04 * i, "province": "河北省"}
             for i in range(4)]
    doc = {"sites": sites,
           "supplies": [{"id": "fa", "site": "S0", "material": "fly_ash", "quantity": 50_000,
                         "attributes": {"loss_on_ignition": 4.0}},
                        {"id": "st", "site": "S0", "material": "steam", "quantity": 200_000,
                         "attributes": {"temperature_c": 180}},
                        {"id": "gg", "site": "S1", "material": "ggbs", "quantity": 30_000}],
           "demands": [{"id": "ce", "site": "S2", "material": "cement", "quantity": 100_000},
                       {"id": "he", "site": "S1", "material": "heat", "quantity": 150_000}]}
    scenario = load_scenario(doc, knowledge_base=default_knowledge_base())
    result = match(scenario)
    assert {link.mode for link in result.links} == {"road", "pipeline_steam"}
    for link in result.links:
        assert adds_up(link), link
    assert evaluate(scenario, result).ok


def test_evaluate_catches_a_wrong_breakdown(base_doc: dict[str, Any]) -> None:
    scenario = load_scenario(_fly_ash_doc(base_doc))
    good = match(scenario).to_json()
    data = copy.deepcopy(good)
    data["links"][0]["breakdown"]["transport"] -= 10.0
    data["links"][0]["breakdown"]["value"] -= 10.0  # still adds up, but the parts are wrong
    assert any("breakdown transport" in p for p in evaluate(scenario, data).problems)
    data = copy.deepcopy(good)
    data["links"][0]["breakdown"]["binding"] = ["supply"]  # 60 of the 100 t moved: not binding
    assert any("binding 'supply'" in p for p in evaluate(scenario, data).problems)
    data = copy.deepcopy(good)
    data["links"][0]["breakdown"]["binding"] = ["demand", "share"]
    assert any("max_share" in p for p in evaluate(scenario, data).problems)
