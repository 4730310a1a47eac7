"""A firm's workspace: its sites and listings (haves and wants), with inline create, edit and close.

Firm users work on their own firm; park managers on the firms of their parks; admins on all; planners
read. Every change goes through the API's services, so the same rules and validation apply.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select
from sqlmodel import Session
from starlette.responses import Response

from backend import policy
from backend.api.deps import SessionDep
from backend.api.params import Id
from backend.errors import NotFound, PermissionDenied
from backend.kb import get_kb
from backend.models import LOGISTICS, Firm, Park, Site
from backend.schemas import ListingCreate, ListingUpdate, SiteCreate, SiteUpdate
from backend.services import listings as listings_svc
from backend.services import sites as sites_svc
from backend.services.common import get_or_404
from matching.units import UNITS
from web.deps import CurrentViewer, Viewer
from web.forms import STATE_KEYS, Errors, read_form, submit, validate
from web.templating import render

router = APIRouter(include_in_schema=False)
Form = Annotated[dict[str, str], Depends(read_form)]

LISTING_FIELDS = ("site_id", "ref", "kind", "material", "quantity", "unit", "period", "available_from",
                  "available_to", "price", "disposal_cost", "logistics", "visibility", "status", "description")
NEW_LISTING = {"kind": "have", "period": "year", "status": "active", "visibility": "public"}
SITE_FIELDS = ("name", "address", "lat", "lon", "industry_codes")


def _site_values(form: dict[str, str]) -> dict[str, Any]:
    """The site form's fields; industry codes typed as ``3011; 4430`` (any of ; ， ； or spaces between)."""
    values: dict[str, Any] = {k: form.get(k, "") for k in SITE_FIELDS}
    values["industry_codes"] = [c for c in re.split(r"[;,，；\s]+", values["industry_codes"]) if c]
    return values


def _firm_for(session: Session, viewer: Viewer, firm_id: Id, *, edit: bool) -> Firm:
    firm = session.get(Firm, firm_id)
    if firm is None:
        raise NotFound(f"firm {firm_id} not found")
    allowed = (policy.can_edit_firm_records if edit else policy.can_read_firm_records)(viewer.actor, firm)
    if not allowed:
        raise PermissionDenied("you may not work on this firm's records")
    return firm


def form_options() -> dict[str, Any]:
    return {"units": list(UNITS), "logistics_options": LOGISTICS, "materials": get_kb().materials}


def firm_context(session: Session, viewer: Viewer, firm: Firm) -> dict[str, Any]:
    sites, _ = sites_svc.list_sites(session=session, actor=viewer.actor, firm_id=firm.id, limit=500)
    listings, _ = listings_svc.list_listings(session=session, actor=viewer.actor, firm_id=firm.id,
                                             sort="kind,material", limit=500)
    return {"firm": firm, "park": session.get(Park, firm.park_id), "sites": sites,
            "site_names": {s.id: s.name for s in sites},
            "haves": [x for x in listings if x.kind == "have"], "wants": [x for x in listings if x.kind == "want"],
            "can_edit": policy.can_edit_firm_records(viewer.actor, firm), **form_options()}


@router.get("/firms/{firm_id}")
def firm_page(request: Request, session: SessionDep, viewer: CurrentViewer, firm_id: Id) -> Response:
    firm = _firm_for(session, viewer, firm_id, edit=False)
    context = firm_context(session, viewer, firm) | {
        "form": NEW_LISTING, "errors": {}, "site_form": {}, "site_errors": {}}
    return render(request, "firm.html", context)


# --- listings ------------------------------------------------------------------------------------------
def _listing_input(form: dict[str, str]) -> tuple[ListingCreate | None, Errors]:
    return validate(ListingCreate, {k: form.get(k, "") for k in LISTING_FIELDS})


