"""The confidentiality property, endpoint by endpoint: an anonymous listing's firm, site, place, reference,
description and exact quantity reach neither another firm's user nor a planner, from any GET endpoint that
answers about listings, deals, runs or KPIs (enumerated from the app's OpenAPI paths, so that a new endpoint
must be classified here before the suite passes), and park-scoped answers do not change when the hidden
listing's quantity or place within its cell changes (nothing to difference).

A firm, 隐秘化工, lists only one anonymous fly ash in park_a at a site of its own. It is proposed by a match
run, on a proposed deal with firm_b1 (no opt-in yet) and on an active deal with firm_a2 with a delivery; a
planner ran a what-if over it. Hypothesis moves its quantity and its site (within one 0.1° cell)."""

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, add_site, move, seed_deal, unit_of_work

API = "/api/v1"
SECRET_FIRM = "隐秘化工"
SECRET_REF = "SECRET-REF-7"
SECRET_NOTE = "机密说明文字"
DEAL_QTY = 4_321.98
DELIVERY_QTY = 1_234.56
ROLES = ("fu_other", "planner")

# Every GET path answering about listings, deals, runs or KPIs, with the ids to ask it with ("{x}" keys).
ABOUT = {
    "/listings": [{}, {"park_id": "{park_a}"}, {"firm_id": "{secret_firm}"}, {"q": SECRET_FIRM}],
    "/listings/{listing_id}": [{}],
    "/proposals": [{}], "/proposals/{proposal_id}": [{}],
    "/deals": [{}], "/deals/{deal_id}": [{}], "/deals/{deal_id}/events": [{}], "/deals/{deal_id}/notes": [{}],
    "/deals/{deal_id}/deliveries": [{}], "/deals/{deal_id}/ledger": [{}], "/deals/{deal_id}/ledger/records": [{}],
    "/runs": [{}], "/runs/{run_id}": [{}], "/runs/{run_id}/proposals": [{}],
    "/kpis": [{}, {"park_id": "{park_a}"}, {"group_by": "region"}, {"group_by": "province"}],
    "/network": [{}, {"park_id": "{park_a}"}],
    "/network/resilience": [{"firm_id": "{secret_firm}"}, {"firm_id": "{firm_b1}"}],
    "/exports/map.geojson": [{}, {"park_id": "{park_a}"}], "/exports/network.graphml": [{}],
    "/exports/network.gexf": [{}], "/exports/listings.csv": [{}, {"park_id": "{park_a}"}],
    "/exports/deals.csv": [{}], "/exports/deliveries.csv": [{}], "/exports/kpis.csv": [{}, {"park_id": "{park_a}"}],
    "/exports/report.xlsx": [{"park_id": "{park_a}"}, {"province": "河北省"}],
    "/baseline/series": [{}, {"park_id": "{park_a}"}],
    "/parks/{park_id}/screening": [{}],
}
# GET paths that answer about something else: firm records (firms, sites, permits and a firm's own waste
# ledger are read under policy.can_read_firm_records), accounts, parks, the knowledge base, audit, health.
NOT_ABOUT = {"/users/me", "/users/me/tokens", "/users", "/users/{user_id}", "/parks", "/parks/{park_id}",
             "/firms", "/firms/{firm_id}", "/sites", "/sites/{site_id}", "/permits", "/permits/{permit_id}",
             "/materials", "/materials/{material_id}", "/audit", "/overrides", "/baseline/entries"}
# Screening from industry profiles names every firm of a park by its industry, as GET /firms does: the firm's
# name is no secret there (its link to the anonymous listing is).
NAMES_FIRMS = {"/parks/{park_id}/screening"}
PARK_SCOPED = [("/kpis", {"park_id": "{park_a}"}), ("/listings", {"park_id": "{park_a}"}),
               ("/network", {"park_id": "{park_a}"}), ("/exports/kpis.csv", {"park_id": "{park_a}"}),
               ("/baseline/series", {"park_id": "{park_a}"})]


def test_every_endpoint_is_classified(app: Any) -> None:
    paths = {p.removeprefix(API) for p, ops in app.openapi()["paths"].items() if "get" in ops and p.startswith(API)}
    assert paths == set(ABOUT) | NOT_ABOUT, "classify the new endpoint in ABOUT (and test it) or NOT_ABOUT"


@pytest.fixture
def secret(world: World, min_firms: Any) -> Iterator[dict[str, Any]]:
    from backend.schemas import FirmCreate
    from backend.schemas_deals import DeliveryCreate, RunCreate
    from backend.services import deals, firms, runs

    min_firms(1)  # show every aggregate: the suite looks for what they would carry
    with unit_of_work(world) as (session, admin):
        firm = firms.create_firm(session=session, actor=admin, firm_in=FirmCreate(
            name=SECRET_FIRM, industry_code="2612", park_id=world["park_a"])).id or 0
        site = add_site(session, admin, firm, "secret yard", 39.0437, 118.5219)
        listing = add_listing(session, admin, site, "have", "fly_ash", 76_543.21, visibility="anonymous")
        from backend.models import Listing

        row = session.get(Listing, listing)
        row.ref, row.description = SECRET_REF, SECRET_NOTE
        session.add(row)
        want_b1 = add_listing(session, admin, world["site_b1"], "want", "fly_ash", 200_000)
        want_a2 = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 200_000)
        proposed = seed_deal(session, admin, listing, want_b1, DEAL_QTY)
        active = seed_deal(session, admin, listing, want_a2, DEAL_QTY)
        move(session, admin, active, "opt_in", "negotiate", "agree", "activate")
        deals.add_delivery(session=session, actor=admin, deal_id=active, delivery_in=DeliveryCreate(
            delivered_on=date(2026, 1, 15), quantity=DELIVERY_QTY, document_ref="WB-1"))
        match_run = runs.start_run(session=session, actor=admin, run_in=RunCreate.model_validate(
            {"scope": {"all": True}})).id or 0
    runs.execute_run(match_run)
    with unit_of_work(world, "planner") as (session, planner):
        what_if = runs.start_run(session=session, actor=planner, run_in=RunCreate.model_validate(
            {"kind": "what_if", "scope": {"all": True}, "what_if": {"remove_firm_ids": [firm]}})).id or 0
    runs.execute_run(what_if)
    with unit_of_work() as (session, _):
        from sqlalchemy import or_, select

        from backend.models import Proposal

        proposals = list(session.scalars(select(Proposal.id).where(
            or_(Proposal.supply_listing_id == listing, Proposal.demand_listing_id == listing))))
    assert proposals, "the match run proposes the secret fly ash"
    yield {"secret_firm": firm, "site": site, "listing_id": listing, "deal_ids": [proposed, active],
           "proposal_id": proposals[0], "run_ids": [match_run, what_if], "park_a": world["park_a"],
           "park_id": world["park_a"], "firm_b1": world["firm_b1"]}


