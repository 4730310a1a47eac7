"""Knowledge-base data of issue 12: plausible quantities per site, and targets versioned by document and region."""

from pathlib import Path

import pytest

from matching.knowledge import KnowledgeBase, load_knowledge_base
from tests.matching.test_knowledge import broken_copy, errors_of, line_of, replace_line

pytestmark = pytest.mark.nodb


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


def test_every_material_has_a_plausible_range_in_its_unit(kb: KnowledgeBase) -> None:
    for material in kb.materials.values():
        found = kb.quantity_range(material.id)
        assert found is not None, material.id
        assert found.unit == material.unit
        assert 0 < found.typical_max <= found.site_max <= found.stock_max
        assert found.source and found.confidence in ("sourced", "unverified", "estimate") and found.basis
    # a material's own row wins over its family's
    assert kb.quantity_range("fly_ash").key == "fly_ash"
    assert kb.quantity_range("gasification_slag").key == "ash@t"
    assert kb.quantity_range("steam").unit == "GJ" and kb.quantity_range("co2").unit == "t"
    # the largest coal plant (~6.7 GW) makes about 2.4 Mt of fly ash a year: 1e30 t is far beyond any plant
    assert 2_000_000 < kb.quantity_range("fly_ash").site_max < 1e8


def test_targets_carry_document_region_and_scope(kb: KnowledgeBase) -> None:
    by_id = {t.id: t for t in kb.targets}
    assert by_id["fly_ash_2020"].document.startswith("绿色制造工程实施指南") and by_id["fly_ash_2020"].issued == 2016
    assert (by_id["smelting_slag_2025"].rate, by_id["byproduct_gypsum_2025"].rate) == (0.73, 0.73)
    assert by_id["bulk_industrial_solid_waste_2025"].rate == 0.57 and "〔2022〕9号" in by_id[
        "bulk_industrial_solid_waste_2025"].document
    new_bulk = by_id["new_bulk_solid_waste_2025"]
    assert new_bulk.rate == 0.60 and "〔2021〕381号" in new_bulk.document
    assert (by_id["phosphogypsum_2026"].rate, by_id["phosphogypsum_2026"].year) == (0.65, 2026)
    assert "〔2024〕58号" in by_id["phosphogypsum_2026"].document
    assert by_id["demonstration_base_2025"].applies_to == "demonstration_base"
    assert by_id["demonstration_base_2025"].rate == 0.75
    assert {t.region for t in kb.targets} >= {"national", "山西"}
    assert all(t.region == "national" or t.confidence != "sourced" for t in kb.targets)  # provincial: recalled


def test_a_range_above_the_largest_plant_is_rejected(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "quantity_ranges.csv",
                         replace_line("fly_ash,", "1500000,5000000", "9000000,5000000"))
    line = line_of(folder, "quantity_ranges.csv", "fly_ash,")
    assert f"quantity_ranges.csv:{line}: typical_max 9e+06 is above site_max 5e+06" in errors_of(folder)


def test_a_range_in_the_wrong_unit_is_rejected(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "quantity_ranges.csv", replace_line("co2,", "co2,t,", "co2,GJ,"))
    line = line_of(folder, "quantity_ranges.csv", "co2,")
    assert f"quantity_ranges.csv:{line}: unit 'GJ' must be the canonical unit t" in errors_of(folder)


def test_a_material_without_a_range_is_rejected(tmp_path: Path) -> None:
    def drop(text: str) -> str:
        return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("sludge@t,"))

    folder = broken_copy(tmp_path, "quantity_ranges.csv", drop)
    assert any("no range covers material 'sewage_sludge'" in e for e in errors_of(folder))


def test_a_target_mixing_units_is_rejected(tmp_path: Path) -> None:
    folder = broken_copy(tmp_path, "targets.csv", replace_line("waste_heat_2020,", "hot_water; low_grade_heat",
                                                               "hot_water; fly_ash"))
    line = line_of(folder, "targets.csv", "waste_heat_2020,")
    assert f"targets.csv:{line}: a target's materials must share one unit; these are in GJ, t" in errors_of(folder)
