"""Planners' pages: KPIs against the utilisation targets (charts), what-if scenarios compared side by side
with a base run, and the downloads of the exports.

KPIs come from ``backend.services.kpis`` (per park / province / region and family, with the knowledge
base's 2020 and 2025 targets); CO2 avoided and tonnes diverted by material family are the benefit ledgers
(``backend.services.deals.get_ledger``) of the committing deals, so every figure is the backend's.
What-if runs are ``backend.services.runs`` runs of kind ``what_if`` (never proposals): the page starts a base
run (no change) and the what-if run over the same scope and options, then compares their results.
"""

from collections import defaultdict
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Query, Request
from sqlalchemy import select
from sqlmodel import Session
from starlette.responses import Response

from backend.api.deps import SessionDep
from backend.api.params import Id, OptionalId
from backend.errors import InvalidInput, NotFound
from backend.kb import get_kb
from backend.models import Firm, Park
from backend.schemas_deals import HubIn, RunCreate
from backend.services import baseline as baseline_svc
from backend.services import kpis as kpis_svc
from backend.services import runs as runs_svc
from web.deps import CurrentViewer, Viewer, page_context, require_role
from web.forms import Errors, FieldError, domain_errors, validate
from web.pages.runs import MultiForm
from web.templating import is_htmx, render

router = APIRouter(include_in_schema=False)
YEARS = (2020, 2025)
Province = Annotated[str | None, Query(max_length=40)]


# --- KPIs ----------------------------------------------------------------------------------------------
def kpi_charts(t: Any, targets: list[dict[str, Any]], park_rows: list[dict[str, Any]], locale: str) -> dict[str, Any]:
    """Chart specs (static/js/charts.js) of the KPI service's figures: rates against targets, and by park the
    tonnes kept out of landfill and the CO2 avoided (both in t, on their own axes)."""
    def pct(v: float | None) -> float | None:
        return None if v is None else round(v * 100, 1)

    return {
        "targets": {
            "categories": [f"{tg['name_zh'] if locale == 'zh' else tg['name_en']} ({tg['year']})" for tg in targets],
            "axes": [{"name": t("kpi.rate_axis"), "percent": True}],
            "series": [
                {"name": t("kpi.rate_official"), "type": "bar", "data": [pct(tg["rate_official"]) for tg in targets]},
                {"name": t("kpi.rate_planned"), "type": "bar", "data": [pct(tg["rate_planned"]) for tg in targets]},
                {"name": t("kpi.target"), "type": "scatter", "data": [pct(tg["target_rate"]) for tg in targets]},
            ]},
        "parks": {
            "categories": [r["name"] for r in park_rows],
            "axes": [{"name": t("kpi.tonnes_axis")}, {"name": t("kpi.co2_axis")}],
            "series": [
                {"name": t("kpi.diverted"), "type": "bar", "data": [round(r["totals"]["diverted_t_planned"])
                                                                      for r in park_rows]},
                {"name": t("kpi.co2"), "type": "bar", "axis": 1,
                 "data": [round(r["totals"]["co2_avoided_t_planned"]) for r in park_rows]},
            ]},
    }


Year = Annotated[int | None, Query(ge=2000, le=2100)]


@router.get("/kpis")
def kpis_page(request: Request, session: SessionDep, viewer: CurrentViewer, province: Province = None,
              year: Year = None) -> Response:
    require_role(viewer, "planner", "admin", "park_manager")
    province = province or None
    context = page_context(request)
    t, name_of = context["t"], context["name_of"]
    parks = list(session.scalars(select(Park).order_by(Park.id)))
    provinces = sorted({p.province for p in parks})
    if province is not None and province not in provinces:
        raise NotFound(f"no park in province '{province}'")
    region = kpis_svc.kpis(session=session, actor=viewer.actor, group_by="region", province=province, year=year)
    by_park = kpis_svc.kpis(session=session, actor=viewer.actor, group_by="park", province=province, year=year)
    park_of = {p.code: p for p in parks}
    group = region["groups"][0] if region["groups"] else None
    targets = group["targets"] if group else []
    park_rows = [g | {"park": park_of.get(g["key"]),
                      "name": name_of(park_of[g["key"]]) if g["key"] in park_of else g["name"]}
                 for g in by_park["groups"]]
    series = baseline_svc.series(session=session, actor=viewer.actor, period="year", province=province)
    monthly = baseline_svc.series(session=session, actor=viewer.actor, period="month", province=province)
    return render(request, "kpis.html", {
        "province": province, "provinces": provinces, "year": region["year"], "targets": targets,
        "families": group["families"] if group else [], "totals": group["totals"] if group else None,
        "approximate": region["approximate"], "park_rows": park_rows,
        "withheld": region["withheld"] + by_park["withheld"], "min_firms": region["min_firms"],
        "series": series["points"],
        "series_month": monthly["points"],
        "charts": kpi_charts(t, targets, park_rows, context["locale"]), "materials": get_kb().materials})


