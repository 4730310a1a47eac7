"""The knowledge base: the shipped files load, broken files are rejected precisely, facts hold."""

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from matching.knowledge import (
    DEFAULT_KB_DIR,
    KnowledgeBase,
    KnowledgeBaseError,
    QualityGate,
    UnknownMaterial,
    default_knowledge_base,
    load_knowledge_base,
)

pytestmark = pytest.mark.nodb

REQUIRED_MATERIALS = (  # noqa: SIM905 - the issue's list, pasted as written
    "bf_slag steel_slag nonferrous_slag fly_ash bottom_ash coal_gangue tailings fgd_gypsum phosphogypsum "
    "byproduct_gypsum red_mud carbide_slag electrolytic_manganese_residue gasification_slag sewage_sludge "
    "biosludge lime_mud filter_mud bagasse molasses vinasse yeast_slurry steam hot_water low_grade_heat co2 "
    "sulphur fuel_gas treated_wastewater scrap_steel waste_acid spent_catalyst waste_oil "
    "clinker cement natural_gypsum limestone clay sand_aggregate coal natural_gas heat fresh_water fertiliser "
    "animal_feed pulp_fibre iron_ore sulphuric_acid"
).split()

REQUIRED_PROFILES = (  # noqa: SIM905
    "0141 0313 0411 0610 0711 0810 1340 1511 2212 2221 2511 2521 2611 2612 2614 2621 2622 2624 2761 "
    "3011 3012 3021 3024 3031 3110 3120 3211 3216 4411 4412 4430 4620 4812 7726"
).split()


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


# ---------------------------------------------------------------------------------------------------------
# helpers: a broken copy of the shipped folder
# ---------------------------------------------------------------------------------------------------------
def broken_copy(tmp_path: Path, file: str, edit: Callable[[str], str]) -> Path:
    folder = tmp_path / "kb"
    shutil.copytree(DEFAULT_KB_DIR, folder)
    path = folder / file
    before = path.read_text(encoding="utf-8")
    after = edit(before)
    assert after != before, "the edit did not change the file"
    path.write_text(after, encoding="utf-8")
    return folder


def replace_line(prefix: str, old: str, new: str) -> Callable[[str], str]:
    """Replace ``old`` with ``new`` on the one line starting with ``prefix``."""

    def edit(text: str) -> str:
        lines = text.splitlines(keepends=True)
        hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        assert len(hits) == 1, f"{prefix!r} matches {len(hits)} lines"
        assert old in lines[hits[0]]
        lines[hits[0]] = lines[hits[0]].replace(old, new, 1)
        return "".join(lines)

    return edit


def line_of(folder: Path, file: str, prefix: str) -> int:
    lines = (folder / file).read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.startswith(prefix))


def errors_of(folder: Path, overrides: Path | None = None) -> list[str]:
    with pytest.raises(KnowledgeBaseError) as info:
        load_knowledge_base(folder, overrides=overrides)
    return [str(e) for e in info.value.errors]


# ---------------------------------------------------------------------------------------------------------
# the shipped knowledge base
# ---------------------------------------------------------------------------------------------------------
def test_shipped_knowledge_base_loads(kb: KnowledgeBase) -> None:
    assert kb.version
    assert len(kb.materials) >= 60
    assert kb.substitutions and kb.restrictions and kb.targets
    assert default_knowledge_base() is default_knowledge_base()


def test_required_material_ids_exist(kb: KnowledgeBase) -> None:
    missing = [m for m in REQUIRED_MATERIALS if m not in kb.materials]
    assert missing == []


def test_heat_is_measured_in_gj(kb: KnowledgeBase) -> None:
    for mid in ("steam", "hot_water", "low_grade_heat", "heat"):
        assert kb.materials[mid].unit == "GJ"
        assert kb.materials[mid].form == "heat"


def test_hazardous_materials_carry_their_hw_code(kb: KnowledgeBase) -> None:
    assert kb.materials["waste_acid"].hw_code == "HW34"
    assert kb.materials["spent_catalyst"].hw_code == "HW50"
    assert kb.materials["waste_oil"].hw_code == "HW08"
    emr = kb.materials["electrolytic_manganese_residue"]
    assert not emr.hazardous and emr.hw_code is None
    assert all(m.hw_code for m in kb.materials.values() if m.hazardous)


