"""Anonymous listings never leak their firm, site, exact place or quantity to other firms: not in reads,
not in lists, and not through filters (firm, park, text, distance) or sorting."""

from typing import Any

from tests.backend.conftest import World

EXACT = (39.0123, 118.5456)  # site_a1, where l_anon really is
COARSE = (39.05, 118.55)     # centre of its 0.1-degree cell


def _anon_row(client: Any, world: World, **params: Any) -> dict[str, Any] | None:
    rows = client.get("/api/v1/listings", params={"limit": 500, **params}).json()["data"]
    return next((r for r in rows if r["id"] == world["l_anon"]), None)


def test_other_firm_sees_no_identity(client_as: Any, world: World) -> None:
    for role in ("fu_other", "fu_same_park", "pm_other", "planner"):
        body = client_as(role).get(f"/api/v1/listings/{world['l_anon']}").json()
        assert body["anonymised"] is True
        assert body["firm_id"] is None and body["firm_name"] is None and body["site_id"] is None
        assert body["park_id"] is None and body["ref"] is None and body["description"] is None
        assert body["quantity"] is None
        assert body["quantity_band"] == {"min": 100_000.0, "max": 300_000.0}
        assert (body["lat"], body["lon"]) == COARSE
        assert body["location_precision_km"] >= 10
        assert "甲电厂" not in str(body) and "123456" not in str(body)


def test_owner_manager_and_admin_see_it_whole(client_as: Any, world: World) -> None:
    for role in ("fu_own", "pm_own", "admin"):
        body = client_as(role).get(f"/api/v1/listings/{world['l_anon']}").json()
        assert body["anonymised"] is False
        assert body["firm_id"] == world["firm_a1"] and body["quantity"] == 123_456.0
        assert (body["lat"], body["lon"]) == EXACT


def test_filters_cannot_single_out_an_anonymous_listing(client_as: Any, world: World) -> None:
    client = client_as("fu_other")
    assert _anon_row(client, world) is not None
    assert _anon_row(client, world, firm_id=world["firm_a1"]) is None
    assert _anon_row(client, world, park_id=world["park_a"]) is None
    assert _anon_row(client, world, q="甲电厂") is None  # firm name
    assert _anon_row(client, world, q="description") is None  # its hidden description
    assert _anon_row(client, world, q="fly_ash") is not None  # the material is public
    # The owner's view of the same filters does find it.
    owner = client_as("fu_own")
    assert _anon_row(owner, world, firm_id=world["firm_a1"]) is not None
    assert _anon_row(owner, world, q="甲电厂") is not None


def test_distance_filter_uses_the_coarse_point(client_as: Any, world: World) -> None:
    other, owner = client_as("fu_other"), client_as("fu_own")
    tiny = {"near_lat": EXACT[0], "near_lon": EXACT[1], "radius_km": 0.5}
    # A 500 m circle round the exact spot finds the exact listings for the owner, but not the anonymous
    # one for another firm: it is only known by its coarse point, about 5 km away.
    assert _anon_row(owner, world, **tiny) is not None
    assert _anon_row(other, world, **tiny) is None
    public = {r["id"] for r in other.get("/api/v1/listings", params=tiny).json()["data"]}
    assert world["l_public"] in public
    coarse = {"near_lat": COARSE[0], "near_lon": COARSE[1], "radius_km": 0.5}
    row = _anon_row(other, world, **coarse)
    assert row is not None and row["distance_km"] == 0.0


def test_sorting_by_quantity_does_not_reveal_the_exact_quantity(client_as: Any, world: World) -> None:
    from backend.db import new_session
    from backend.models import Listing

    with new_session() as session:  # put an exact-quantity public listing in the same band, just above
        listing = session.get(Listing, world["l_public"])
        assert listing is not None
        listing.quantity = 123_457.0
        session.add(listing)
        session.commit()
    for order in ("quantity", "-quantity"):
        params = {"sort": order, "material": "fly_ash"}
        rows = client_as("fu_other").get("/api/v1/listings", params=params).json()["data"]
        anon_pos = next(i for i, r in enumerate(rows) if r["id"] == world["l_anon"])
        public_pos = next(i for i, r in enumerate(rows) if r["id"] == world["l_public"])
        # Sorted by its band floor (100 000), the anonymous listing sorts below 123 457 both ways round.
        assert (anon_pos < public_pos) == (order == "quantity")
