"""User journeys in a real Chromium against the real server on the demo region (phase 1 of the web UI:
everything that stands on the platform and the knowledge base). Screenshots go to var/screenshots/."""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import api_client, login, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def nav(page: Any) -> Any:
    return page.get_by_role("navigation", name=re.compile("^(主导航|Main navigation)$"))


def test_firm_user_adds_a_have_fixing_a_validation_error(page: Any) -> None:
    login(page, "firm")
    shoot(page, "01-home-firm-user")
    nav(page).get_by_role("link", name="我的企业").click()
    expect(page.get_by_role("heading", name="发布供需信息")).to_be_visible()
    form = page.locator("#new-listing")

    # The material picker finds fly ash by its Chinese name and shows its unit.
    form.get_by_role("combobox", name="材料").fill("粉煤灰")
    option = page.locator("#new-material-options .material-option[data-material='fly_ash']")
    expect(option).to_be_visible()
    expect(option).to_contain_text("Coal fly ash")
    option.click()
    expect(page.locator("#new-material")).to_have_value("fly_ash")
    expect(page.locator("#new-material-unit")).to_contain_text("t")
    expect(page.locator("#new-unit")).to_have_value("t")

    form.get_by_label("类型").select_option("have")
    form.get_by_label("数量").fill("-5")
    form.get_by_label("编号").fill("WEB-FA-01")
    form.get_by_role("button", name="发布").click()
    error = page.locator("#new-quantity-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("0")
    expect(page.locator("#new-quantity")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#new-material")).to_have_value("fly_ash")  # the rest of the form is kept
    shoot(page, "02-firm-listing-validation-error")

    page.locator("#new-quantity").fill("120000")
    page.locator("#new-listing").get_by_role("button", name="发布").click()
    expect(page.get_by_text("已发布。")).to_be_visible()
    expect(page.locator("#new-quantity-error")).to_have_count(0)
    card = page.locator("[data-testid=haves] article", has_text="WEB-FA-01")
    expect(card).to_contain_text("粉煤灰")
    expect(card).to_contain_text("120,000")
    shoot(page, "03-firm-listings")

    # Inline edit, then close.
    card.get_by_role("button", name=re.compile("编辑")).click()
    edit = page.locator("form.editing")
    edit.get_by_label("数量").fill("130000")
    edit.get_by_role("button", name="保存").click()
    card = page.locator("[data-testid=haves] article", has_text="WEB-FA-01")
    expect(card).to_contain_text("130,000")
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_role("button", name=re.compile("关闭")).click()
    expect(card.locator(".badge.status-closed")).to_be_visible()


CSV_HEADER = ("park,firm,industry_code,site,lat,lon,ref,kind,material,quantity,unit,period,visibility,status\n")


def test_park_manager_imports_a_csv_after_fixing_an_error(page: Any, served: str, tmp_path: Path) -> None:
    bad = tmp_path / "new-firms.csv"
    firm = "caofeidian,曹妃甸网页测试建材有限公司,3021,一厂,38.95,118.51"
    bad.write_text(CSV_HEADER
                   + f"{firm},WEB-IMP-1,want,fly_ash,50000,t,year,public,active\n"
                   + f"{firm},WEB-IMP-2,want,natural_gypsum,-20,t,year,public,active\n", encoding="utf-8")
    login(page, "manager")
    shoot(page, "04-home-park-manager")
    nav(page).get_by_role("link", name="批量导入").click()
    page.get_by_label("CSV 或 XLSX 文件").set_input_files(str(bad))
    page.get_by_role("button", name="预览").click()
    errors = page.locator("[data-testid=row-errors]")
    expect(errors).to_be_visible()
    expect(errors.locator("tbody tr")).to_have_count(1)
    expect(errors.locator("tbody tr").first).to_contain_text("3")
    expect(errors.locator("tbody tr").first).to_contain_text("quantity")
    expect(page.get_by_role("button", name="确认导入")).to_have_count(0)
    shoot(page, "05-import-row-errors")

    good = tmp_path / "new-firms-fixed.csv"
    good.write_text(bad.read_text(encoding="utf-8").replace(",-20,", ",20000,"), encoding="utf-8")
    page.get_by_label("CSV 或 XLSX 文件").set_input_files(str(good))
    page.get_by_role("button", name="预览").click()
    expect(page.locator("[data-testid=preview] tbody tr")).to_have_count(2)
    shoot(page, "06-import-preview")
    page.get_by_role("button", name="确认导入").click()
    expect(page.locator("[data-testid=import-done]")).to_be_visible()

    with api_client(served, "manager") as api:
        found = api.get("/api/v1/listings", params={"q": "曹妃甸网页测试建材"}).json()
    assert sorted(x["ref"] for x in found["data"]) == ["WEB-IMP-1", "WEB-IMP-2"]
    nav(page).get_by_role("link", name="企业管理").click()
    expect(page.get_by_role("link", name="曹妃甸网页测试建材有限公司")).to_be_visible()


def test_park_overview_shows_the_generation_chart(page: Any) -> None:
    login(page, "manager")
    nav(page).get_by_role("link", name="曹妃甸循环经济示范区").click()
    expect(page.locator("#family-chart[data-ready=true]")).to_be_visible()
    expect(page.locator("#family-chart svg")).to_have_count(1)
    expect(page.get_by_role("rowheader", name="灰渣")).to_be_visible()
    shoot(page, "07-park-overview")


def test_planner_filters_the_map_to_fly_ash(page: Any, served: str) -> None:
    with api_client(served, "planner") as api:
        expected = api.get("/api/v1/listings", params={"material": "fly_ash", "status": "active"}).json()["count"]
        everything = api.get("/api/v1/listings", params={"status": "active", "limit": 500}).json()["count"]
        parks = api.get("/api/v1/parks").json()["count"]
    assert 0 < expected < everything
    login(page, "planner")
    nav(page).get_by_role("link", name="区域地图").click()
    map_box = page.locator("#map")
    expect(map_box).to_have_attribute("data-loaded", "true")
    expect(page.locator("path.listing-marker")).to_have_count(everything)
    expect(page.locator("path.park-marker")).to_have_count(parks)
    expect(page.locator(".province-label", has_text="河北")).to_have_count(1)
    shoot(page, "08-map-all")

    page.get_by_label("材料").select_option("fly_ash")
    expect(map_box).to_have_attribute("data-listings", str(expected))
    expect(page.locator("path.listing-marker")).to_have_count(expected)
    expect(page.locator("#map-count")).to_contain_text(str(expected))
    assert "material=fly_ash" in page.url
    shoot(page, "09-map-fly-ash")


def test_switching_language_changes_the_labels(page: Any) -> None:
    page.goto("/login")
    expect(page.get_by_label("电子邮箱")).to_be_visible()
    page.get_by_role("link", name="English").click()
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    shoot(page, "10-login-en")
    login(page, "planner")
    expect(nav(page).get_by_role("link", name="Regional map")).to_be_visible()  # the choice is remembered
    page.get_by_role("button", name="中文").click()
    expect(nav(page).get_by_role("link", name="区域地图")).to_be_visible()
    page.get_by_role("button", name="English").click()
    expect(nav(page).get_by_role("link", name="Regional map")).to_be_visible()
    shoot(page, "11-home-planner-en")
    page.get_by_role("button", name="中文").click()
    expect(nav(page).get_by_role("link", name="区域地图")).to_be_visible()


def test_a_user_without_rights_gets_a_refusal_page(page: Any) -> None:
    page.goto("/import")
    page.wait_for_url(re.compile(r"/login\?next=/import"))  # not signed in: to the login page first
    login(page, "firm")
    answer = page.goto("/import")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="无权访问")).to_be_visible()
    expect(page.get_by_role("link", name="返回首页")).to_be_visible()
    shoot(page, "12-refusal-403")
    answer = page.goto("/no-such-page")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="页面不存在")).to_be_visible()
