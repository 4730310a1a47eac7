"""Every kind of bad scenario is rejected before solving, all errors together, each with its JSON path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from matching.errors import ScenarioError
from matching.scenario import load_scenario


def paths_of(doc: Any) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(doc)
    return info.value.paths


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda d: d["supplies"][0].update(site="nowhere"), "$.supplies[0].site"),
    (lambda d: d["demands"][0].update(site="nowhere"), "$.demands[0].site"),
    (lambda d: d["supplies"].append(dict(d["supplies"][0])), "$.supplies[1].id"),
    (lambda d: d["demands"].append(dict(d["demands"][0])), "$.demands[1].id"),
    (lambda d: d["sites"].append(dict(d["sites"][0])), "$.sites[2].id"),
    (lambda d: d["supplies"][0].update(quantity=0), "$.supplies[0].quantity"),
    (lambda d: d["demands"][0].update(quantity=-3), "$.demands[0].quantity"),
    (lambda d: d["supplies"][0].update(quantity="ten"), "$.supplies[0].quantity"),
    (lambda d: d["sites"][0].update(lat=91), "$.sites[0].lat"),
    (lambda d: d["sites"][1].update(lon=-181), "$.sites[1].lon"),
    (lambda d: d["sites"][1].pop("lon"), "$.sites[1].lon"),
    (lambda d: d["supplies"][0].pop("material"), "$.supplies[0].material"),
    (lambda d: d["demands"][0].update(max_distance_km=0), "$.demands[0].max_distance_km"),
    (lambda d: d["supplies"][0].update(attributes={"loi": "high"}), "$.supplies[0].attributes.loi"),
    (lambda d: d.update(distances=[{"from": "A", "to": "Z", "km": 3}]), "$.distances[0].to"),
    (lambda d: d.update(distances=[{"from": "A", "to": "B", "km": -3}]), "$.distances[0].km"),
    (lambda d: d["parameters"].update(circuity=0.5), "$.parameters.circuity"),
    (lambda d: d["parameters"].update(transport={}), "$.parameters.transport"),
    (lambda d: d["parameters"]["transport"]["road"].update(cost_per_tkm=-1),
     "$.parameters.transport.road.cost_per_tkm"),
    (lambda d: d["parameters"].update(substitutions=[{"material": "a", "replaces": "b", "ratio": 0}]),
     "$.parameters.substitutions[0].ratio"),
    (lambda d: d["parameters"].update(substitutions=[{"material": "a", "replaces": "b", "ratio": 1,
                                                      "max_share": 1.5}]),
     "$.parameters.substitutions[0].max_share"),
    (lambda d: d["parameters"].update(materials={"slag": {"hazardous": True}}),
     "$.parameters.materials.slag.hw_code"),
    (lambda d: d["supplies"][0].update(colour="red"), "$.supplies[0].colour"),
    (lambda d: d["supplies"].append({"id": "s9", "site": "A", "material": "slag", "quantity": 1,
                                     "unit": "m3"}), "$.supplies[1].unit"),
    (lambda d: d.update(sites="none"), "$.sites"),
])
def test_bad_scenario_names_its_path(base_doc: dict[str, Any], mutate: Any, path: str) -> None:
    base_doc["supplies"][0]["unit"] = "t"
    doc = copy.deepcopy(base_doc)
    mutate(doc)
    assert path in paths_of(doc)


def test_all_errors_reported_together(base_doc: dict[str, Any]) -> None:
    base_doc["sites"][0]["lat"] = 100
    base_doc["supplies"][0]["quantity"] = -1
    base_doc["demands"][0]["site"] = "X"
    paths = paths_of(base_doc)
    assert {"$.sites[0].lat", "$.supplies[0].quantity", "$.demands[0].site"} <= set(paths)


def test_unknown_material_with_knowledge_base(base_doc: dict[str, Any]) -> None:
    from matching.knowledge import default_knowledge_base

    try:
        kb = default_knowledge_base()
    except Exception as exc:  # the knowledge base is written concurrently
        pytest.skip(f"knowledge base not loadable yet: {exc}")
    base_doc["parameters"] = {"use_knowledge_base": True}
    base_doc["supplies"][0]["material"] = "no_such_material"
    with pytest.raises(ScenarioError) as info:
        load_scenario(base_doc, knowledge_base=kb)
    assert "$.supplies[0].material" in info.value.paths
    good = next(iter(kb.materials.values()))
    base_doc["supplies"][0].update(material=good.id, unit="GJ" if good.unit != "GJ" else "t")
    with pytest.raises(ScenarioError) as info:
        load_scenario(base_doc, knowledge_base=kb)
    assert "$.supplies[0].unit" in info.value.paths


def test_files_json_yaml_and_unreadable(base_doc: dict[str, Any], tmp_path: Path) -> None:
    import yaml

    (tmp_path / "s.json").write_text(json.dumps(base_doc))
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(base_doc))
    a = load_scenario(tmp_path / "s.json")
    b = load_scenario(tmp_path / "s.yaml")
    assert a.supplies == b.supplies and a.sites == b.sites
    (tmp_path / "bad.json").write_text("{not json")
    assert paths_of(tmp_path / "bad.json") == ["$"]
    assert paths_of(tmp_path / "missing.json") == ["$"]


def test_error_message_lists_paths(base_doc: dict[str, Any]) -> None:
    base_doc["sites"][0]["lat"] = 100
    with pytest.raises(ScenarioError) as info:
        load_scenario(base_doc)
    assert "$.sites[0].lat" in str(info.value)
    assert info.value.to_json()["errors"][0]["path"] == "$.sites[0].lat"


def test_file_reading_keeps_every_error_at_its_path(tmp_path: Path, base_doc: dict[str, Any]) -> None:
    # JSON files are parsed with orjson; what it refuses but the standard library reads (NaN) must still be
    # reported at its path by validation, not as an unreadable file
    path = tmp_path / "s.json"
    path.write_text(json.dumps(base_doc).replace('"quantity": 100.0', '"quantity": NaN'))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.paths == ["$.supplies[0].quantity"]
    path.write_bytes(b'{"sites": [\xff]}')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.paths == ["$"] and "not valid json" in info.value.errors[0][1]
    path.write_text(json.dumps(base_doc))
    assert load_scenario(path).supplies[0].quantity == 100.0


def test_bulk_path_builds_what_the_record_path_builds(base_doc: dict[str, Any]) -> None:
    # plain arrays are checked column by column; one unusual record sends the whole array to the full checks
    doc = copy.deepcopy(base_doc)
    doc["sites"][1]["permits"] = ["hw08 "]
    doc["supplies"].append({"id": "s2", "site": "B", "material": "slag", "quantity": 7})
    plain = load_scenario(doc)
    doc["supplies"][1]["note"] = "forces the record path"
    doc["sites"][0]["name"] = "forces the record path"
    full = load_scenario(doc)
    assert plain.supplies == full.supplies and plain.demands == full.demands
    assert plain.sites[1] == full.sites[1] and plain.sites[1].permits == ("HW08",)
    doc["supplies"][1]["quantity"] = 2**60  # beyond exact floats: the bulk check leaves it to the full one
    assert load_scenario(doc).supplies[1].quantity == float(2**60)
    doc["supplies"][1]["quantity"] = "ten"  # refused at its path, whichever path reads it
    assert paths_of(doc) == ["$.supplies[1].quantity"]
    del doc["supplies"][1]["note"]
    assert paths_of(doc) == ["$.supplies[1].quantity"]