def test_every_listed_industry_has_a_profile_whose_materials_exist(kb: KnowledgeBase) -> None:
    assert [c for c in REQUIRED_PROFILES if c not in kb.profiles] == []
    for profile in kb.profiles.values():
        assert profile.byproducts or profile.needs
        for intensity in (*profile.byproducts, *profile.needs):
            assert intensity.material in kb.materials, (profile.code, intensity.material)
            assert intensity.per_unit_output > 0


def test_profile_falls_back_to_group_then_division(kb: KnowledgeBase) -> None:
    assert kb.profile_for("4411") is kb.profiles["4411"]
    assert kb.profile_for("3019") is kb.profiles["301"]
    assert kb.profile_for("3140") is kb.profiles["3140"]
    assert kb.profile_for("3199") is kb.profiles["31"]
    assert kb.profile_for("9999") is None


def test_every_rule_references_known_materials_and_has_a_co2_basis(kb: KnowledgeBase) -> None:
    for rule in kb.substitutions:
        assert rule.material in kb.materials and rule.replaces in kb.materials
        assert rule.ratio > 0 and 0 < rule.max_share <= 1
        assert rule.co2_factor is not None or rule.replaces in kb.co2_factors
        assert rule.source and rule.confidence in ("sourced", "unverified", "estimate")