# --- what-if -------------------------------------------------------------------------------------------
def whatif_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    parks = list(session.scalars(select(Park).order_by(Park.id)))
    firms = list(session.scalars(select(Firm).order_by(Firm.park_id, Firm.name)))
    runs, _ = runs_svc.list_runs(session=session, actor=viewer.actor, kind="what_if", limit=20)
    kb = get_kb()
    return {"parks": parks, "firms": firms, "runs": runs,
            "hub_materials": sorted((m for m in kb.materials.values() if m.family in ("ash", "slag", "gypsum")),
                                    key=lambda m: m.id)}


@router.get("/whatif")
def whatif_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    require_role(viewer, "planner", "admin")
    return render(request, "whatif.html", whatif_context(session, viewer) | {"form": {}, "errors": {}})


HUB_FIELDS = ("lat", "lon", "capacity", "fixed_cost")


def _whatif_input(values: dict[str, list[str]]) -> tuple[dict[str, Any] | None, dict[str, str], Errors]:
    form = {k: (v[0] if v else "") for k, v in values.items()}
    errors: Errors = {}
    scope: dict[str, Any] = {"all": True}
    raw_scope = form.get("scope", "")
    if raw_scope.startswith("park:") and raw_scope[5:].isdigit():
        scope = {"park_ids": [int(raw_scope[5:])]}
    elif raw_scope.startswith("province:"):
        scope = {"province": raw_scope[9:]}
    elif raw_scope not in ("", "all"):
        errors["scope"] = FieldError(key="err.choice", msg="choose a scope")
    what_if: dict[str, Any] = {}
    remove = form.get("remove_firm_id", "")
    if remove:
        if remove.isdigit():
            what_if["remove_firm_ids"] = [int(remove)]
        else:
            errors["remove_firm_id"] = FieldError(key="err.choice", msg="choose a firm")
    if form.get("add_hub") == "1":
        hub, hub_errors = validate(HubIn, {"id": "hub1", "materials": values.get("hub_materials", [])}
                                   | {k: form.get(f"hub_{k}", "") for k in HUB_FIELDS})
        for key, err in hub_errors.items():
            errors[f"hub_{key}"] = err
        if hub is not None:
            what_if["hubs"] = [hub.model_dump()]
    if not what_if and not errors:
        errors["change"] = FieldError(key="whatif.err.no_change", msg="choose a change")
    if errors:
        return None, form, errors
    options = {"mode": "milp" if what_if.get("hubs") else "linear", "time_limit": 60.0}
    return {"scope": scope, "options": options, "what_if": what_if}, form, errors


@router.post("/whatif")
def start_whatif(request: Request, session: SessionDep, viewer: CurrentViewer, values: MultiForm,
                 background: BackgroundTasks) -> Response:
    require_role(viewer, "planner", "admin")
    spec, form, errors = _whatif_input(values)
    if spec is not None:
        try:
            base = runs_svc.start_run(session=session, actor=viewer.actor, run_in=RunCreate.model_validate(
                {"kind": "what_if", "scope": spec["scope"], "options": spec["options"]}))
            variant = runs_svc.start_run(session=session, actor=viewer.actor, run_in=RunCreate.model_validate(
                {"kind": "what_if", "scope": spec["scope"], "options": spec["options"], "what_if": spec["what_if"]}))
            background.add_task(runs_svc.submit, base.id or 0)
            background.add_task(runs_svc.submit, variant.id or 0)
            return Response(status_code=200, headers={"HX-Redirect": f"/whatif/{base.id}/{variant.id}"})
        except InvalidInput as exc:
            session.rollback()
            errors = {("hub_" + k if k in HUB_FIELDS else k): v for k, v in domain_errors(exc).items()}
    return render(request, "whatif.html", whatif_context(session, viewer) | {"form": form, "errors": errors},
                  block="whatif_form", status_code=422)


