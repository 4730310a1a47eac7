"""One owner for commitments: every path that changes a listing (API PATCH, import, web form, deletes) goes
through ``services.listings`` under the row lock ``agree`` takes, so no listing ever falls below what agreed
and active deals commit, nor changes kind, material or unit while deals hold it; a version refuses lost
updates; a park manager's import never reaches a listing he may not edit, not even to learn that it exists.
Races between every writing path run on PostgreSQL with real threads and connections."""

import os
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work
from tests.backend.test_import import _post

ON_PG = bool(os.environ.get("ISX_TEST_DATABASE_URL"))
needs_pg = pytest.mark.skipif(not ON_PG, reason="racing writers need PostgreSQL row locks and connections of "
                                                "their own; SQLite serialises writers itself (run with "
                                                "ISX_TEST_DATABASE_URL)")
IMPORT_HEADER = "park,firm,industry_code,site,lat,lon,ref,kind,material,quantity,unit,visibility"
SITE_A1 = "park-a,甲电厂,4411,site_a1,39.0123,118.5456"  # the world's firm_a1 and its site, as the import names them


def _row(ref: str, quantity: float, material: str = "fly_ash", visibility: str = "public", kind: str = "have",
         unit: str = "t") -> str:
    return f"{SITE_A1},{ref},{kind},{material},{quantity:.10g},{unit},{visibility}"


