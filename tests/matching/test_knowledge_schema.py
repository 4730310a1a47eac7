"""The knowledge-base fields that make proposals trustworthy: receivers, uses and heat grades, required
gates, pretreatment effects, route factors, economic radii, profiles' permits and shares of plants. Each is
checked on a copy of the shipped folder with one row added or changed, so that the checks do not depend on
the data the rows hold."""

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest

from matching.economics import Gate, Rule
from matching.knowledge import KnowledgeBase, QualityGate, load_knowledge_base
from matching.knowledge.loader import parse_gates
from tests.matching.test_knowledge import broken_copy, errors_of

pytestmark = pytest.mark.nodb



def _with_columns(text: str, extra: list[str], row: dict[str, str] | None = None,
                  change: Callable[[dict[str, str]], None] | None = None) -> str:
    """A CSV text with empty ``extra`` columns added, every row passed through ``change`` and ``row`` (by column
    name) appended; read and written with the csv module (sources hold quoted commas)."""
    reader = csv.DictReader(io.StringIO(text))
    header = [*(reader.fieldnames or []), *(c for c in extra if c not in (reader.fieldnames or []))]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for cells in reader:
        cells = {h: cells.get(h) or "" for h in header}
        if change is not None:
            change(cells)
        writer.writerow(cells)
    if row is not None:
        writer.writerow({h: row.get(h, "") for h in header})
    return out.getvalue()


def _append_rule(tmp_path: Path, **cells: str) -> Path:
    """A copy of the shipped folder with one rule added (cells by column name; the rest empty)."""
    base = {"ratio_unit": "GJ/GJ", "max_share": "1", "source": "test", "confidence": "estimate"}

    def edit(text: str) -> str:
        row = {**base, **cells}
        return _with_columns(text, list(row), row)

    folder = broken_copy(tmp_path, "substitutions.csv", edit)
    uses = folder / "uses.csv"  # a heat use of medium grade only these tests use
    uses.write_text(uses.read_text(encoding="utf-8").rstrip("\n")
                    + "\ntest_heating,测试供暖,Test heating,medium,test,estimate,\n", encoding="utf-8")
    return folder


def test_gates_may_be_required() -> None:
    gates, problems = parse_gates("al2o3>=40!; loss_on_ignition<=8")
    assert not problems
    assert gates == (QualityGate("al2o3", ">=", 40.0, True), QualityGate("loss_on_ignition", "<=", 8.0))
    assert gates[0].check({}) == "fail" and gates[1].check({}) == "unknown"
    assert gates[0].check({"al2o3": 45}) == "pass" and str(gates[0]) == "al2o3>=40!"


def test_gates_see_the_attributes_after_pretreatment() -> None:
    washed = Rule("phosphogypsum", "natural_gypsum", gates=(Gate("soluble_p2o5", "<=", 0.8),),
                  effects=(("soluble_p2o5", 0.25),), pretreatment="washing")
    as_listed = Rule("phosphogypsum", "natural_gypsum", gates=(Gate("soluble_p2o5", "<=", 0.8),))
    listing = {"soluble_p2o5": 2.0}
    assert as_listed.check(listing) == "fail"
    assert washed.check(listing) == "pass"  # 2.0 × 0.25 = 0.5 after washing
    assert washed.check({"soluble_p2o5": 4.0}) == "fail"  # 1.0 is still too much


def test_lifting_heat_to_a_hotter_use_needs_a_heat_pump(tmp_path: Path) -> None:
    folder = _append_rule(tmp_path, id="lgh_dh_test", material="low_grade_heat", replaces="heat",
                          use="test_heating", ratio="1", temperature_grade="low")
    assert any("low-grade heat cannot serve 'test_heating'" in e and "heat pump" in e
               for e in errors_of(folder))
    with_pump = _append_rule(tmp_path / "b", id="lgh_dh_test", material="low_grade_heat", replaces="heat",
                             use="test_heating", ratio="1.33", temperature_grade="low",
                             pretreatment="electric heat pump", pretreatment_cost="60")
    assert load_knowledge_base(with_pump).rule("lgh_dh_test") is not None


def test_rules_name_known_uses_and_receivers(tmp_path: Path) -> None:
    folder = _append_rule(tmp_path, id="x_test", material="hot_water", replaces="heat", use="sauna",
                          temperature_grade="medium", receivers="44x; 9")
    errors = errors_of(folder)
    assert any("use 'sauna' is not defined in uses.csv" in e for e in errors)
    assert any("receivers '44x' must be a GB/T 4754 code" in e for e in errors)
    assert any("receivers '9' must be a GB/T 4754 code" in e for e in errors)