@router.post("/firms/{firm_id}/listings")
def create_listing(request: Request, session: SessionDep, viewer: CurrentViewer, firm_id: Id,
                   form: Form) -> Response:
    firm = _firm_for(session, viewer, firm_id, edit=True)
    listing_in, errors = _listing_input(form)
    if listing_in is not None:
        new = listing_in
        _, errors = submit(session, lambda: listings_svc.create_listing(session=session, actor=viewer.actor,
                                                                        listing_in=new), conflict_field="ref")
    context = firm_context(session, viewer, firm) | {"site_form": {}, "site_errors": {}}
    if errors:
        return render(request, "firm.html", context | {"form": form, "errors": errors}, block="listings",
                      status_code=422)
    context |= {"form": NEW_LISTING, "errors": {}, "created": True}
    return render(request, "firm.html", context, block="listings")


def _listing_and_firm(session: Session, viewer: Viewer, listing_id: Id) -> tuple[Any, Firm]:
    listing = listings_svc.get_listing(session=session, actor=viewer.actor, listing_id=listing_id)
    firm = get_or_404(session, Firm, listing.firm_id or 0, "listing") if listing.firm_id else None
    if firm is None:
        raise NotFound(f"listing {listing_id} not found")
    return listing, firm


def _card(request: Request, session: Session, viewer: Viewer, listing_id: Id) -> Response:
    listing, firm = _listing_and_firm(session, viewer, listing_id)
    sites, _ = sites_svc.list_sites(session=session, actor=viewer.actor, firm_id=firm.id, limit=500)
    return render(request, "partials/listing_card.html", {
        "l": listing, "site_names": {s.id: s.name for s in sites},
        "can_edit": policy.can_edit_firm_records(viewer.actor, firm), **form_options()})


@router.get("/listings/{listing_id}")
def listing_card(request: Request, session: SessionDep, viewer: CurrentViewer, listing_id: Id) -> Response:
    return _card(request, session, viewer, listing_id)


def _edit_form(request: Request, session: Session, viewer: Viewer, listing_id: Id, form: dict[str, Any],
               errors: Errors, status_code: int = 200) -> Response:
    _listing, firm = _listing_and_firm(session, viewer, listing_id)
    sites, _ = sites_svc.list_sites(session=session, actor=viewer.actor, firm_id=firm.id, limit=500)
    return render(request, "partials/listing_form.html", {
        "listing_id": listing_id, "form": form, "errors": errors, "sites": sites, "firm": firm,
        **form_options()}, status_code=status_code)


@router.get("/listings/{listing_id}/edit")
def edit_listing_form(request: Request, session: SessionDep, viewer: CurrentViewer, listing_id: Id) -> Response:
    listing, firm = _listing_and_firm(session, viewer, listing_id)
    policy.require(policy.can_edit_firm_records(viewer.actor, firm), "you may not edit this listing")
    values = {k: ("" if getattr(listing, k) is None else str(getattr(listing, k))) for k in LISTING_FIELDS}
    if listing.quantity is not None and float(listing.quantity).is_integer():
        values["quantity"] = str(int(listing.quantity))
    values["version"] = str(listing.version or "")  # sent back: a change made meanwhile is not overwritten
    return _edit_form(request, session, viewer, listing_id, values, {})


@router.post("/listings/{listing_id}")
def update_listing(request: Request, session: SessionDep, viewer: CurrentViewer, listing_id: Id,
                   form: Form) -> Response:
    listing_in, errors = _listing_input(form)
    if listing_in is not None:
        changes = listing_in.model_dump(exclude={"attributes"})
        changes.pop("hw_code", None)
        version = form.get("version", "")
        update = ListingUpdate.model_validate(changes | ({"version": int(version)} if version.isdigit()
                                                         and 0 < int(version) < 2**31 else {}))
        _, errors = submit(session, lambda: listings_svc.update_listing(session=session, actor=viewer.actor,
                                                                        listing_id=listing_id, listing_in=update),
                           conflict_field="ref")
    if errors:
        stale = errors.get("__all__")
        if stale is not None and stale.key == STATE_KEYS["listing_version"]:
            # the user's values stay; saving again now overwrites the other change knowingly
            form = form | {"version": str(stale.values.get("current", ""))}
        return _edit_form(request, session, viewer, listing_id, form, errors, status_code=422)
    return _card(request, session, viewer, listing_id)