def _csv(*rows: str, header: str = IMPORT_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _have_with_ref(world: World, ref: str, quantity: float, visibility: str = "public") -> int:
    from backend.schemas import ListingCreate
    from backend.services import listings

    with unit_of_work(world) as (session, admin):
        return listings.create_listing(session=session, actor=admin, listing_in=ListingCreate(
            site_id=world["site_a1"], kind="have", material="fly_ash", quantity=quantity, unit="t",
            status="active", visibility=visibility, ref=ref)).id or 0


@pytest.fixture
def want(world: World) -> int:
    """A fly-ash want at firm_a2 (the park of the haves' firm_a1), larger than any have here."""
    with unit_of_work(world) as (session, admin):
        return add_listing(session, admin, world["site_a2"], "want", "fly_ash", 1_000_000)


def _have(world: World, quantity: float) -> int:
    with unit_of_work(world) as (session, admin):
        return add_listing(session, admin, world["site_a1"], "have", "fly_ash", quantity)


def _agreed_deal(world: World, have: int, want: int, quantity: float) -> int:
    with unit_of_work(world) as (session, admin):
        deal = seed_deal(session, admin, have, want, quantity)
        move(session, admin, deal, "opt_in", "negotiate", "agree", agreed=quantity)
    return deal


def _listing(listing_id: int) -> Any:
    from backend.models import Listing

    with unit_of_work() as (session, _):
        return session.get(Listing, listing_id)


# --- defect 1: the import applies the same rule as PATCH, row by row, all or nothing ------------------
def test_reimport_cannot_cut_a_listing_below_its_deals(client_as: Any, world: World,
                                                      want: int) -> None:
    have = _have_with_ref(world, "ASH-1", 1_000)
    _agreed_deal(world, have, want, 800)
    client = client_as("pm_own")
    file = _csv(_row("NEW-1", 5_000), _row("ASH-1", 100))  # row 2 creates, row 3 cuts below the deal
    for dry_run in (True, False):
        answer = _post(client, file, dry_run=dry_run)
        errors = answer.json()["errors"] if dry_run else answer.json()["detail"]
        if dry_run:
            assert answer.status_code == 200 and answer.json()["ok"] is False
            assert [(e["row"], e["column"], e["code"]) for e in errors] == [(3, "quantity", "listing_committed")]
            assert errors[0]["values"] == {"committed": "800", "unit": "t"}
        else:
            assert answer.status_code == 422
            assert [d["loc"] for d in errors] == [["file", "row", 3, "quantity"]]
            assert "800" in errors[0]["msg"]
    assert _listing(have).quantity == 1_000 and _listing(have).version == 1
    refs = [x["ref"] for x in client.get("/api/v1/listings", params={"firm_id": world["firm_a1"],
                                                                   "limit": 500}).json()["data"]]
    assert "NEW-1" not in refs  # the good row was not written either
    assert _post(client, _csv(_row("ASH-1", 800)), dry_run=False).json()["listings_updated"] == 1
    assert _listing(have).quantity == 800 and _listing(have).version == 2


@pytest.mark.parametrize(("column", "row"), [("material", _row("ASH-1", 1_000, material="bottom_ash")),
                                             ("kind", _row("ASH-1", 1_000, kind="want")),
                                             ("unit", _row("ASH-1", 1_000_000, unit="kg"))])
def test_reimport_cannot_change_what_deals_hold(client_as: Any, world: World, want: int,
                                                column: str, row: str) -> None:
    have = _have_with_ref(world, "ASH-1", 1_000)
    _agreed_deal(world, have, want, 100)
    answer = _post(client_as("pm_own"), _csv(row), dry_run=False)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["file", "row", 2, column]
    after = _listing(have)
    assert (after.kind, after.material, after.unit, after.quantity) == ("have", "fly_ash", "t", 1_000)


def test_reimport_version_column_refuses_a_lost_update(client_as: Any, world: World) -> None:
    have = _have_with_ref(world, "ASH-1", 1_000)
    client = client_as("pm_own")
    header = IMPORT_HEADER + ",version"
    assert _post(client, _csv(_row("ASH-1", 900) + ",1", header=header), dry_run=False).json()["ok"] is True
    stale = _post(client, _csv(_row("ASH-1", 700) + ",1", header=header), dry_run=False)
    assert stale.status_code == 422 and stale.json()["detail"][0]["loc"] == ["file", "row", 2, "version"]
    assert _listing(have).quantity == 900 and _listing(have).version == 2
    bad = _post(client, _csv(_row("ASH-1", 700) + ",two", header=header), dry_run=False)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["file", "row", 2, "version"]


# --- defect 7: a park manager's import reaches only listings he may edit ------------------------------
def test_manager_import_never_touches_a_private_listing(client_as: Any, world: World) -> None:
    client = client_as("pm_own")  # manages park-a, firm_a1's park; may not see firm_a1's private listing
    answer = _post(client, _csv(_row("l-private", 1, visibility="public")), dry_run=False)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["file", "row", 2, "ref"]
    private = _listing(world["l_private"])
    assert (private.quantity, private.visibility, private.version) == (123_456, "private", 1)


def test_manager_dry_run_cannot_tell_a_hidden_ref_from_an_unused_one(client_as: Any, world: World) -> None:
    client = client_as("pm_own")

    def dry(ref: str) -> dict[str, Any]:
        body = _post(client, _csv(_row(ref, 1))).json()
        for line in body["preview"]:
            line.pop("ref")
        return body

    hidden, absent = dry("l-private"), dry("no-such-ref")
    assert hidden == absent
    assert hidden["ok"] is True and hidden["listings_created"] == 1 and hidden["listings_updated"] == 0
    assert [p["action"] for p in hidden["preview"]] == ["create"]
    # the listing he may edit is matched, as before
    visible = _post(client, _csv(_row("l-public", 1))).json()
    assert visible["listings_updated"] == 1 and visible["preview"][0]["action"] == "update"
    # the firm's own user, and admins, still update their private listing by its ref
    admin = _post(client_as("admin"), _csv(_row("l-private", 1, visibility="private"))).json()
    assert admin["listings_updated"] == 1


# --- versions: PATCH refuses a lost update ------------------------------------------------------------
def test_patch_with_a_stale_version_is_refused(client_as: Any, world: World) -> None:
    client = client_as("fu_own")
    url = f"/api/v1/listings/{world['l_public']}"
    first = client.get(url).json()
    assert first["version"] == 1
    changed = client.patch(url, json={"quantity": 1_000, "version": 1})
    assert changed.status_code == 200 and changed.json()["version"] == 2
    lost = client.patch(url, json={"quantity": 2_000, "version": 1})
    assert lost.status_code == 409 and lost.json()["code"] == "listing_version"
    assert lost.json()["loc"] == ["body", "version"]
    assert client.get(url).json()["quantity"] == 1_000
    assert client.patch(url, json={"quantity": 3_000}).json()["version"] == 3  # no version: last writer wins
    assert client.patch(url, json={"quantity": 3_000}).json()["version"] == 3  # no change, no new version
    assert client_as("fu_other").get(f"/api/v1/listings/{world['l_anon']}").json()["version"] is None


def test_the_openapi_contract_documents_the_version(client_as: Any, world: World) -> None:
    spec = client_as("admin").get("/openapi.json").json()
    update = spec["components"]["schemas"]["ListingUpdate"]["properties"]["version"]
    assert "409" in update["description"]
    assert {"409", "503"} <= set(spec["paths"]["/api/v1/listings/{listing_id}"]["patch"]["responses"])


def test_delete_of_a_listing_with_deals_is_refused_with_its_code(client_as: Any, world: World,
                                                                want: int) -> None:
    have = _have_with_ref(world, "ASH-1", 1_000)
    _agreed_deal(world, have, want, 100)
    answer = client_as("fu_own").delete(f"/api/v1/listings/{have}")
    assert answer.status_code == 409 and answer.json()["code"] == "listing_in_deals"


# --- races on PostgreSQL: every writing path against agree, and against itself ------------------------
def _race(*calls: Callable[[], str], lag: float = 0.0) -> list[str]:
    """Start the calls in threads at the same instant (each with its own session and connection), the last
    one ``lag`` seconds later; their outcomes in call order. Trials sweep the lag so that the last call lands
    at every point of the others' transactions (not a timing assertion: it only varies the interleaving)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = ["unfinished"] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        if i == len(calls) - 1 and lag:
            time.sleep(lag)
        outcomes[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _committed(listing_id: int) -> float:
    from backend.models import Deal

    with unit_of_work() as (session, _):
        return float(session.scalar(select(func.coalesce(func.sum(Deal.agreed_quantity), 0.0)).where(
            Deal.supply_listing_id == listing_id, Deal.status.in_(("agreed", "active")))) or 0.0)


def _negotiating(world: World, have: int, want: int, quantity: float) -> int:
    from backend.schemas_deals import DealTerms
    from backend.services import deals

    with unit_of_work(world) as (session, admin):
        deal = seed_deal(session, admin, have, want, quantity)
        move(session, admin, deal, "opt_in", "negotiate")
        deals.update_terms(session=session, actor=admin, deal_id=deal, terms_in=DealTerms(
            agreed_quantity=quantity, start_date=date(2026, 1, 1)))
    return deal


def _agree(world: World, deal: int) -> Callable[[], str]:
    def call() -> str:
        from backend.errors import Conflict
        from backend.schemas_deals import DealTransition
        from backend.services import deals

        try:
            with unit_of_work(world) as (session, admin):
                deals.transition(session=session, actor=admin, deal_id=deal, move=DealTransition(action="agree"))
            return "agreed"
        except Conflict:
            return "refused"
    return call


def _patch(world: World, listing_id: int, role: str = "fu_own", **fields: Any) -> Callable[[], str]:
    def call() -> str:
        from backend.errors import Conflict
        from backend.schemas import ListingUpdate
        from backend.services import listings

        try:
            with unit_of_work(world, role) as (session, actor):
                listings.update_listing(session=session, actor=actor, listing_id=listing_id,
                                        listing_in=ListingUpdate.model_validate(fields))
            return "changed"
        except Conflict:
            return "refused"
    return call


def _import(world: World, data: bytes, role: str = "pm_own") -> Callable[[], str]:
    def call() -> str:
        from backend.services.imports import ImportRejected, run_import

        try:
            with unit_of_work(world, role) as (session, actor):
                run_import(session=session, actor=actor, data=data, filename="cut.csv", dry_run=False)
            return "changed"
        except ImportRejected:
            return "refused"
    return call


TRIALS = 20
LAG_STEP = 0.002  # seconds between the trials' lags: 0 to 38 ms, about the length of an agreement


@needs_pg
def test_patch_racing_agree_never_over_commits(world: World, want: int) -> None:
    """Defect 2: a cut to 50 t and an agreement of 60 t on a 100 t listing, twenty times at the same instant:
    one of the two wins, never both."""
    outcomes = []
    for trial in range(TRIALS):
        have = _have(world, 100)
        deal = _negotiating(world, have, want, 60)
        agreed, cut = _race(_agree(world, deal), _patch(world, have, quantity=50), lag=trial * LAG_STEP)
        outcomes.append((agreed, cut))
        assert (agreed, cut) in (("agreed", "refused"), ("refused", "changed")), outcomes
        assert _committed(have) <= _listing(have).quantity
    assert len(outcomes) == TRIALS


@needs_pg
def test_import_racing_agree_never_over_commits(world: World, want: int) -> None:
    for trial in range(TRIALS):
        ref = f"RACE-{trial}"
        have = _have_with_ref(world, ref, 100)
        deal = _negotiating(world, have, want, 60)
        agreed, cut = _race(_agree(world, deal), _import(world, _csv(_row(ref, 50))), lag=trial * LAG_STEP)
        assert (agreed, cut) in (("agreed", "refused"), ("refused", "changed")), (trial, agreed, cut)
        assert _committed(have) <= _listing(have).quantity


@needs_pg
def test_patch_racing_patch_with_one_version_loses_one(world: World) -> None:
    for trial in range(TRIALS):
        have = _have_with_ref(world, f"V-{trial}", 100)
        outcomes = _race(_patch(world, have, quantity=200, version=1),
                         _patch(world, have, "pm_own", quantity=300, version=1))
        assert sorted(outcomes) == ["changed", "refused"], (trial, outcomes)
        after = _listing(have)
        assert after.version == 2 and after.quantity == (200 if outcomes[0] == "changed" else 300)


@needs_pg
def test_agree_racing_agree_and_cut_together(world: World, want: int) -> None:
    """Two agreements of 40 t and a cut to 50 t on a 100 t listing: whatever the order, what is committed
    fits what is listed."""
    for trial in range(TRIALS // 2):
        have = _have(world, 100)
        first, second = (_negotiating(world, have, want, 40) for _ in range(2))
        _race(_agree(world, first), _agree(world, second), _patch(world, have, quantity=50),
              lag=2 * trial * LAG_STEP)
        assert _committed(have) <= _listing(have).quantity + 1e-9


@needs_pg
def test_deliveries_and_corrections_racing_stay_within_the_tolerance(world: World) -> None:
    """Deliveries and a correction race on a deal agreed at 100 t a year (+10 %): the year's total never
    exceeds 110 t."""
    from backend.errors import DomainError
    from backend.models import Delivery
    from backend.schemas_deals import DeliveryCorrection, DeliveryCreate
    from backend.services import deals

    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a1"], "have", "fly_ash", 1_000)
        want = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 1_000)
        deal = seed_deal(session, admin, have, want, 100)
        move(session, admin, deal, "opt_in", "negotiate", "agree", "activate", agreed=100)
        first = deals.add_delivery(session=session, actor=admin, deal_id=deal, delivery_in=DeliveryCreate(
            delivered_on=date(2026, 3, 1), quantity=10)).id or 0

    def deliver(day: int) -> Callable[[], str]:
        def call() -> str:
            try:
                with unit_of_work(world) as (session, admin):
                    deals.add_delivery(session=session, actor=admin, deal_id=deal, delivery_in=DeliveryCreate(
                        delivered_on=date(2026, 3, day), quantity=30))
                return "recorded"
            except DomainError:
                return "refused"
        return call

    def correct() -> str:
        try:
            with unit_of_work(world) as (session, admin):
                deals.correct_delivery(session=session, actor=admin, deal_id=deal, delivery_id=first,
                                       correction=DeliveryCorrection(delivered_on=date(2026, 3, 1), quantity=40,
                                                                     reason="weighbridge slip"))
            return "recorded"
        except DomainError:
            return "refused"

    _race(*(deliver(day) for day in range(2, 8)), correct)
    with unit_of_work() as (session, _):
        total = session.scalar(select(func.sum(Delivery.quantity)).where(
            Delivery.deal_id == deal, Delivery.voided_at.is_(None)))
    assert total <= 110 + 1e-9



@needs_pg
def test_delete_racing_a_new_deal_never_leaves_a_deal_without_its_listing(world: World, want: int) -> None:
    """Deleting a listing while a deal on it is being recorded: either the deal exists and the delete is
    refused (409), or the listing is gone and the deal refused (422); never a foreign-key failure (500)."""
    from backend.errors import DomainError
    from backend.services import listings

    def delete(listing_id: int) -> Callable[[], str]:
        def call() -> str:
            try:
                with unit_of_work(world) as (session, admin):
                    listings.delete_listing(session=session, actor=admin, listing_id=listing_id)
                return "deleted"
            except DomainError:
                return "refused"
        return call

    def record(listing_id: int) -> Callable[[], str]:
        def call() -> str:
            try:
                with unit_of_work(world) as (session, admin):
                    seed_deal(session, admin, listing_id, want, 10)
                return "recorded"
            except DomainError:
                return "refused"
        return call

    for trial in range(TRIALS):
        have = _have(world, 100)
        outcome = _race(record(have), delete(have), lag=trial * LAG_STEP / 2)
        assert outcome in (["recorded", "refused"], ["refused", "deleted"]), (trial, outcome)