def test_pretreatment_effects_are_checked(tmp_path: Path) -> None:
    folder = _append_rule(tmp_path, id="pg_test", material="phosphogypsum", replaces="natural_gypsum",
                          use="test_heating", ratio_unit="t/t", ratio="1", pretreatment_effects="soluble_p2o5/4")
    assert any("must read attribute*factor" in e for e in errors_of(folder))
    folder = _append_rule(tmp_path / "b", id="pg_test", material="phosphogypsum", replaces="natural_gypsum",
                          use="test_heating", ratio_unit="t/t", ratio="1", pretreatment_effects="soluble_p2o5*0.25")
    assert any("pretreatment_effects given without a pretreatment" in e for e in errors_of(folder))
    folder = _append_rule(tmp_path / "c", id="pg_test", material="phosphogypsum", replaces="natural_gypsum",
                          use="test_heating", ratio_unit="t/t", ratio="1", pretreatment="washing",
                          pretreatment_cost="30", pretreatment_effects="soluble_p2o5*0.25")
    rule = load_knowledge_base(folder).rule("pg_test")
    assert rule is not None and rule.pretreatment_effects == (("soluble_p2o5", 0.25),)


def test_route_factor_is_for_pipelines(tmp_path: Path) -> None:
    def road_routed(cells: dict[str, str]) -> None:
        if cells["id"] == "road":
            cells["route_factor"] = "1.2"

    folder = broken_copy(tmp_path, "transport_modes.csv",
                         lambda text: _with_columns(text, ["route_factor"], change=road_routed))
    assert any("route_factor applies to pipelines" in e for e in errors_of(folder))


def test_heat_needs_name_their_use(tmp_path: Path) -> None:
    def edit(text: str) -> str:
        return text.replace('use: "district_heating", ', "", 1)

    folder = broken_copy(tmp_path, "profiles.yaml", edit)
    assert any("a heat need must name its use" in e for e in errors_of(folder))


def test_profiles_carry_permits_and_shares(tmp_path: Path, kb: KnowledgeBase) -> None:
    def edit(text: str) -> str:
        return text.rstrip("\n") + """
  - code: "7724"
    name_zh: 危险废物治理
    name_en: Hazardous waste treatment (test)
    output_unit: t
    typical_size: 10000
    source: test
    confidence: estimate
    permits: [HW08, HW99]
    needs:
      - {material: "waste_oil", per_unit_output: 0.5, share_of_plants: 1.5, source: test, confidence: estimate}
"""

    folder = broken_copy(tmp_path, "profiles.yaml", edit)
    errors = errors_of(folder)
    assert any("permit 'HW99' is not a category" in e for e in errors)
    assert any("share_of_plants 1.5 must be <= 1" in e for e in errors)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def test_economic_radii_become_the_matcher_s_limits(kb: KnowledgeBase) -> None:
    from matching.economics import resolve_economics
    from matching.scenario import load_scenario

    assert kb.economic_radii, "the knowledge base states economic radii"
    material, km = next(iter(sorted(kb.economic_radii.items())))
    doc = {"sites": [], "supplies": [], "demands": []}
    assert resolve_economics(load_scenario(doc, knowledge_base=kb)).radius(material) == km
    doc["parameters"] = {"max_distance_km": {material: km / 2}}  # a scenario may tighten it
    assert resolve_economics(load_scenario(doc, knowledge_base=kb)).radius(material) == km / 2
    assert kb.source_of("economic_radius", material)[0]  # every radius has a source


def test_pipe_capex_scaling_is_checked(tmp_path: Path) -> None:
    def change(cells: dict[str, str]) -> None:
        if cells["id"] == "road":  # scaling on a mode without capex
            cells["capex_min_per_km"] = "1000"
        if cells["id"] == "pipeline_steam":  # a reference capacity without its exponent
            cells["capex_reference_capacity"], cells["capex_scale_exponent"] = "800000", ""

    columns = ["capex_reference_capacity", "capex_scale_exponent", "capex_min_per_km"]
    errors = errors_of(broken_copy(tmp_path, "transport_modes.csv",
                                   lambda text: _with_columns(text, columns, change=change)))
    assert any("capex scaling" in e and "applies to pipelines" in e for e in errors)
    assert any("capex_reference_capacity and capex_scale_exponent go together" in e for e in errors)


def test_a_need_is_a_material_for_a_use(tmp_path: Path) -> None:
    def edit(text: str) -> str:
        return text.rstrip("\n") + """
  - code: "1711"
    name_zh: 棉纺纱加工
    name_en: Cotton spinning (test)
    output_unit: t
    typical_size: 10000
    source: test
    confidence: estimate
    needs:
      - {material: "heat", use: "process_steam", per_unit_output: 1, source: test, confidence: estimate}
      - {material: "heat", use: "space_heating", per_unit_output: 1, source: test, confidence: estimate}
      - {material: "heat", use: "space_heating", per_unit_output: 2, source: test, confidence: estimate}
"""

    folder = broken_copy(tmp_path, "profiles.yaml", edit)
    errors = errors_of(folder)
    dup = [e for e in errors if "duplicate material (and use)" in e]
    assert len(dup) == 1 and "space_heating" in dup[0]