def test_knowledge_base_is_immutable(kb: KnowledgeBase) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        kb.version = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        kb.materials["new"] = kb.materials["fly_ash"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        kb.materials["fly_ash"].unit = "m3"  # type: ignore[misc]


def test_uses_named_by_the_guideline_are_covered(kb: KnowledgeBase) -> None:
    uses = {(r.material, r.use) for r in kb.substitutions}
    for pair in [
        ("fgd_gypsum", "cement_retarder"), ("fgd_gypsum", "high_strength_gypsum"),
        ("tailings", "dry_mix_mortar"), ("tailings", "aerated_concrete"), ("tailings", "mineral_wool"),
        ("tailings", "decorative_materials"), ("tailings", "wall_materials"), ("tailings", "artificial_reefs"),
        ("hot_water", "district_heating"), ("hot_water", "district_cooling"), ("hot_water", "greenhouse_heating"),
        ("sewage_sludge", "cement_kiln_coprocessing"), ("mswi_fly_ash", "cement_kiln_coprocessing"),
        ("municipal_solid_waste", "cement_kiln_coprocessing"),
        ("co2", "enhanced_oil_recovery"), ("co2", "polymer_feedstock"), ("co2", "dry_ice"),
        ("coal_gangue", "fired_bricks"), ("coal_gangue", "alumina_extraction"), ("fly_ash", "alumina_extraction"),
        ("nonferrous_slag", "iron_recovery"), ("red_mud", "cement_raw_meal"), ("steel_slag", "road_base"),
    ]:
        assert pair in uses, pair
    for material in ("sulphur", "fuel_gas", "bagasse", "molasses", "vinasse", "biosludge", "treated_wastewater",
                     "steam", "low_grade_heat", "carbide_slag", "lime_mud", "filter_mud"):
        assert kb.rules_from(material), material


def test_heat_rules_carry_temperature_grades(kb: KnowledgeBase) -> None:
    grades = {r.material: r.temperature_grade for r in kb.substitutions if kb.materials[r.material].is_heat}
    assert grades == {"steam": "high", "hot_water": "medium", "low_grade_heat": "low"}


# ---------------------------------------------------------------------------------------------------------
# spot checks against domain.md
# ---------------------------------------------------------------------------------------------------------
def test_fly_ash_can_replace_cement_in_concrete(kb: KnowledgeBase) -> None:
    (rule,) = [r for r in kb.rules_from("fly_ash") if r.replaces == "cement" and r.use == "concrete"]
    assert rule in kb.rules_to("cement")
    assert QualityGate("loss_on_ignition", "<=", 8) in rule.gates
    assert rule.check({"loss_on_ignition": 6, "fineness_45um": 20, "so3": 2}) == "pass"
    assert rule.check({"loss_on_ignition": 9}) == "fail"
    assert rule.check({"loss_on_ignition": 6}) == "unknown"
    assert kb.restriction_for("fly_ash", "cement", "concrete") is None


def test_steel_slag_is_not_allowed_in_common_cement(kb: KnowledgeBase) -> None:
    restriction = kb.restriction_for("steel_slag", "clinker", "common_cement")
    assert restriction is not None and "GB 175-2023" in restriction.source
    assert not [r for r in kb.rules_from("steel_slag") if r.use == "common_cement"]
    assert any(r.use == "common_cement" for r in kb.rules_from("bf_slag"))  # slag cement is a common cement


def test_phosphogypsum_needs_pretreatment_for_retarder_use(kb: KnowledgeBase) -> None:
    (rule,) = [r for r in kb.rules_from("phosphogypsum") if r.use == "cement_retarder"]
    assert rule.replaces == "natural_gypsum"
    assert rule.pretreatment and rule.pretreatment_cost > 0
    assert QualityGate("soluble_p2o5", "<=", 0.8) in rule.gates


def test_environmental_tax_by_category(kb: KnowledgeBase) -> None:
    assert kb.env_tax["tailings"] == 15
    assert kb.env_tax["coal_gangue"] == 5
    assert kb.env_tax["fly_ash"] == 25 and kb.env_tax["steel_slag"] == 25
    assert kb.env_tax["waste_oil"] == 1000
    assert kb.disposal_costs["tailings"] == kb.env_tax["tailings"] + kb.landfill_fee["tailings"]
    assert kb.disposal_cost_of("steam") == 0


def test_targets_of_the_guideline(kb: KnowledgeBase) -> None:
    rates = {(t.id, t.year): t.rate for t in kb.targets}
    assert rates[("fly_ash_2020", 2020)] == 0.75
    assert rates[("phosphogypsum_2020", 2020)] == 0.5
    assert rates[("tailings_2020", 2020)] == 0.25
    assert rates[("steel_solid_waste_2020", 2020)] == 0.95
    assert rates[("industrial_solid_waste_2020", 2020)] == 0.73
    assert rates[("waste_heat_2020", 2020)] == 0.3
    assert rates[("smelting_slag_2025", 2025)] == 0.73
    assert {t.id for t in kb.targets_for("fgd_gypsum")} >= {"byproduct_gypsum_2025"}


def test_circuity_by_province(kb: KnowledgeBase) -> None:
    assert kb.circuity_for("贵州省") == kb.circuity["贵州"] >= 1.4
    assert kb.circuity_for("广西壮族自治区") == kb.circuity["广西"]
    assert kb.circuity_for("河北") == 1.25
    assert kb.circuity_for(None) == kb.circuity_for("Atlantis") == kb.circuity["default"]


def test_transport_modes(kb: KnowledgeBase) -> None:
    assert {"road", "rail", "inland_water", "coastal_water", "pipeline_steam", "pipeline_hot_water",
            "pipeline_gas"} <= set(kb.transport_modes)
    road, hot = kb.transport_modes["road"], kb.transport_modes["pipeline_hot_water"]
    assert road.carries(kb.materials["fly_ash"]) and not road.carries(kb.materials["hot_water"])
    assert hot.carries(kb.materials["hot_water"]) and not hot.carries(kb.materials["fly_ash"])
    assert road.annualised_capex_per_km is None
    capex = hot.annualised_capex_per_km
    assert capex is not None and hot.capex_per_km is not None and hot.lifetime_years is not None
    assert hot.capex_per_km / hot.lifetime_years < capex < hot.capex_per_km


def test_sources_are_reachable(kb: KnowledgeBase) -> None:
    assert kb.source_of("price", "fly_ash")[1] == "sourced"
    assert kb.source_of("material", "tailings")[0]
    assert kb.source_of("co2_factor", "heat") == (kb.factors["co2_factor"]["heat"].source, "sourced")
    with pytest.raises(KeyError):
        kb.source_of("price", "no_such")
    with pytest.raises(UnknownMaterial, match="unknown material 'no_such'"):
        kb.material("no_such")


def test_co2_avoided_uses_the_rule_override(kb: KnowledgeBase) -> None:
    (carbide,) = [r for r in kb.rules_from("carbide_slag") if r.use == "cement_raw_meal"]
    (shells,) = [r for r in kb.rules_from("shells") if r.use == "cement_raw_meal"]
    assert carbide.co2_factor is not None
    assert kb.co2_avoided(carbide) == pytest.approx(carbide.ratio * carbide.co2_factor)
    assert kb.co2_avoided(shells) == pytest.approx(shells.ratio * kb.co2_factors["limestone"])


# ---------------------------------------------------------------------------------------------------------
# broken files: each kind rejected with the right message, naming file and row
# ---------------------------------------------------------------------------------------------------------
def test_dangling_material_id_in_a_rule(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv",
                         replace_line("fly_ash_concrete,", ",cement,", ",portland_cement,"))
    line = line_of(folder, "substitutions.csv", "fly_ash_concrete,")
    errors = errors_of(folder)
    assert f"substitutions.csv:{line}: replaces 'portland_cement' is not a material id in materials.csv" in errors


def test_dangling_material_id_in_a_profile(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "profiles.yaml", lambda t: t.replace('material: "bagasse"', 'material: "bagase"', 1))
    assert any("profiles.yaml:profiles[" in e and "material 'bagase' is not a material id" in e
               for e in errors_of(folder))


def test_bad_canonical_unit(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "materials.csv", replace_line("fly_ash,", ",solid,t,", ",solid,kg,"))
    line = line_of(folder, "materials.csv", "fly_ash,")
    errors = errors_of(folder)
    assert any(e.startswith(f"materials.csv:{line}: unit 'kg' is not a canonical unit") for e in errors)


def test_ratio_unit_must_match_the_materials(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv", replace_line("steam_process_heat,", "GJ/GJ", "t/GJ"))
    assert any("ratio_unit 't/GJ' does not match the materials' units: expected 'GJ/GJ'" in e
               for e in errors_of(folder))


def test_heat_in_tonnes_is_rejected(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "materials.csv", replace_line("steam,", ",heat,heat,GJ,", ",heat,heat,t,"))
    assert any("heat is measured in GJ, not 't'" in e for e in errors_of(folder))


def test_duplicate_material_id(tmp_path: Path) -> None:
    def duplicate(text: str) -> str:
        row = next(line for line in text.splitlines() if line.startswith("fly_ash,"))
        return text + row + "\n"

    folder = broken_copy(tmp_path, "materials.csv", duplicate)
    first = line_of(folder, "materials.csv", "fly_ash,")
    errors = errors_of(folder)
    assert any("duplicate material id 'fly_ash'" in e and f"first defined at materials.csv:{first}" in e
               for e in errors)


def test_duplicate_rule(tmp_path: Path) -> None:
    def duplicate(text: str) -> str:
        row = next(line for line in text.splitlines() if line.startswith("fly_ash_concrete,"))
        return text + row.replace("fly_ash_concrete,", "fly_ash_concrete_again,", 1) + "\n"

    errors = errors_of(broken_copy(tmp_path, "substitutions.csv", duplicate))
    assert any("duplicate rule (material, replaces, use) ('fly_ash', 'cement', 'concrete')" in e for e in errors)


def test_negative_ratio(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv", replace_line("fly_ash_concrete,", ",1,t/t,", ",-1,t/t,"))
    line = line_of(folder, "substitutions.csv", "fly_ash_concrete,")
    assert f"substitutions.csv:{line}: ratio -1 must be > 0" in errors_of(folder)


def test_share_above_one(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv", replace_line("fly_ash_concrete,", ",0.35,", ",1.5,"))
    assert any("max_share 1.5 must be <= 1" in e for e in errors_of(folder))


def test_missing_source(tmp_path: Path) -> None:
    source = "Grade I fly ash 180–220 yuan/t (domain.md §5)"
    folder = broken_copy(tmp_path, "prices.csv", replace_line("fly_ash,", source, ""))
    line = line_of(folder, "prices.csv", "fly_ash,")
    assert f"prices.csv:{line}: missing source" in errors_of(folder)


def test_bad_confidence(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "co2_factors.csv", replace_line("heat,", ",sourced,", ",certain,"))
    assert any("confidence 'certain' must be one of: estimate, sourced, unverified" in e for e in errors_of(folder))


def test_hazardous_material_needs_hw_code(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "materials.csv", replace_line("waste_acid,", ",true,HW34,", ",true,,"))
    assert any("hazardous material without hw_code" in e for e in errors_of(folder))


def test_rule_contradicting_a_restriction(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv",
                         replace_line("steel_slag_steel_slag_cement,", ",steel_slag_cement,", ",common_cement,"))
    assert any("rule contradicts restrictions.csv: steel_slag may not replace clinker in common_cement" in e
               for e in errors_of(folder))


def test_bad_gate(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv", replace_line("fly_ash_concrete,", "so3<=3", "so3 about 3"))
    assert any("gate 'so3 about 3' has no operator" in e for e in errors_of(folder))


def test_gate_on_an_undefined_attribute(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv",
                         replace_line("fly_ash_concrete,", "loss_on_ignition<=8", "loss_of_ignition<=8"))
    assert any("gate attribute 'loss_of_ignition' is not defined in attributes.csv" in e for e in errors_of(folder))


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "substitutions.csv", replace_line("fly_ash_concrete,", ",1,t/t,", ",-1,t/t,"))
    path = folder / "prices.csv"
    path.write_text(path.read_text(encoding="utf-8").replace(",sourced,", ",maybe,", 1), encoding="utf-8")
    (folder / "targets.csv").unlink()
    errors = errors_of(folder)
    assert any(e.startswith("substitutions.csv:") for e in errors)
    assert any(e.startswith("prices.csv:") for e in errors)
    assert "targets.csv: file is missing" in errors
    with pytest.raises(KnowledgeBaseError, match=r"knowledge base has \d+ error\(s\)"):
        load_knowledge_base(folder)


def test_missing_folder() -> None:
    with pytest.raises(KnowledgeBaseError, match="knowledge-base folder does not exist"):
        load_knowledge_base(Path("/nonexistent/kb"))


def test_isx_kb_dir_selects_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = broken_copy(tmp_path, "meta.yaml", lambda t: t.replace('"2026', '"test-2026'))
    monkeypatch.setenv("ISX_KB_DIR", str(folder))
    assert load_knowledge_base().version.startswith("test-")


# ---------------------------------------------------------------------------------------------------------
# overrides
# ---------------------------------------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "regional.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_replace_only_what_they_name(tmp_path: Path, kb: KnowledgeBase) -> None:
    overrides = write(tmp_path, """
source: Guizhou market survey 2026
confidence: sourced
prices:
  fly_ash: 120
  phosphogypsum: {price: -5, low: -20, high: 10}
disposal_costs:
  tailings: {landfill_fee: 35}
circuity:
  贵州: 1.55
co2_factors:
  heat: {t_co2_per_unit: 0.1, source: Provincial heat factor 2026}
substitutions:
  fly_ash_concrete: {max_share: 0.3}
  phosphogypsum_cement_retarder: {pretreatment_cost: 45}
""")
    local = load_knowledge_base(overrides=overrides)
    assert local.prices["fly_ash"] == 120 and local.prices["phosphogypsum"] == -5
    assert local.prices["ggbs"] == kb.prices["ggbs"]
    assert local.landfill_fee["tailings"] == 35 and local.env_tax["tailings"] == 15
    assert local.disposal_costs["tailings"] == 50
    assert local.source_of("disposal_category", "tailings") == kb.source_of("disposal_category", "tailings")
    assert local.source_of("landfill_fee", "tailings") == ("Guizhou market survey 2026", "sourced")
    assert local.circuity_for("贵州省") == 1.55
    assert local.co2_factors["heat"] == 0.1
    assert local.source_of("co2_factor", "heat") == ("Provincial heat factor 2026", "sourced")
    assert local.source_of("price", "fly_ash") == ("Guizhou market survey 2026", "sourced")
    rule = local.rule("fly_ash_concrete")
    assert rule is not None and rule.max_share == 0.3 and rule.gates == kb.rule("fly_ash_concrete").gates  # type: ignore[union-attr]
    assert local.version == f"{kb.version}+regional"
    assert len(local.materials) == len(kb.materials)


def test_overrides_can_add_entries(tmp_path: Path) -> None:
    overrides = write(tmp_path, """
source: Plant trial 2026
confidence: unverified
materials:
  oil_shale_char: {name_zh: 油页岩半焦, name_en: Oil-shale char, family: mining_waste, form: slurry, unit: t,
               density_t_per_m3: 1.3, gb_code: SW59, hazardous: false, disposal_category: other}
substitutions:
  oil_shale_char_cfb_power: {material: oil_shale_char, replaces: coal, use: cfb_power, ratio: 0.5, ratio_unit: t/t,
                         max_share: 0.3, gates: "lhv_kj_kg>=8000"}
restrictions:
  - {material: oil_shale_char, replaces: clay, use: fired_bricks, reason: trial failed}
profiles:
  "0620":
    name_zh: 褐煤开采洗选
    name_en: Lignite mining
    output_unit: t
    typical_size: 1000000
    byproducts: [{material: oil_shale_char, per_unit_output: 0.05}]
""")
    local = load_knowledge_base(overrides=overrides)
    assert local.materials["oil_shale_char"].disposal_category == "other"
    assert [r.id for r in local.rules_from("oil_shale_char")] == ["oil_shale_char_cfb_power"]
    assert local.restriction_for("oil_shale_char", "clay") is not None
    profile = local.profile_for("0620")
    assert profile is not None and profile.byproducts[0].source == "Plant trial 2026"


def test_overrides_are_validated_like_the_files(tmp_path: Path) -> None:
    overrides = write(tmp_path, """
prices:
  fly_ash: 150
  unobtainium: {price: 5, source: x, confidence: estimate}
substitutions:
  fly_ash_concrete: {ratio: -2, source: x, confidence: estimate}
moon_prices: {}
""")
    errors = errors_of(DEFAULT_KB_DIR, overrides)
    assert any(e.startswith("regional.yaml:prices.fly_ash: missing source") for e in errors)
    assert "regional.yaml:prices.unobtainium: material 'unobtainium' is not a material id in materials.csv" in errors
    assert "regional.yaml:substitutions.fly_ash_concrete: ratio -2 must be > 0" in errors
    assert any(e.startswith("regional.yaml:moon_prices: unknown section") for e in errors)


def test_invalid_overrides_yaml(tmp_path: Path) -> None:
    errors = errors_of(DEFAULT_KB_DIR, write(tmp_path, "prices: [unclosed\n"))
    assert any(e.startswith("regional.yaml") and "invalid YAML" in e for e in errors)


# ---------------------------------------------------------------------------------------------------------
# the generated reference page and the `isx kb` commands
# ---------------------------------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


def test_committed_doc_matches_the_data() -> None:
    from matching.knowledge.docs import render_markdown

    committed = (REPO / "docs" / "knowledge-base.md").read_text(encoding="utf-8")
    assert committed == render_markdown(load_knowledge_base(DEFAULT_KB_DIR)), (
        "docs/knowledge-base.md is out of date: run 'isx kb docs'")


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from backend.cli.kb import app

    monkeypatch.delenv("ISX_KB_DIR", raising=False)
    monkeypatch.delenv("ISX_KB_OVERRIDES", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_cli_materials(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("materials", "--family", "gypsum")
    assert result.exit_code == 0
    assert "phosphogypsum" in result.output and "fly_ash" not in result.output
    listed = __import__("json").loads(cli("materials", "--json").output)
    assert {m["id"] for m in listed} >= set(REQUIRED_MATERIALS)
    assert cli("materials", "--family", "moon_rock").exit_code == 2


def test_cli_show(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("show", "phosphogypsum")
    assert result.exit_code == 0
    for text in ("磷石膏", "SW10", "can replace:", "natural_gypsum", "soluble_p2o5<=0.8", "pretreatment",
                 "price:", "disposal:", "2622 磷肥制造"):
        assert text in result.output
    assert "can be replaced by:" in cli("show", "cement").output


def test_cli_show_unknown_material(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("show", "flyash")
    assert result.exit_code == 2
    assert "unknown material 'flyash'" in result.output and "fly_ash" in result.output


def test_cli_profile(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("profile", "2622")
    assert result.exit_code == 0 and "phosphogypsum" in result.output and "per t P2O5" in result.output
    assert "showing 301" in cli("profile", "3019").output
    assert cli("profile", "9999").exit_code == 2


def test_cli_check(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok = cli("check", str(DEFAULT_KB_DIR))
    assert ok.exit_code == 0 and ok.output.startswith("ok: version")
    folder = broken_copy(tmp_path, "substitutions.csv", replace_line("fly_ash_concrete,", ",1,t/t,", ",-1,t/t,"))
    bad = cli("check", str(folder))
    assert bad.exit_code == 2
    assert "ratio -1 must be > 0" in bad.output and "substitutions.csv:" in bad.output


def test_cli_docs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "kb.md"
    assert cli("docs", "--out", str(out), "--check").exit_code == 1
    assert cli("docs", "--out", str(out)).exit_code == 0
    assert out.read_text(encoding="utf-8").startswith("# Knowledge base")
    assert cli("docs", "--out", str(out), "--check").exit_code == 0


def test_readme_overrides_example_loads(tmp_path: Path) -> None:
    readme = (DEFAULT_KB_DIR / "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    local = load_knowledge_base(overrides=write(tmp_path, example, "guizhou.yaml"))
    assert local.version.endswith("+guizhou-2026")
    assert local.prices["fly_ash"] == 120 and local.circuity_for("贵州") == 1.55
    assert local.restriction_for("red_mud", "clay", "fired_bricks") is not None
    profile = local.profile_for("3011")
    assert profile is not None and profile.typical_size == 1_000_000