def _urls(ids: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, queries in ABOUT.items():
        fills: list[dict[str, Any]] = [{}]
        for key in ("deal_id", "run_id"):
            if "{" + key + "}" in path:
                fills = [{key: v} for v in ids[f"{key}s"]]
        for fill in fills:
            url = API + path.format(**{**ids, **fill})
            for query in queries:
                yield path, url, {k: (str(v).format(**ids) if isinstance(v, str) else v) for k, v in query.items()}


def _text(response: Any) -> str:
    if response.headers.get("content-type", "").startswith(
            "application/vnd.openxmlformats-officedocument.spreadsheetml"):
        from io import BytesIO

        from openpyxl import load_workbook

        wb = load_workbook(BytesIO(response.content), read_only=True)
        return " ".join(str(c) for ws in wb for row in ws.iter_rows(values_only=True) for c in row if c is not None)
    return response.text


def _secrets(quantity: float, lat: float, lon: float, firm_id: int) -> list[str]:
    """Regular expressions of what must not appear: names as they are, numbers not inside longer numbers."""
    words = [SECRET_FIRM, SECRET_REF, SECRET_NOTE, f"firm:{firm_id}"]
    numbers = [f"{lat:.4f}", f"{lon:.4f}", repr(lat), repr(lon)]
    for q in (quantity, DEAL_QTY, DELIVERY_QTY):
        numbers += [f"{q:.2f}", f"{q:,.2f}", repr(q)]
    return [re.escape(w) for w in words] + [rf"(?<![\d.,]){re.escape(n)}(?!\d)" for n in numbers]


@settings(max_examples=3, deadline=None, database=None, phases=(Phase.generate,),
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quantity=st.integers(31_000_00, 99_999_99).map(lambda c: c / 100).filter(lambda q: q * 100 % 10),
       dlat=st.integers(1, 99).filter(lambda k: k % 10), dlon=st.integers(1, 99).filter(lambda k: k % 10))
def test_no_endpoint_reveals_the_anonymous_listing(client_as: Any, secret: dict[str, Any], quantity: float,
                                                  dlat: int, dlon: int) -> None:
    from backend.schemas import ListingUpdate, SiteUpdate
    from backend.services import listings, sites

    lat, lon = round(39.0 + dlat / 1000 + 0.0001, 4), round(118.5 + dlon / 1000 + 0.0001, 4)  # cell (39.05, 118.55)
    with unit_of_work() as (session, _):
        from backend.models import User
        from backend.services.users import actor_for

        root = actor_for(session, session.query(User).filter(User.role == "admin").first())
        listings.update_listing(session=session, actor=root, listing_id=secret["listing_id"],
                                listing_in=ListingUpdate(quantity=quantity))
        sites.update_site(session=session, actor=root, site_id=secret["site"], site_in=SiteUpdate(lat=lat, lon=lon))
    hidden = _secrets(quantity, lat, lon, secret["secret_firm"])
    for role in ROLES:
        client = client_as(role)
        for path, url, query in _urls(secret):
            response = client.get(url, params=query)
            assert response.status_code < 500, (role, url, query, response.status_code)
            text = _text(response)
            for pattern in hidden:
                if path in NAMES_FIRMS and pattern == re.escape(SECRET_FIRM):
                    continue
                assert not re.search(pattern, text), (role, url, query, pattern)
    # park-scoped answers: the same whatever the hidden quantity and place (nothing to difference); a deal's
    # distance, routed when the deal was made, is left aside: the site moves here after its deals were made
    planner = client_as("planner")
    seen = {path: re.sub(r'"distance_km":[0-9.]+', "", _text(planner.get(
        API + path, params={k: v.format(**secret) for k, v in q.items()}))) for path, q in PARK_SCOPED}
    before = secret.setdefault("park_scoped", seen)
    for path, text in seen.items():
        assert text == before[path], path


def test_the_owner_side_sees_it_whole(client_as: Any, secret: dict[str, Any]) -> None:
    """The suite's secrets are really there for the owner side (so that their absence above means something)."""
    admin = client_as("admin")
    text = admin.get(f"{API}/listings/{secret['listing_id']}").text
    assert SECRET_REF in text and "76543.21" in text and "39.0437" in text
    deal = admin.get(f"{API}/deals/{secret['deal_ids'][1]}").json()
    assert deal["quantity"] == DEAL_QTY and deal["supplier_firm_name"] == SECRET_FIRM
    assert f"{DELIVERY_QTY}" in admin.get(f"{API}/exports/deliveries.csv").text
