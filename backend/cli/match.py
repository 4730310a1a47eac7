"""Matcher commands: ``isx match`` and ``isx screen`` over the pure library ``matching``."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from matching.errors import MatchingError, ScenarioError

LONG_RUN_STREAMS = 10_000


def _parse_objective(text: str) -> str | dict[str, float]:
    """``benefit``, ``co2``, ``diverted`` or a weighted sum ``benefit=1,co2=200``."""
    if "=" not in text:
        return text
    weights: dict[str, float] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        try:
            weights[key.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"bad weight '{part}' (expected name=number)") from None
    return weights


def _load(path: Path):  # type: ignore[no-untyped-def]
    from matching.scenario import load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as exc:
        for where, message in exc.errors:
            typer.echo(f"error: {where}: {message}", err=True)
        raise typer.Exit(2) from None


def _write(data: dict[str, object], out: Path | None) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n", encoding="utf-8")


def _summary(data: dict[str, object], out: Path | None) -> None:
    obj = data["objective"]
    stats = data["stats"]
    assert isinstance(obj, dict) and isinstance(stats, dict)
    links = data["links"]
    assert isinstance(links, list)
    gap = f", gap {obj['gap']:.2%}" if obj.get("gap") is not None else ""
    typer.echo(
        f"{data['status']}{gap}: {len(links)} links, net benefit {obj['net_benefit']:,.0f} yuan/yr, "
        f"{obj['quantity']:,.0f} units moved, {obj['co2_avoided_t']:,.0f} t CO2 avoided, "
        f"{obj['landfill_diverted_t']:,.0f} t kept from landfill; {stats['candidates']} candidate pairs, "
        f"{stats['components']} components, {stats['solver']}, {stats['seconds'].get('total', 0):.2f} s"
        + (f" → {out}" if out else ""), err=out is None)


def match_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (JSON or YAML).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result JSON here.")] = None,
    mode: Annotated[str, typer.Option(help="linear (exact LP optimum) or milp.")] = "linear",
    objective: Annotated[str, typer.Option(help="benefit, co2, diverted, or weights: benefit=1,co2=200.")
                         ] = "benefit",
    time_limit: Annotated[float | None, typer.Option("--time-limit", help="Seconds (MILP).")] = None,
    solver: Annotated[str | None, typer.Option(help="MILP solver: highs, scip or cpsat.")] = None,
) -> None:
    """Propose the exchange links that maximise the objective; exit 2 on bad input."""
    from matching.api import match

    if mode not in ("linear", "milp"):
        typer.echo(f"error: --mode must be linear or milp, not '{mode}'", err=True)
        raise typer.Exit(2)
    parsed = _load(scenario)
    n = len(parsed.supplies) + len(parsed.demands)
    try:
        if n >= LONG_RUN_STREAMS and sys.stderr.isatty():
            with typer.progressbar(length=1, label=f"matching {n:,} streams", file=sys.stderr) as bar:
                result = match(parsed, mode=mode, objective=_parse_objective(objective), time_limit=time_limit,
                               solver=solver)
                bar.update(1)
        else:
            result = match(parsed, mode=mode, objective=_parse_objective(objective), time_limit=time_limit,
                           solver=solver)
    except MatchingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2 if not isinstance(exc, RuntimeError) else 1) from None
    data = result.to_json()
    _write(data, out)
    _summary(data, out)


def screen_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario file: sites with industry (and size).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result JSON here.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Pairs kept per stream (best first).")] = 3,
    everything: Annotated[bool, typer.Option("--all", help="Keep every viable pair.")] = False,
    min_benefit: Annotated[float, typer.Option("--min-benefit", min=0,
                                               help="Yuan a year below which a pair is not proposed.")]
    = 1_000_000.0,
) -> None:
    """Estimate streams from industry profiles, match them and rank the viable pairs by confidence (each
    stream's best --top, or --all); exit 2 on bad input."""
    from matching.screening import screen

    parsed = _load(scenario)
    try:
        result = screen(parsed, top=None if everything else top, min_annual_benefit=min_benefit)
    except MatchingError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    data = result.to_json()
    _write(data, out)
    _summary(data, out)
    typer.echo(f"{len(result.estimated_supplies) + len(result.estimated_demands)} estimated streams, "
               f"{len(result.candidates)} of {result.total_candidates} viable pairs ranked", err=out is None)


def register(root: typer.Typer) -> None:
    """Add ``match`` and ``screen`` to the root ``isx`` app."""
    root.command("match")(match_command)
    root.command("screen")(screen_command)
