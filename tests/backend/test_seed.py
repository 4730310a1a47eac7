"""The demo region loads, covers what the issue asks for, and seeding twice changes nothing."""

from typing import Any

from sqlalchemy import func, select

HAVES = {"bf_slag", "steel_slag", "fly_ash", "fgd_gypsum", "phosphogypsum", "tailings", "coal_gangue", "co2"}
HEAT = {"steam", "hot_water", "low_grade_heat"}
WANTS = {"clinker", "cement", "natural_gypsum", "sand_aggregate", "clay", "heat", "co2"}


def _seed() -> Any:
    from backend.db import new_session
    from backend.services.seed import seed_demo

    with new_session() as session:
        report = seed_demo(session=session)
        session.commit()
    return report


def test_demo_region_loads_and_is_idempotent(engine: Any) -> None:
    from backend.db import new_session
    from backend.models import AuditLog, BenefitRecord, Deal, Delivery, Firm, Listing, Park, Permit, Site, User

    first = _seed()
    assert first.streams.ok and first.parks_created >= 3
    with new_session() as session:
        count = {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in
                 (Park, Firm, Site, Listing, Permit, User, AuditLog, Deal, Delivery, BenefitRecord)}
        haves = set(session.scalars(select(Listing.material).where(Listing.kind == "have")))
        wants = set(session.scalars(select(Listing.material).where(Listing.kind == "want")))
        roles = set(session.scalars(select(User.role)))
        provinces = set(session.scalars(select(Park.province)))
        biggest_fly_ash = session.scalar(select(func.max(Listing.quantity)).where(Listing.material == "fly_ash"))
    assert count["Park"] >= 3 and count["Firm"] >= 30 and count["Listing"] >= 80
    assert haves >= HAVES and haves & HEAT and wants >= WANTS
    assert roles == {"admin", "park_manager", "firm_user", "planner", "verifier"}
    assert {"河北省", "山西省", "贵州省"} <= provinces
    assert biggest_fly_ash is not None and biggest_fly_ash >= 300_000  # a 2×600 MW plant's scale
    # a few deals, with documented deliveries, one evidenced and one verified
    assert first.deals_created == count["Deal"] >= 3 and count["Delivery"] >= 4
    with new_session() as session:
        states = set(session.scalars(select(BenefitRecord.state)))
        documented = session.scalar(select(func.count()).select_from(Delivery)
                                    .where(Delivery.document_ref.is_not(None)))
    assert states == {"estimated", "evidenced", "verified"} and documented >= 2

    second = _seed()
    s = second.streams
    assert (second.parks_created, second.parks_updated, second.users_created, second.permits_created) == (0, 0, 0, 0)
    assert (s.firms_created, s.firms_updated, s.sites_created, s.sites_updated) == (0, 0, 0, 0)
    assert (s.listings_created, s.listings_updated) == (0, 0) and s.unchanged == count["Listing"]
    assert second.deals_created == 0
    with new_session() as session:
        assert session.scalar(select(func.count()).select_from(AuditLog)) == count["AuditLog"]


def test_seed_cli_prints_the_accounts(engine: Any) -> None:
    from typer.testing import CliRunner

    from backend.cli import app

    result = CliRunner().invoke(app, ["seed", "demo"])
    assert result.exit_code == 0, result.output
    assert "admin@isx-demo.cn" in result.output and "planner-demo-2026" in result.output
