"""The home dashboard: counts and quick links that fit the viewer's role."""

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import func, not_, select
from sqlmodel import Session
from starlette.responses import Response

from backend import disclosure
from backend.api.deps import SessionDep
from backend.api.params import OptionalId
from backend.kb import get_kb
from backend.models import Firm, Listing, Park, Site, User
from backend.services import deals as deals_svc
from web.deps import CurrentViewer, Viewer, managed_parks
from web.templating import render

router = APIRouter(include_in_schema=False)


def listing_counts(session: Session, viewer: Viewer, *, firm_id: OptionalId = None) -> dict[tuple[int, str, str], int]:
    """(park id, kind, status) -> number of listings this viewer may see in each park: listings anonymised for
    the viewer are not counted by park (``backend.disclosure``: that would place them in their park)."""
    stmt = (select(Firm.park_id, Listing.kind, Listing.status, func.count())
            .join(Firm, Firm.id == Listing.firm_id)
            .where(disclosure.visible_clause(viewer.actor), not_(disclosure.anonymised_clause(viewer.actor)))
            .group_by(Firm.park_id, Listing.kind, Listing.status))
    if firm_id is not None:
        stmt = stmt.where(Listing.firm_id == firm_id)
    return {(row[0], row[1], row[2]): int(row[3]) for row in session.execute(stmt)}


def park_rows(session: Session, viewer: Viewer, parks: list[Park]) -> list[dict[str, Any]]:
    counts = listing_counts(session, viewer)
    firms = dict(session.execute(select(Firm.park_id, func.count()).group_by(Firm.park_id)).all())
    return [{"park": p, "firms": firms.get(p.id, 0),
             "haves": counts.get((p.id, "have", "active"), 0), "wants": counts.get((p.id, "want", "active"), 0),
             "drafts": sum(n for (pid, _k, s), n in counts.items() if pid == p.id and s == "draft")}
            for p in parks]


@router.get("/")
def home(request: Request, session: SessionDep, viewer: CurrentViewer) -> Response:
    context: dict[str, Any] = {}
    if viewer.role == "firm_user" and viewer.firm is not None:
        counts = listing_counts(session, viewer, firm_id=viewer.firm.id)
        context["mine"] = {
            "sites": session.scalar(select(func.count()).select_from(Site).where(Site.firm_id == viewer.firm.id)),
            "haves": sum(n for (_p, k, s), n in counts.items() if k == "have" and s == "active"),
            "wants": sum(n for (_p, k, s), n in counts.items() if k == "want" and s == "active"),
            "drafts": sum(n for (_p, _k, s), n in counts.items() if s == "draft"),
            "closed": sum(n for (_p, _k, s), n in counts.items() if s == "closed"),
        }
    else:
        parks = managed_parks(session, viewer) if viewer.role == "park_manager" else \
            list(session.scalars(select(Park).order_by(Park.id)))
        context["parks"] = park_rows(session, viewer, parks)
        if viewer.role == "verifier":  # the deals whose evidence awaits a verifier
            context["awaiting"], _ = deals_svc.list_deals(session=session, actor=viewer.actor,
                                                          ledger_state="evidenced", limit=100)
            context["materials"] = get_kb().materials
        if viewer.role == "park_manager":
            park_ids = [p.id for p in parks]
            context["firm_users"] = session.scalar(
                select(func.count()).select_from(User).join(Firm, Firm.id == User.firm_id)
                .where(User.role == "firm_user", Firm.park_id.in_(park_ids))) or 0
    return render(request, "home.html", context)
