"""Page routes through the composed app (no browser): HTML pages and HTMX fragments, 422 errors inline,
security headers, CSRF, refusals, language, and the API keeping its JSON answers."""

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.db import new_session
from backend.models import Firm, Listing, User
from tests.backend.conftest import PASSWORD, World
from tests.web.conftest import login_form

LISTING = {"kind": "have", "material": "fly_ash", "quantity": "5000", "unit": "t", "period": "year",
           "status": "active", "visibility": "public"}


def listings_of(firm_id: int) -> list[Listing]:
    with new_session() as session:
        return list(session.scalars(select(Listing).where(Listing.firm_id == firm_id).order_by(Listing.id)))


# --- composition, headers, errors ----------------------------------------------------------------------
def test_security_headers_and_no_inline_script_or_style(web_app: Any, world: World) -> None:
    client = TestClient(web_app)
    page = client.get("/login")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) is None, "inline script"
    assert " style=" not in page.text and "<style" not in page.text
    assert "/static/vendor/htmx.min.js" in page.text
    assert client.get("/healthz").headers["content-security-policy"] == csp
    docs = client.get("/docs")  # Swagger UI needs its CDN bundle and an inline bootstrap script
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.headers["content-security-policy"]


def test_static_assets_are_served(web_app: Any) -> None:
    client = TestClient(web_app)
    for path in ("/static/css/isx.css", "/static/js/isx.js", "/static/js/map.js", "/static/geo/provinces.json"):
        assert client.get(path).status_code == 200, path
    assert client.get("/static/nope.js").status_code == 404


def test_tile_server_host_is_admitted_by_the_csp() -> None:
    from web.security import content_security_policy, tile_source

    assert tile_source("https://{s}.tiles.example.cn/{z}/{x}/{y}.png") == "https://*.tiles.example.cn"
    assert "img-src 'self' data: https://tiles.example.cn;" in content_security_policy(
        "https://tiles.example.cn/{z}/{x}/{y}.png")
    assert tile_source("") == "" and tile_source("not a url") == ""


