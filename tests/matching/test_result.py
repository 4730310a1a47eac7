"""The result's JSON: written by orjson, in pieces, the same bytes and the same data as the whole."""

from __future__ import annotations

import json
from typing import Any

import pytest

from matching.api import match
from matching.result import json_bytes
from matching.scenario import load_scenario
from tests.matching.test_pipeline import _doc

pytestmark = pytest.mark.nodb


@pytest.mark.parametrize("per_chunk", [1, 2, 5_000])
def test_pieces_are_the_whole(per_chunk: int) -> None:
    result = match(load_scenario(_doc()))
    assert len(result.links) >= 3
    whole = json_bytes(result.to_json())
    assert b"".join(result.json_chunks(links_per_chunk=per_chunk)) == whole
    data = json.loads(whole)
    assert data == json.loads(json.dumps(result.to_json(), indent=2, ensure_ascii=False))  # same data as json
    assert whole.startswith(b'{\n  "status": "optimal",\n  "model": "linear",\n  "objective": {\n    "net_benefit": ')
    assert b'\n  "links": [\n    {\n      "supply": ' in whole


def test_no_links_and_non_ascii(base_doc: dict[str, Any]) -> None:
    base_doc["parameters"]["prices"]["slag"] = 1.0  # nothing pays
    base_doc["supplies"][0]["id"] = "钢渣-1"
    result = match(load_scenario(base_doc))
    assert result.links == ()
    whole = json_bytes(result.to_json())
    assert b"".join(result.json_chunks()) == whole
    assert '"钢渣-1"'.encode() in whole and b'"links": []' in whole


def test_match_pauses_the_collector_and_restores_it() -> None:
    import gc

    from matching.api import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    match(load_scenario(_doc()))
    assert gc.isenabled()
    gc.disable()
    try:
        match(load_scenario(_doc()))
        assert not gc.isenabled()  # someone else's pause is left alone
    finally:
        gc.enable()
