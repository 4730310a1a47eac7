"""ISX matching: a pure library proposing provably optimal by-product exchange links.

Public API::

    from matching import load_scenario, match, screen, evaluate

    scenario = load_scenario("region.json")
    result = match(scenario)               # exact linear mode; match(scenario, mode="milp") for MILP
    assert evaluate(scenario, result).ok   # independent re-computation of every figure and constraint

No web, database or HTTP imports here (an import-linter contract checks it).
"""

from typing import Any

__all__ = ["evaluate", "load_scenario", "match", "screen"]


def __getattr__(name: str) -> Any:  # lazy: importing matching.knowledge must not pull in the solvers
    if name == "match":
        from matching.api import match

        return match
    if name == "load_scenario":
        from matching.scenario import load_scenario

        return load_scenario
    if name == "screen":
        from matching.screening import screen

        return screen
    if name == "evaluate":
        from matching.evaluate import evaluate

        return evaluate
    raise AttributeError(f"module 'matching' has no attribute {name!r}")