def _summary(run: Any) -> dict[str, Any]:
    """A run's figures; quantities by unit (t, GJ and m³ never add up into one figure)."""
    k = run.kpis or {}
    by_unit: dict[str, float] = defaultdict(float)
    for link in (run.result or {}).get("links", []):
        q = link.get("quantity")
        if q is None and link.get("quantity_band"):
            q = link["quantity_band"].get("min")
        by_unit[link.get("unit") or ""] += float(q or 0.0)
    return {"links": k.get("links"), "net_benefit": k.get("net_benefit"), "quantity_by_unit": dict(by_unit),
            "co2_avoided_t": k.get("co2_avoided_t"), "landfill_diverted_t": k.get("landfill_diverted_t"),
            "unmatched_supplies": k.get("unmatched_supplies"), "unmatched_demands": k.get("unmatched_demands")}


def _by_material(run: Any) -> dict[str, float]:
    """Quantities by material (each in its own canonical unit)."""
    out: dict[str, float] = defaultdict(float)
    for link in (run.result or {}).get("links", []):
        q = link.get("quantity")
        if q is None and link.get("quantity_band"):
            q = link["quantity_band"].get("min")
        out[link["material"]] += float(q or 0.0)
    return out


@router.get("/whatif/{base_id}/{variant_id}")
def compare_page(request: Request, session: SessionDep, viewer: CurrentViewer, base_id: Id,
                 variant_id: Id) -> Response:
    require_role(viewer, "planner", "admin")
    base = runs_svc.get_run(session=session, actor=viewer.actor, run_id=base_id)
    variant = runs_svc.get_run(session=session, actor=viewer.actor, run_id=variant_id)
    if base.kind != "what_if" or variant.kind != "what_if":
        raise NotFound("not a what-if comparison")
    done = base.status in runs_svc.TERMINAL and variant.status in runs_svc.TERMINAL
    mb, mv = _by_material(base), _by_material(variant)
    firms = {f.id: f for f in session.scalars(select(Firm))}
    removed = [firms[i] for i in variant.what_if.get("remove_firm_ids", []) if i in firms]
    sb, sv = _summary(base), _summary(variant)
    context = {"base": base, "variant": variant, "done": done, "sb": sb, "sv": sv,
               "units": sorted(set(sb["quantity_by_unit"]) | set(sv["quantity_by_unit"])),
               "materials": get_kb().materials, "removed": removed, "hubs": variant.what_if.get("hubs", []),
               "by_material": [{"material": m, "base": mb.get(m, 0.0), "variant": mv.get(m, 0.0)}
                               for m in sorted(set(mb) | set(mv), key=lambda m: -max(mb.get(m, 0.0), mv.get(m, 0.0)))]}
    block = "compare" if is_htmx(request) and request.headers.get("HX-Target") == "compare" else None
    return render(request, "compare.html", context, block=block)


# --- downloads -----------------------------------------------------------------------------------------
EXPORTS = (("map.geojson", "geojson", True), ("network.graphml", "graphml", True), ("network.gexf", "gexf", True),
           ("listings.csv", "listings", True), ("deals.csv", "deals", False), ("deliveries.csv", "deliveries", False),
           ("kpis.csv", "kpis", True))


@router.get("/downloads")
def downloads_page(request: Request, session: SessionDep, viewer: CurrentViewer,
                   park_id: Annotated[OptionalId, Query()] = None, province: Province = None,
                   group_by: Literal["park", "province", "region"] = "park") -> Response:
    parks = list(session.scalars(select(Park).order_by(Park.id)))
    province = province or None
    if park_id is not None and all(p.id != park_id for p in parks):
        raise NotFound(f"park {park_id} not found")
    scope = {"park_id": park_id} if park_id is not None else ({"province": province} if province else {})
    files = []
    for name, key, scoped in EXPORTS:
        query: dict[str, Any] = dict(scope) if scoped else {}
        if key == "kpis":
            query["group_by"] = group_by
        files.append({"name": name, "key": key,
                      "href": f"/api/v1/exports/{name}" + ("?" + urlencode(query) if query else "")})
    # the management committee's report is of one park or one province (the park when both are chosen)
    report_scope = {"park_id": park_id} if park_id is not None else ({"province": province} if province else None)
    report = {"name": "report.xlsx", "key": "report",
              "href": f"/api/v1/exports/report.xlsx?{urlencode(report_scope)}" if report_scope else None}
    return render(request, "downloads.html", {"files": files, "report": report, "parks": parks, "park_id": park_id,
                                              "province": province, "group_by": group_by,
                                              "provinces": sorted({p.province for p in parks})})