@router.post("/listings/{listing_id}/close")
def close_listing(request: Request, session: SessionDep, viewer: CurrentViewer, listing_id: Id) -> Response:
    listings_svc.update_listing(session=session, actor=viewer.actor, listing_id=listing_id,
                                listing_in=ListingUpdate(status="closed"))
    return _card(request, session, viewer, listing_id)


# --- sites ---------------------------------------------------------------------------------------------
@router.post("/firms/{firm_id}/sites")
def create_site(request: Request, session: SessionDep, viewer: CurrentViewer, firm_id: Id, form: Form) -> Response:
    firm = _firm_for(session, viewer, firm_id, edit=True)
    site_in, errors = validate(SiteCreate, {"firm_id": firm_id} | _site_values(form))
    if site_in is not None:
        new_site = site_in
        _, errors = submit(session, lambda: sites_svc.create_site(session=session, actor=viewer.actor,
                                                                  site_in=new_site), conflict_field="name")
    context = firm_context(session, viewer, firm) | {"form": NEW_LISTING, "errors": {}}
    if errors:
        return render(request, "firm.html", context | {"site_form": form, "site_errors": errors}, block="sites",
                      status_code=422)
    return render(request, "firm.html", context | {"site_form": {}, "site_errors": {}, "site_created": True},
                  block="sites")


def _site(session: Session, viewer: Viewer, site_id: Id, *, edit: bool) -> tuple[Site, Firm]:
    site, firm = sites_svc.readable_site(session, viewer.actor, site_id)
    if edit:
        policy.require(policy.can_edit_firm_records(viewer.actor, firm), "you may not edit this site")
    return site, firm


@router.get("/sites/{site_id}")
def site_card(request: Request, session: SessionDep, viewer: CurrentViewer, site_id: Id) -> Response:
    site, firm = _site(session, viewer, site_id, edit=False)
    return render(request, "partials/site_card.html",
                  {"s": site, "can_edit": policy.can_edit_firm_records(viewer.actor, firm)})


@router.get("/sites/{site_id}/edit")
def edit_site_form(request: Request, session: SessionDep, viewer: CurrentViewer, site_id: Id) -> Response:
    site, _firm = _site(session, viewer, site_id, edit=True)
    values = {k: "" if getattr(site, k) is None else str(getattr(site, k)) for k in SITE_FIELDS}
    values["industry_codes"] = "; ".join(site.industry_codes or [])
    return render(request, "partials/site_form.html", {"site_id": site_id, "form": values, "errors": {}})


@router.post("/sites/{site_id}")
def update_site(request: Request, session: SessionDep, viewer: CurrentViewer, site_id: Id, form: Form) -> Response:
    site, _firm = _site(session, viewer, site_id, edit=True)
    values: dict[str, Any] = {"firm_id": site.firm_id} | _site_values(form)
    site_in, errors = validate(SiteCreate, values)
    if site_in is not None:  # only the form's fields change (the site's access stays as it is)
        site_update = SiteUpdate.model_validate(site_in.model_dump(include=set(SITE_FIELDS)))
        updated, errors = submit(session, lambda: sites_svc.update_site(session=session, actor=viewer.actor,
                                                                        site_id=site_id, site_in=site_update),
                                 conflict_field="name")
        site = updated or site
    if errors:
        return render(request, "partials/site_form.html", {"site_id": site_id, "form": form, "errors": errors},
                      status_code=422)
    return render(request, "partials/site_card.html", {"s": site, "can_edit": True})


def firms_of_viewer(session: Session, viewer: Viewer) -> list[Firm]:
    """Firms whose records this viewer edits (for pickers and lists)."""
    stmt = select(Firm).order_by(Firm.park_id, Firm.name)
    if viewer.role == "park_manager":
        stmt = stmt.where(Firm.park_id.in_(viewer.actor.park_ids))
    elif viewer.role == "firm_user":
        stmt = stmt.where(Firm.id == (viewer.actor.firm_id or -1))
    elif viewer.role != "admin":
        return []
    return list(session.scalars(stmt))