def test_anonymous_visitors_go_to_login_and_the_api_stays_json(web_app: Any, world: World) -> None:
    client = TestClient(web_app, follow_redirects=False)
    home = client.get("/")
    assert home.status_code == 303 and home.headers["location"] == "/login"
    firm = client.get(f"/firms/{world['firm_a1']}")
    assert firm.status_code == 303 and firm.headers["location"] == f"/login?next=/firms/{world['firm_a1']}"
    htmx = client.get("/map", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/login?next=/map"
    api = client.get("/api/v1/parks")
    assert api.status_code == 401 and api.json()["detail"]
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/json"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and "页面不存在" in page.text


def test_login_sets_the_api_session_and_csrf_cookies(web_app: Any, world: World) -> None:
    client = TestClient(web_app, follow_redirects=False)
    wrong = login_form(client, world.emails["fu_own"], "nope-nope")
    assert wrong.status_code == 401 and "邮箱或密码不正确" in wrong.text
    ok = login_form(client, world.emails["fu_own"], PASSWORD, next="https://evil.example/")
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookies = ok.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("isx_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    assert any(c.startswith("isx_csrf=") and "SameSite=strict" in c for c in cookies)
    # the same cookie works for the JSON API
    assert client.get("/api/v1/users/me").json()["email"] == world.emails["fu_own"]
    assert client.get("/login").status_code == 303  # already signed in


def test_logout_needs_the_csrf_token(page_client: Callable[[str], TestClient]) -> None:
    client = page_client("fu_own")
    token = client.headers.pop("X-CSRF-Token")
    refused = client.post("/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    done = client.post("/logout", data={"csrf_token": token}, headers={"HX-Request": ""})
    assert done.status_code == 303 and done.headers["location"] == "/login"


# --- dashboards and refusals ---------------------------------------------------------------------------
def test_home_fits_the_role(page_client: Callable[[str], TestClient], world: World) -> None:
    firm_home = page_client("fu_own").get("/")
    assert firm_home.status_code == 200 and "甲电厂" in firm_home.text
    assert f"/firms/{world['firm_a1']}" in firm_home.text
    pm_home = page_client("pm_own").get("/")
    assert "园区park-a" in pm_home.text and "园区park-b" not in pm_home.text and "/import" in pm_home.text
    planner_home = page_client("planner").get("/")
    assert "园区park-b" in planner_home.text and 'href="/import"' not in planner_home.text
    assert planner_home.headers["vary"].startswith("HX-Request")


def test_users_without_rights_get_a_refusal_page(page_client: Callable[[str], TestClient], world: World) -> None:
    firm_user = page_client("fu_own")
    for path in ("/import", "/manage/firms", "/manage/users", f"/parks/{world['park_a']}",
                 f"/firms/{world['firm_b1']}"):
        page = firm_user.get(path, headers={"HX-Request": ""})
        assert page.status_code == 403, path
        assert "无权访问" in page.text and "<html" in page.text
    fragment = firm_user.get("/import")  # an HTMX request gets the message only
    assert fragment.status_code == 403 and "<html" not in fragment.text and "无权访问" in fragment.text
    manager = page_client("pm_own")
    assert manager.get(f"/parks/{world['park_b']}").status_code == 403
    assert manager.get("/parks/99999").status_code == 404
    assert page_client("planner").get(f"/parks/{world['park_b']}").status_code == 200


# --- a firm's listings and sites -----------------------------------------------------------------------
def test_creating_a_listing_shows_errors_next_to_the_field(page_client: Callable[[str], TestClient],
                                                          world: World) -> None:
    client = page_client("fu_own")
    url = f"/firms/{world['firm_a1']}/listings"
    before = len(listings_of(world["firm_a1"]))
    bad = client.post(url, data=LISTING | {"site_id": world["site_a1"], "quantity": "-3"})
    assert bad.status_code == 422
    assert 'id="new-quantity-error"' in bad.text and 'aria-invalid="true"' in bad.text
    assert "<html" not in bad.text and 'id="listings"' in bad.text  # the listings block, not the page
    assert 'value="fly_ash"' in bad.text  # what was typed is kept
    wrong_unit = client.post(url, data=LISTING | {"site_id": world["site_a1"], "unit": "GJ"})
    assert wrong_unit.status_code == 422 and 'id="new-unit-error"' in wrong_unit.text
    unknown = client.post(url, data=LISTING | {"site_id": world["site_a1"], "material": "moon_dust"})
    assert unknown.status_code == 422 and 'id="new-material-error"' in unknown.text
    assert len(listings_of(world["firm_a1"])) == before

    ok = client.post(url, data=LISTING | {"site_id": world["site_a1"], "ref": "WEB-1", "price": "12.5"})
    assert ok.status_code == 200 and "已发布" in ok.text and "WEB-1" in ok.text
    created = listings_of(world["firm_a1"])[-1]
    assert (created.material, created.quantity, created.price, created.ref) == ("fly_ash", 5000, 12.5, "WEB-1")
    again = client.post(url, data=LISTING | {"site_id": world["site_a1"], "ref": "WEB-1"})
    assert again.status_code == 422 and 'id="new-ref-error"' in again.text


def test_changes_without_the_csrf_token_are_refused(page_client: Callable[[str], TestClient],
                                                    world: World) -> None:
    client = page_client("fu_own")
    before = len(listings_of(world["firm_a1"]))
    del client.headers["X-CSRF-Token"]
    refused = client.post(f"/firms/{world['firm_a1']}/listings", data=LISTING | {"site_id": world["site_a1"]})
    assert refused.status_code == 403 and "CSRF" in refused.text
    forged = client.post(f"/firms/{world['firm_a1']}/listings", data=LISTING | {"site_id": world["site_a1"]},
                         headers={"X-CSRF-Token": "0" * 64})
    assert forged.status_code == 403
    assert len(listings_of(world["firm_a1"])) == before


def test_edit_and_close_a_listing_inline(page_client: Callable[[str], TestClient], world: World) -> None:
    client = page_client("fu_own")
    listing_id = world["l_public"]
    form = client.get(f"/listings/{listing_id}/edit")
    assert form.status_code == 200 and f'hx-post="/listings/{listing_id}"' in form.text
    assert 'value="123456"' in form.text
    bad = client.post(f"/listings/{listing_id}", data=LISTING | {"site_id": world["site_a1"], "quantity": "0"})
    assert bad.status_code == 422 and f'id="l{listing_id}-quantity-error"' in bad.text
    ok = client.post(f"/listings/{listing_id}", data=LISTING | {"site_id": world["site_a1"], "quantity": "777"})
    assert ok.status_code == 200 and f'id="listing-{listing_id}"' in ok.text and "777" in ok.text
    closed = client.post(f"/listings/{listing_id}/close")
    assert closed.status_code == 200 and "status-closed" in closed.text
    with new_session() as session:
        row = session.get(Listing, listing_id)
        assert row is not None and (row.quantity, row.status) == (777, "closed")
    # another firm's user may not touch it
    assert page_client("fu_same_park").post(f"/listings/{listing_id}/close").status_code == 403


def test_sites_create_and_edit_with_inline_errors(page_client: Callable[[str], TestClient], world: World) -> None:
    client = page_client("fu_own")
    bad = client.post(f"/firms/{world['firm_a1']}/sites", data={"name": "三号厂区", "lat": "100", "lon": "118"})
    assert bad.status_code == 422 and 'id="site-lat-error"' in bad.text and 'id="sites"' in bad.text
    ok = client.post(f"/firms/{world['firm_a1']}/sites", data={"name": "三号厂区", "lat": "39.2", "lon": "118.3"})
    assert ok.status_code == 200 and "三号厂区" in ok.text
    edit = client.post(f"/sites/{world['site_a1_spare']}", data={"name": "", "lat": "39", "lon": "118"})
    assert edit.status_code == 422 and f'id="s{world["site_a1_spare"]}-name-error"' in edit.text
    done = client.post(f"/sites/{world['site_a1_spare']}", data={"name": "备用厂区", "lat": "39", "lon": "118",
                                                                 "address": "唐山"})
    assert done.status_code == 200 and "备用厂区" in done.text and "唐山" in done.text


def test_a_site_s_industry_codes_are_edited_on_the_page(page_client: Callable[[str], TestClient],
                                                        world: World) -> None:
    from backend.db import new_session
    from backend.models import Site

    site_id = world["site_a1_spare"]
    with new_session() as session:  # the site has a rail siding: editing other fields must keep it
        site = session.get(Site, site_id)
        assert site is not None
        site.access = ["rail"]
        session.commit()
    client = page_client("fu_own")
    form = client.get(f"/sites/{site_id}/edit")
    assert f'id="s{site_id}-industry_codes"' in form.text
    bad = client.post(f"/sites/{site_id}", data={"name": "备用厂区", "lat": "39", "lon": "118",
                                                 "industry_codes": "4412; 热电"})
    assert bad.status_code == 422 and f'id="s{site_id}-industry_codes-error"' in bad.text
    done = client.post(f"/sites/{site_id}", data={"name": "备用厂区", "lat": "39", "lon": "118",
                                                  "industry_codes": "4412；4430"})
    assert done.status_code == 200 and "4412; 4430" in done.text
    with new_session() as session:
        site = session.get(Site, site_id)
        assert site is not None and site.industry_codes == ["4412", "4430"] and site.access == ["rail"]


def test_planner_reads_a_firm_without_edit_controls(page_client: Callable[[str], TestClient], world: World) -> None:
    page = page_client("planner").get(f"/firms/{world['firm_a1']}", headers={"HX-Request": ""})
    assert page.status_code == 200 and "甲电厂" in page.text
    assert 'id="new-listing"' not in page.text and "/close" not in page.text
    assert "l-private" not in page.text  # private listings stay hidden


def test_material_picker_searches_chinese_and_english(page_client: Callable[[str], TestClient]) -> None:
    client = page_client("fu_own")
    for q in ("粉煤灰", "fly ash", "FLY_ASH"):
        answer = client.get("/materials/options", params={"q": q, "target": "new-"})
        assert answer.status_code == 200
        first = re.search(r'data-material="([a-z_0-9]+)" data-unit="(\w+)"', answer.text)
        assert first and first.groups() == ("fly_ash", "t"), q
    heat = client.get("/materials/options", params={"q": "余热热水"})
    assert 'data-unit="GJ"' in heat.text
    none = client.get("/materials/options", params={"q": "unobtainium"})
    assert "没有与" in none.text
    assert client.get("/materials/options", params={"target": "<x>"}).status_code == 404


# --- park manager pages --------------------------------------------------------------------------------
IMPORT_HEADER = "park,firm,industry_code,site,lat,lon,ref,kind,material,quantity,unit\n"


def test_import_preview_shows_row_errors_then_confirms(page_client: Callable[[str], TestClient]) -> None:
    client = page_client("pm_own")
    assert "批量导入" in client.get("/import", headers={"HX-Request": ""}).text
    bad = (IMPORT_HEADER + "park-a,网页新企业,3021,一厂,39.0,118.5,N-1,have,fly_ash,100,t\n"
           + "park-a,网页新企业,3021,一厂,39.0,118.5,N-2,have,fly_ash,abc,t\n").encode()
    preview = client.post("/import", files={"file": ("firms.csv", bad, "text/csv")})
    assert preview.status_code == 422 and 'data-testid="row-errors"' in preview.text
    assert re.search(r"<td class=\"num\">3</td><td><code>quantity</code>", preview.text)
    assert "确认导入" not in preview.text
    good = bad.replace(b",abc,", b",200,")
    ready = client.post("/import", files={"file": ("firms.csv", good, "text/csv")})
    assert ready.status_code == 200 and "确认导入" in ready.text and 'data-testid="preview"' in ready.text
    token = re.search(r'name="upload" value="([^"]+)"', ready.text)
    assert token
    with new_session() as session:
        assert session.scalar(select(Firm).where(Firm.name == "网页新企业")) is None  # a preview writes nothing
    done = client.post("/import", data={"upload": token.group(1), "confirm": "1"})
    assert done.status_code == 200 and 'data-testid="import-done"' in done.text
    with new_session() as session:
        firm = session.scalar(select(Firm).where(Firm.name == "网页新企业"))
        assert firm is not None
    assert len(listings_of(firm.id or 0)) == 2
    empty = client.post("/import", data={"upload": "", "confirm": "1"})
    assert empty.status_code == 422


def test_import_into_another_park_is_refused_row_by_row(page_client: Callable[[str], TestClient]) -> None:
    data = (IMPORT_HEADER + "park-b,越界企业,3021,一厂,27.0,107.0,,,,,\n").encode()
    answer = page_client("pm_own").post("/import", files={"file": ("x.csv", data, "text/csv")})
    assert answer.status_code == 422 and "park-b" in answer.text


def test_park_overview_has_families_and_targets(page_client: Callable[[str], TestClient], world: World) -> None:
    page = page_client("pm_own").get(f"/parks/{world['park_a']}", headers={"HX-Request": ""})
    assert page.status_code == 200
    chart = re.search(r'data-kpi-chart="([^"]+)"', page.text)
    assert chart and "灰渣" in chart.group(1)
    assert 'data-target="fly_ash_2020"' in page.text and "75.0 %" in page.text  # the knowledge base's target
    assert "/static/vendor/echarts.min.js" in page.text


def test_manage_firms_and_users(page_client: Callable[[str], TestClient], world: World) -> None:
    client = page_client("pm_own")
    bad = client.post("/manage/firms", data={"name": "新材料厂", "industry_code": "30", "park_id": world["park_a"]})
    assert bad.status_code == 422 and 'id="firm-industry_code-error"' in bad.text
    outside = client.post("/manage/firms", data={"name": "新材料厂", "industry_code": "3021",
                                                 "park_id": world["park_b"]})
    assert outside.status_code == 403
    ok = client.post("/manage/firms", data={"name": "新材料厂", "industry_code": "3021", "park_id": world["park_a"]})
    assert ok.status_code == 200 and "新材料厂" in ok.text
    users = client.get("/manage/users")
    assert "fu.own@test.cn" in users.text and "fu.other@test.cn" not in users.text
    short = client.post("/manage/users", data={"email": "new@test.cn", "name": "新人", "firm_id": world["firm_a2"],
                                               "password": "short"})
    assert short.status_code == 422 and 'id="user-password-error"' in short.text and "short" not in short.text
    made = client.post("/manage/users", data={"email": "new@test.cn", "name": "新人", "firm_id": world["firm_a2"],
                                              "password": "long-enough-1"})
    assert made.status_code == 200 and "new@test.cn" in made.text
    off = client.post(f"/manage/users/{world['user_fu_own']}/active", data={"active": "0"})
    assert off.status_code == 200 and off.text.lstrip().startswith("<tr") and "已停用" in off.text
    with new_session() as session:
        user = session.get(User, world["user_fu_own"])
        assert user is not None and user.is_active is False


# --- map -----------------------------------------------------------------------------------------------
def test_map_data_follows_filters_and_visibility(page_client: Callable[[str], TestClient], world: World) -> None:
    client = page_client("planner")
    page = client.get("/map", headers={"HX-Request": ""})
    assert page.status_code == 200 and 'data-url="/map/data"' in page.text and "/static/vendor/leaflet" in page.text
    data = client.get("/map/data", params={"material": "fly_ash"}).json()
    api = client.get("/api/v1/listings", params={"material": "fly_ash", "status": "active"},
                     headers={"HX-Request": ""}).json()
    assert len(data["listings"]) == api["count"] == 2  # public + anonymous; never private or draft
    anonymous = next(x for x in data["listings"] if x["anonymised"])
    assert anonymous["firm"] is None and anonymous["quantity"] is None and anonymous["precision_km"] > 0
    assert {p["id"] for p in data["parks"]} == {world["park_a"], world["park_b"], world["park_empty"]}
    assert data["links"] == []
    tianjin = client.get("/map/data", params={"province": "天津市"}).json()
    assert [p["id"] for p in tianjin["parks"]] == [world["park_b"]]
    assert {x["material"] for x in tianjin["listings"]} == {"phosphogypsum"}
    assert client.get("/map/data", params={"kind": "nonsense"}).status_code == 404


# --- language ------------------------------------------------------------------------------------------
def test_language_by_query_cookie_and_account(page_client: Callable[[str], TestClient], world: World) -> None:
    client = page_client("planner")
    assert "区域地图" in client.get("/", headers={"HX-Request": ""}).text
    english = client.get("/?lang=en", headers={"HX-Request": ""})
    assert "Regional map" in english.text and 'lang="en"' in english.text
    assert any(c.startswith("isx_lang=en") for c in english.headers.get_list("set-cookie"))
    assert "Regional map" in client.get("/", headers={"HX-Request": ""}).text  # remembered
    switched = client.post("/me/language", data={"lang": "zh"})
    assert switched.status_code == 204 and switched.headers["HX-Refresh"] == "true"
    assert "区域地图" in client.get("/", headers={"HX-Request": ""}).text
    client.post("/me/language", data={"lang": "en"})
    with new_session() as session:
        user = session.get(User, world["user_planner"])
        assert user is not None and user.locale == "en"
    fresh = page_client("planner")  # a new browser follows the account's language
    assert "Regional map" in fresh.get("/", headers={"HX-Request": ""}).text
