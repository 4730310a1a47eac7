"""``isx kb``: browse, check and document the knowledge base."""

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Annotated

import typer

from backend.config import PROJECT_ROOT
from matching.knowledge import (
    KnowledgeBase,
    KnowledgeBaseError,
    Material,
    SubstitutionRule,
    kb_dir,
    load_knowledge_base,
)
from matching.knowledge.docs import number, render_markdown

app = typer.Typer(help="Browse, check and document the knowledge base (seed_data/reference).",
                  no_args_is_help=True)

DEFAULT_DOC = PROJECT_ROOT / "docs" / "knowledge-base.md"


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _report(exc: KnowledgeBaseError) -> None:
    for issue in exc.errors:
        typer.echo(f"error: {issue}", err=True)
    typer.echo(f"{len(exc.errors)} error(s)", err=True)
    raise typer.Exit(2)


def _kb() -> KnowledgeBase:
    """The knowledge base the platform uses (honours ISX_KB_DIR and ISX_KB_OVERRIDES)."""
    from backend.kb import get_kb

    try:
        return get_kb()
    except KnowledgeBaseError as exc:
        _report(exc)
        raise  # unreachable: _report exits


def _material(kb: KnowledgeBase, material_id: str) -> Material:
    found = kb.materials.get(material_id)
    if found is None:
        close = difflib.get_close_matches(material_id, list(kb.materials), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; see 'isx kb materials'"
        _fail(f"unknown material '{material_id}'{hint}")
        raise AssertionError  # unreachable
    return found


def _src(kb: KnowledgeBase, kind: str, key: str) -> str:
    source, confidence = kb.source_of(kind, key)
    return f"[{confidence}: {source}]"


def _rule_line(kb: KnowledgeBase, rule: SubstitutionRule, other: str) -> str:
    unit_rep, unit_mat = kb.materials[rule.replaces].unit, kb.materials[rule.material].unit
    parts = [f"  {other:<24} in {rule.use:<28} ratio {rule.ratio:g} {unit_rep}/{unit_mat}, "
             f"max share {rule.max_share:.0%}"]
    if rule.gates:
        parts.append(f"gates {rule.gates_text}")
    if rule.pretreatment:
        parts.append(f"pretreatment: {rule.pretreatment} ({rule.pretreatment_cost:g} yuan/{unit_mat})")
    if rule.temperature_grade:
        parts.append(f"grade {rule.temperature_grade}")
    if rule.restrictions:
        parts.append(f"note: {rule.restrictions}")
    return "; ".join(parts) + f"  [{rule.confidence}: {rule.source}]"


@app.command("materials")
def materials(family: Annotated[str | None, typer.Option(help="Only this family (e.g. slag, ash).")] = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the materials, optionally of one family."""
    kb = _kb()
    if family is not None and family not in kb.families():
        _fail(f"unknown family '{family}' (known: {', '.join(kb.families())})")
    chosen = sorted((m for m in kb.materials.values() if family is None or m.family == family),
                    key=lambda m: (m.family, m.id))
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(m) for m in chosen], ensure_ascii=False, indent=2))
        return
    for m in chosen:
        code = m.hw_code or m.gb_code or ""
        flag = " hazardous" if m.hazardous else ""
        typer.echo(f"{m.id:<32} {m.family:<18} {m.unit:<3} {code:<5} {m.name_zh} / {m.name_en}{flag}")
    typer.echo(f"{len(chosen)} material(s)")


@app.command("show")
def show(material: Annotated[str, typer.Argument(help="Material id, e.g. fly_ash.")]) -> None:
    """Everything known about one material: codes, uses, prices and factors with their sources."""
    kb = _kb()
    m = _material(kb, material)
    typer.echo(f"{m.id}: {m.name_zh} / {m.name_en}")
    typer.echo(f"  family {m.family}, form {m.form}, unit {m.unit}"
               + (f", density {m.density_t_per_m3:g} t/m3" if m.density_t_per_m3 else ""))
    codes = [f"GB {m.gb_code}" if m.gb_code else "", f"EWC {m.ewc_code}" if m.ewc_code else ""]
    if m.hazardous:
        codes.append(f"HAZARDOUS {m.hw_code}: receiver needs a permit covering it")
    typer.echo(f"  codes: {', '.join(c for c in codes if c) or '—'}  {_src(kb, 'material', m.id)}")
    if m.note:
        typer.echo(f"  note: {m.note}")
    if m.id in kb.prices:
        typer.echo(f"  price: {kb.prices[m.id]:g} yuan/{m.unit}  {_src(kb, 'price', m.id)}")
    if m.disposal_category:
        cat = kb.disposal_categories[m.disposal_category]
        typer.echo(f"  disposal: {cat.total:g} yuan/t = env. tax {cat.env_tax:g} + landfill {cat.landfill_fee:g}"
                   f" ({cat.name_zh})")
        typer.echo(f"    tax {_src(kb, 'disposal_category', cat.id)}; landfill {_src(kb, 'landfill_fee', cat.id)}")
    if m.id in kb.co2_factors:
        typer.echo(f"  CO2 avoided when replaced: {kb.co2_factors[m.id]:g} t/{m.unit}"
                   f"  {_src(kb, 'co2_factor', m.id)}")
    sections: list[tuple[str, list[str]]] = [
        ("can replace", [_rule_line(kb, r, r.replaces) for r in kb.rules_from(m.id)]),
        ("can be replaced by", [_rule_line(kb, r, r.material) for r in kb.rules_to(m.id)]),
        ("not allowed", [f"  {r.material} for {r.replaces} in {r.use or 'any use'}: {r.reason}  "
                         f"[{r.confidence}: {r.source}]" for r in kb.restrictions
                         if m.id in (r.material, r.replaces)]),
        ("produced by", [f"  {p.code} {p.name_zh}: {i.per_unit_output:g} {m.unit} per {p.output_unit}"
                         for p in kb.profiles.values() for i in p.byproducts if i.material == m.id]),
        ("needed by", [f"  {p.code} {p.name_zh}: {i.per_unit_output:g} {m.unit} per {p.output_unit}"
                       for p in kb.profiles.values() for i in p.needs if i.material == m.id]),
        ("targets", [f"  {t.year} {t.name_zh} {t.rate:.0%}" for t in kb.targets_for(m.id)]),
    ]
    for title, lines in sections:
        if lines:
            typer.echo(f"{title}:")
            for line in lines:
                typer.echo(line)


@app.command("profile")
def profile(industry: Annotated[str, typer.Argument(help="GB/T 4754-2017 code, e.g. 4411.")]) -> None:
    """The typical by-products and needs of an industry (falls back to its group or division)."""
    kb = _kb()
    found = kb.profile_for(industry)
    if found is None:
        _fail(f"no profile for industry code '{industry}' (nor its group or division)")
        return
    if found.code != industry.strip():
        typer.echo(f"(no profile for {industry}; showing {found.code})")
    typer.echo(f"{found.code} {found.name_zh} / {found.name_en}")
    typer.echo(f"  output unit {found.output_unit}; typical size {number(found.typical_size)} per year  "
               f"[{found.confidence}: {found.source}]")
    if found.note:
        typer.echo(f"  note: {found.note}")
    for title, items in (("by-products", found.byproducts), ("needs", found.needs)):
        if not items:
            continue
        typer.echo(f"{title} (per {found.output_unit}):")
        for i in items:
            unit = kb.materials[i.material].unit
            span = f" ({i.low:g}–{i.high:g})" if i.low is not None and i.high is not None else ""
            typer.echo(f"  {i.material:<28} {i.per_unit_output:g}{span} {unit}  [{i.confidence}: {i.source}]")


@app.command("check")
def check(directory: Annotated[Path, typer.Argument(help="Knowledge-base folder to validate.")],
          overrides: Annotated[Path | None, typer.Option(help="Overrides file to apply.")] = None) -> None:
    """Validate a knowledge-base folder; exit 2 listing every error on stderr."""
    try:
        kb = load_knowledge_base(directory, overrides=overrides)
    except KnowledgeBaseError as exc:
        _report(exc)
        return
    typer.echo(f"ok: version {kb.version}: {len(kb.materials)} materials, {len(kb.substitutions)} rules, "
               f"{len(kb.restrictions)} restrictions, {len(kb.transport_modes)} transport modes, "
               f"{len(kb.profiles)} profiles, {len(kb.targets)} targets")


@app.command("docs")
def docs(out: Annotated[Path, typer.Option(help="Where to write the page.")] = DEFAULT_DOC,
         check_only: Annotated[bool, typer.Option("--check", help="Exit 1 if the page is out of date.")] = False,
         ) -> None:
    """Generate docs/knowledge-base.md from the data (never edit it by hand)."""
    try:
        text = render_markdown(load_knowledge_base(kb_dir()))
    except KnowledgeBaseError as exc:
        _report(exc)
        return
    if check_only:
        current = out.read_text(encoding="utf-8") if out.is_file() else None
        if current != text:
            typer.echo(f"{out} is out of date: run 'isx kb docs'", err=True)
            raise typer.Exit(1)
        typer.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")

