"""Park managers (and admins) manage the firms of their parks and those firms' user accounts."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlmodel import Session
from starlette.responses import Response

from backend.api.deps import SessionDep
from backend.api.params import Id
from backend.models import Park, User
from backend.schemas import FirmCreate, UserCreate, UserUpdate
from backend.services import firms as firms_svc
from backend.services import users as users_svc
from web.deps import CurrentViewer, Viewer, managed_parks, require_role
from web.forms import read_form, submit, validate
from web.pages.firms import firms_of_viewer
from web.templating import render

router = APIRouter(prefix="/manage", include_in_schema=False)
Form = Annotated[dict[str, str], Depends(read_form)]

FIRM_FIELDS = ("name", "name_en", "industry_code", "park_id", "contact_name", "contact_phone", "contact_email")
USER_FIELDS = ("email", "name", "firm_id", "password")


def _parks(session: Session, viewer: Viewer) -> list[Park]:
    require_role(viewer, "park_manager", "admin")
    return managed_parks(session, viewer)


def firms_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    parks = _parks(session, viewer)
    return {"parks": parks, "park_by_id": {p.id: p for p in parks}, "firms": firms_of_viewer(session, viewer)}


@router.get("/firms")
def firms_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    context = firms_context(session, viewer)
    first_park = str(context["parks"][0].id) if context["parks"] else ""
    return render(request, "manage_firms.html", context | {"form": {"park_id": first_park}, "errors": {}})


@router.post("/firms")
def create_firm(request: Request, session: SessionDep, viewer: CurrentViewer, form: Form) -> Response:
    _parks(session, viewer)
    firm_in, errors = validate(FirmCreate, {k: form.get(k, "") for k in FIRM_FIELDS})
    if firm_in is not None:
        new = firm_in
        _, errors = submit(session, lambda: firms_svc.create_firm(session=session, actor=viewer.actor, firm_in=new),
                           conflict_field="name")
    context = firms_context(session, viewer)
    if errors:
        return render(request, "manage_firms.html", context | {"form": form, "errors": errors}, block="firms",
                      status_code=422)
    return render(request, "manage_firms.html", context | {"form": {"park_id": form.get("park_id", "")},
                                                           "errors": {}, "created": True}, block="firms")


def users_context(session: Session, viewer: Viewer) -> dict[str, Any]:
    _parks(session, viewer)
    users, _ = users_svc.list_users(session=session, actor=viewer.actor, role="firm_user", sort="email", limit=500)
    firms = firms_of_viewer(session, viewer)
    return {"users": users, "firms": firms, "firm_by_id": {f.id: f for f in firms}}


@router.get("/users")
def users_page(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    return render(request, "manage_users.html", users_context(session, viewer) | {"form": {}, "errors": {}})


@router.post("/users")
def create_user(request: Request, session: SessionDep, viewer: CurrentViewer, form: Form) -> Response:
    users_context(session, viewer)
    values = {k: form.get(k, "") for k in USER_FIELDS} | {"role": "firm_user", "locale": "zh"}
    user_in, errors = validate(UserCreate, values)
    if user_in is not None:
        new_user = user_in
        _, errors = submit(session, lambda: users_svc.create_user(session=session, actor=viewer.actor,
                                                                  user_in=new_user), conflict_field="email")
    context = users_context(session, viewer)
    if errors:
        safe_form = {k: v for k, v in form.items() if k != "password"}
        return render(request, "manage_users.html", context | {"form": safe_form, "errors": errors},
                      block="users", status_code=422)
    return render(request, "manage_users.html", context | {"form": {}, "errors": {}, "created": True},
                  block="users")


@router.post("/users/{user_id}/active")
def set_active(request: Request, session: SessionDep, viewer: CurrentViewer, user_id: Id, form: Form) -> Response:
    users_context(session, viewer)
    active = form.get("active") == "1"
    users_svc.update_user(session=session, actor=viewer.actor, user_id=user_id,
                          user_in=UserUpdate(is_active=active))
    user = session.get(User, user_id)
    context = users_context(session, viewer)
    return render(request, "manage_users.html", context | {"u": user}, block="user_row")


