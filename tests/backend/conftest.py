"""A small world of two parks, four firms and one account per role, built through the real services."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

PASSWORD = "correct-horse-battery"
ROLES = ("admin", "pm_own", "pm_other", "fu_own", "fu_same_park", "fu_other", "planner", "verifier")


@dataclass
class World:
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> int:
        return self.ids[key]


def build_world(session: Any) -> World:
    from backend.schemas import (
        FirmCreate,
        ListingCreate,
        ParkCreate,
        PermitCreate,
        SiteCreate,
        TokenCreate,
        UserCreate,
    )
    from backend.services import firms, listings, parks, permits, sites, users

    w = World()
    admin = users.create_user(session=session, actor=None, user_in=UserCreate(
        email="admin@test.cn", name="Admin", role="admin", password=PASSWORD))
    root = users.actor_for(session, admin)
    for key, code, province, lat, lon in (("park_a", "park-a", "河北省", 39.0, 118.5),
                                          ("park_b", "park-b", "天津市", 39.08, 117.20),
                                          ("park_empty", "park-empty", "山西省", 37.9, 112.5)):
        w.ids[key] = parks.create_park(session=session, actor=root, park_in=ParkCreate(
            code=code, name_zh=f"园区{code}", name_en=f"Park {code}", province=province, lat=lat, lon=lon)).id
    for key, name, park, code in (("firm_a1", "甲电厂", "park_a", "4411"), ("firm_a2", "乙水泥", "park_a", "3011"),
                                  ("firm_a3", "丙空壳", "park_a", "3021"), ("firm_b1", "丁磷肥", "park_b", "2622")):
        w.ids[key] = firms.create_firm(session=session, actor=root, firm_in=FirmCreate(
            name=name, industry_code=code, park_id=w[park])).id
    for key, firm, lat, lon in (("site_a1", "firm_a1", 39.0123, 118.5456), ("site_a1_spare", "firm_a1", 39.05, 118.6),
                                ("site_a2", "firm_a2", 39.1, 118.4), ("site_b1", "firm_b1", 39.12, 117.25)):
        w.ids[key] = sites.create_site(session=session, actor=root, site_in=SiteCreate(
            firm_id=w[firm], name=key, lat=lat, lon=lon)).id
    specs = (
        ("l_public", "site_a1", "public", "active", "fly_ash"),
        ("l_public2", "site_a1", "public", "active", "bottom_ash"),
        ("l_park", "site_a1", "park", "active", "fgd_gypsum"),
        ("l_anon", "site_a1", "anonymous", "active", "fly_ash"),
        ("l_private", "site_a1", "private", "active", "fly_ash"),
        ("l_draft", "site_a1", "public", "draft", "fly_ash"),
        ("l_b_public", "site_b1", "public", "active", "phosphogypsum"),
        ("l_a2_want", "site_a2", "public", "active", "natural_gypsum"),
    )
    for key, site, visibility, status, material in specs:
        kind = "want" if key.endswith("want") else "have"
        w.ids[key] = listings.create_listing(session=session, actor=root, listing_in=ListingCreate(
            site_id=w[site], kind=kind, material=material, quantity=123_456.0, unit="t",
            visibility=visibility, status=status, ref=key.replace("_", "-"),
            description="甲电厂 description" if key == "l_anon" else None)).id
    w.ids["permit_a1"] = permits.create_permit(session=session, actor=root, permit_in=PermitCreate(
        firm_id=w["firm_a1"], number="冀危证-001", hw_codes=["HW08"], valid_from=date(2024, 1, 1),
        valid_to=date(2029, 12, 31))).id
    accounts = {"admin": admin}
    for key, role, firm, parks_ in (("pm_own", "park_manager", None, ["park_a"]),
                                    ("pm_other", "park_manager", None, ["park_b"]),
                                    ("fu_own", "firm_user", "firm_a1", []),
                                    ("fu_same_park", "firm_user", "firm_a2", []),
                                    ("fu_other", "firm_user", "firm_b1", []), ("planner", "planner", None, []),
                                    ("verifier", "verifier", None, []),
                                    ("fu_own_colleague", "firm_user", "firm_a1", [])):
        accounts[key] = users.create_user(session=session, actor=None, user_in=UserCreate(
            email=f"{key.replace('_', '.')}@test.cn", name=key, role=role, password=PASSWORD,
            firm_id=w[firm] if firm else None, park_ids=[w[p] for p in parks_]))
    for key, user in accounts.items():
        w.ids[f"user_{key}"] = user.id
        w.emails[key] = user.email
        _row, token = users.create_token(session=session, actor=users.actor_for(session, user),
                                         token_in=TokenCreate(name="tests"))
        w.tokens[key] = token
    session.flush()
    return w


@pytest.fixture
def world(engine: Any) -> World:
    from backend.db import new_session

    session = new_session()
    try:
        w = build_world(session)
        session.commit()
    finally:
        session.close()
    return w


@pytest.fixture
def app(engine: Any) -> Any:
    from backend.main import create_app

    return create_app()


@pytest.fixture
def client_as(app: Any, world: World) -> Iterator[Callable[[str], TestClient]]:
    """``client_as("pm_own")``: an API client authenticated with that account's personal token."""
    opened: list[TestClient] = []

    def make(role: str) -> TestClient:
        client = TestClient(app)
        client.headers["Authorization"] = f"Bearer {world.tokens[role]}"
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def min_firms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """``min_firms(1)``: the k of the KPIs' k-anonymity (``ISX_KPI_MIN_FIRMS``) for this test."""
    from backend.config import get_settings

    def set_k(k: int) -> None:
        monkeypatch.setenv("ISX_KPI_MIN_FIRMS", str(k))
        get_settings.cache_clear()

    yield set_k
    monkeypatch.delenv("ISX_KPI_MIN_FIRMS", raising=False)
    get_settings.cache_clear()
