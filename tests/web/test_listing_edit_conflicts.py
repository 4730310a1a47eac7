"""The listing form under the one writer of listings: it carries the version it was read at (a change made
meanwhile is not overwritten unknowingly), refuses what deals forbid with the catalogue's words next to the
field, and answers a busy database with 503 and Retry-After as a fragment, never a 500."""

import os
import re
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from backend.db import new_session
from backend.models import Listing
from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work

FORM = {"kind": "have", "material": "fly_ash", "unit": "t", "period": "year", "status": "active",
        "visibility": "public"}


def _version_in(html: str) -> str:
    found = re.search(r'name="version" value="(\d*)"', html)
    assert found, html[:400]
    return found.group(1)


def _stored(listing_id: int) -> Listing:
    with new_session() as session:
        row = session.get(Listing, listing_id)
        assert row is not None
        return row


def test_a_change_made_meanwhile_is_not_overwritten_unknowingly(page_client: Callable[[str], TestClient],
                                                                world: World) -> None:
    listing_id = world["l_public"]
    client = page_client("fu_own")
    opened = client.get(f"/listings/{listing_id}/edit")
    assert _version_in(opened.text) == "1"
    # a colleague changes the listing while the form is open
    colleague = page_client("pm_own")
    assert colleague.patch(f"/api/v1/listings/{listing_id}", json={"quantity": 2_000}).status_code == 200
    data = FORM | {"site_id": world["site_a1"], "quantity": "777", "version": "1"}
    stale = client.post(f"/listings/{listing_id}?lang=en", data=data)
    assert stale.status_code == 422 and "Someone else changed this listing" in stale.text
    assert _version_in(stale.text) == "2" and 'value="777"' in stale.text  # the user's values are kept
    assert _stored(listing_id).quantity == 2_000
    again = client.post(f"/listings/{listing_id}", data=data | {"version": "2"})  # saved knowingly
    assert again.status_code == 200 and (_stored(listing_id).quantity, _stored(listing_id).version) == (777, 3)


def test_the_form_refuses_a_cut_below_the_deals_in_the_pages_language(page_client: Callable[[str], TestClient],
                                                                       world: World) -> None:
    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a1"], "have", "fly_ash", 1_000)
        want = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 1_000)
        deal = seed_deal(session, admin, have, want, 800)
        move(session, admin, deal, "opt_in", "negotiate", "agree", agreed=800)
    client = page_client("fu_own")
    data = FORM | {"site_id": world["site_a1"], "quantity": "100", "version": "1"}
    cut = client.post(f"/listings/{have}?lang=zh", data=data)
    assert cut.status_code == 422 and f'id="l{have}-quantity-error"' in cut.text
    assert "已确认和执行中的交易已占用本挂牌每年 800 t" in cut.text
    swap = client.post(f"/listings/{have}?lang=en", data=data | {"quantity": "1000", "material": "bottom_ash"})
    assert swap.status_code == 422 and f'id="l{have}-material-error"' in swap.text
    assert "its kind, material and unit cannot change" in swap.text
    assert _stored(have).quantity == 1_000 and _stored(have).material == "fly_ash"


@pytest.mark.skipif(not os.environ.get("ISX_TEST_DATABASE_URL"),
                    reason="row locks and lock_timeout are PostgreSQL's (run with ISX_TEST_DATABASE_URL)")
def test_a_held_lock_answers_503_with_retry_after_as_a_fragment(page_client: Callable[[str], TestClient],
                                                                world: World, database_url: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import text

    from backend import db
    from backend.config import Settings, get_settings

    client = page_client("fu_own")
    quick = db.build_engine(database_url, Settings(db_lock_timeout_ms=200))
    monkeypatch.setattr(db, "get_engine", lambda: quick)
    monkeypatch.setattr(get_settings(), "busy_retry_after_s", 4)
    with db.engine_for(database_url).connect() as holder:  # another request holds the listing's row lock
        holder.execute(text("SELECT id FROM listing WHERE id = :id FOR UPDATE"), {"id": world["l_public"]})
        busy = client.post(f"/listings/{world['l_public']}?lang=en",
                           data=FORM | {"site_id": world["site_a1"], "quantity": "777"})
        holder.rollback()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "4"
    assert 'data-status="503"' in busy.text and "<html" not in busy.text and "try again" in busy.text
    assert _stored(world["l_public"]).quantity == 123_456
    done = client.post(f"/listings/{world['l_public']}", data=FORM | {"site_id": world["site_a1"], "quantity": "777"})
    assert done.status_code == 200
    quick.dispose()


@pytest.mark.skipif(not os.environ.get("ISX_TEST_DATABASE_URL"),
                    reason="the connection pool's limits are PostgreSQL's here (run with ISX_TEST_DATABASE_URL)")
def test_an_exhausted_pool_answers_a_503_page(page_client: Callable[[str], TestClient], world: World,
                                              database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend import db
    from backend.config import Settings

    client = page_client("fu_own")
    del client.headers["HX-Request"]  # a full page load
    tiny = db.build_engine(database_url, Settings(db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.2))
    monkeypatch.setattr(db, "get_engine", lambda: tiny)
    with tiny.connect():  # a long request holds the only connection
        busy = client.get(f"/firms/{world['firm_a1']}?lang=en")
    assert busy.status_code == 503 and busy.headers["Retry-After"].isdigit()
    assert "<html" in busy.text and "The server is busy" in busy.text
    assert client.get(f"/firms/{world['firm_a1']}").status_code == 200
    tiny.dispose()
