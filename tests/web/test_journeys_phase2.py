"""User journeys of phase 2 of the web UI in a real Chromium against the real server on the demo region:
match runs with their live progress bar, forwarding, the proposals inbox and double opt-in, deals, the
exchange network map with its links, KPIs, what-if and the exports. Screenshots 13-23 (Chinese) and their
English variants 24-31 (each journey switches with ?lang=en at its end) go to var/screenshots/.

The tests of this module share one server (and its database) and build on each other in file order: the
firm user adds a have, the park manager's run creates the proposals (one for that have) the firm user answers
and the planner sees on the map.
"""

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.web.conftest import api_client, login, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

POWER_PLANT = "曹妃甸港能发电有限公司"
CEMENT = "曹妃甸冀海水泥粉磨有限公司"


def nav(page: Any) -> Any:
    return page.get_by_role("navigation", name=re.compile("^(主导航|Main navigation)$"))


NEW_HAVE = "WEB-FA-RUN"  # the fly-ash have the firm user adds before the run (its proposal is answered below)


def test_firm_user_adds_a_have_before_the_run(page: Any) -> None:
    login(page, "firm")
    nav(page).get_by_role("link", name="我的企业").click()
    form = page.locator("#new-listing")
    form.get_by_role("combobox", name="材料").fill("粉煤灰")
    page.locator("#new-material-options .material-option[data-material='fly_ash']").click()
    form.get_by_label("类型").select_option("have")
    form.get_by_label("数量").fill("60000")
    form.get_by_label("编号").fill(NEW_HAVE)
    form.get_by_role("button", name="发布").click()
    expect(page.get_by_text("已发布。")).to_be_visible()
    expect(page.locator("[data-testid=haves] article", has_text=NEW_HAVE)).to_contain_text("60,000")


def test_park_manager_runs_the_matcher_and_forwards_proposals(page: Any, served: str) -> None:
    login(page, "manager")
    nav(page).get_by_role("link", name="匹配运行").click()
    expect(page.get_by_role("heading", name="开始匹配")).to_be_visible()
    # Only the Caofeidian park: the other park of this manager stays out of this run.
    page.get_by_label("迁安钢铁建材产业园区").uncheck()
    expect(page.get_by_label("曹妃甸循环经济示范区")).to_be_checked()
    shoot(page, "13-run-start")
    page.get_by_role("button", name="运行匹配").click()
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    run_id = int(page.url.rsplit("/", 1)[1])

    # Watch the progress bar (HTMX polls the run every second) until it reaches 100 %.
    bar = page.locator("#run-bar")
    seen: list[int] = []
    for _ in range(120):
        value = bar.get_attribute("value")
        if value is not None:
            seen.append(int(float(value)))
        if seen and seen[-1] == 100:
            break
        page.wait_for_timeout(250)
    assert seen and seen[-1] == 100, seen
    assert seen == sorted(seen), seen  # never goes back
    expect(page.locator("#run-progress")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("percent")).to_have_text("100 %")
    expect(page.locator("#run-progress")).not_to_have_attribute("hx-trigger", re.compile("every"))

    with api_client(served, "manager") as api:
        run = api.get(f"/api/v1/runs/{run_id}").json()
        open_ = api.get(f"/api/v1/runs/{run_id}/proposals", params={"status": "open", "limit": 500}).json()
    assert run["status"] == "succeeded" and run["percent"] == 100 and open_["count"] > 0
    table = page.get_by_test_id("run-proposals")
    expect(table.locator("tbody tr[data-proposal]")).to_have_count(open_["count"])
    # The same proposals on the map: dashed lines, one per proposal.
    expect(page.locator("#map")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#map")).to_have_attribute("data-links", str(open_["count"]))
    expect(page.locator("path.link.link-proposal")).to_have_count(open_["count"])
    expect(table.locator("tr.explain").first).to_contain_text("约束：")  # the explanation in the page's language
    shoot(page, "14-run-done-proposals-map")

    # Forward all but the power plant's proposals (those the firm user answers in the inbox itself).
    keep = [p["id"] for p in open_["data"] if p["supply"]["firm_name"] == POWER_PLANT
            or p["demand"]["firm_name"] == POWER_PLANT]
    assert keep
    for pid in keep:
        page.locator(f"#fw-{pid}").uncheck()
    forwarded = open_["count"] - len(keep)
    page.get_by_role("button", name=re.compile("将选中的建议转发给企业")).click()
    expect(page.get_by_test_id("forwarded")).to_contain_text(f"已向企业转发 {forwarded} 条建议")
    shoot(page, "15-run-forwarded")
    with api_client(served, "manager") as api:
        after = api.get(f"/api/v1/runs/{run_id}/proposals", params={"limit": 500}).json()["data"]
        deals = api.get("/api/v1/deals", params={"status": "proposed", "limit": 500}).json()
    assert sorted(p["id"] for p in after if p["status"] == "open") == sorted(keep)
    assert deals["count"] == forwarded

    # Screening of the park from industry profiles.
    page.goto("/parks/1/screening")
    expect(page.get_by_role("heading", name=re.compile("基于行业画像的筛查"))).to_be_visible()
    expect(page.get_by_test_id("screening-links").locator("tbody tr").first).to_be_visible()
    shoot(page, "16-screening")

    # The same pages in English: the run (now with only the power plant's proposals open on the map) and
    # the screening.
    page.goto(f"/runs/{run_id}?lang=en")
    expect(page.get_by_role("heading", name="Proposals on the map")).to_be_visible()
    expect(page.locator("#map")).to_have_attribute("data-loaded", "true")
    expect(page.locator("#map")).to_have_attribute("data-links", str(len(keep)))
    explained = page.get_by_test_id("run-proposals").locator("tr.explain").first
    expect(explained).to_contain_text("limits reached:")
    expect(explained).not_to_contain_text("约束")
    shoot(page, "24-run-done-proposals-map-en")
    page.goto("/parks/1/screening?lang=en")
    expect(page.get_by_role("heading", name=re.compile("Screening from industry profiles"))).to_be_visible()
    expect(page.get_by_test_id("screening-links").locator("tbody tr").first).to_be_visible()
    shoot(page, "25-screening-en")


def test_firm_user_sees_a_proposal_after_the_run_and_opts_in(page: Any, served: str) -> None:
    with api_client(served, "firm") as api:
        mine = api.get("/api/v1/proposals", params={"status": "open", "limit": 500}).json()["data"]
    fly_ash = next(p for p in mine if p["material"] == "fly_ash" and p["demand"]["firm_name"] == CEMENT
                   and p["supply"]["ref"] != NEW_HAVE)
    # the have this user added before the run got its own proposal: the user says yes to it in the inbox
    added = [p for p in mine if p["supply"]["ref"] == NEW_HAVE]
    assert added, "the run proposed nothing for the have added through the web page"
    login(page, "firm")
    nav(page).get_by_role("link", name="匹配建议").click()
    own = page.locator(f"#proposal-{added[0]['id']}")
    expect(own).to_contain_text("粉煤灰")
    own.get_by_role("button", name=re.compile("同意，有意向")).click()
    expect(page.locator(f"#proposal-{added[0]['id']}").get_by_test_id("opt-in-state")).to_contain_text("供方已同意")
    card = page.locator(f"#proposal-{fly_ash['id']}")
    expect(card).to_contain_text("粉煤灰")
    expect(card).to_contain_text(CEMENT)
    expect(card.locator(".explanation")).to_contain_text(re.compile(r"^粉煤灰.*替代.*公里：净收益.*约束："))
    expect(card.locator(".explanation")).not_to_contain_text("replaces")
    expect(card).to_contain_text("km")
    shoot(page, "17-proposals-inbox")

    card.get_by_role("button", name=re.compile("同意，有意向")).click()
    card = page.locator(f"#proposal-{fly_ash['id']}")
    expect(card.get_by_role("status")).to_contain_text("已记录您的同意")
    expect(card.get_by_test_id("opt-in-state")).to_contain_text("供方已同意")
    expect(card.get_by_test_id("opt-in-state")).to_contain_text("需方尚未答复")
    with api_client(served, "firm") as api:
        proposal = api.get(f"/api/v1/proposals/{fly_ash['id']}").json()
        deal = api.get(f"/api/v1/deals/{proposal['deal_id']}").json()
    assert deal["status"] == "proposed" and deal["supplier_yes"] and not deal["receiver_yes"]

    # The cement works says yes too (through the API): both sides said yes, the deal is "interested".
    with api_client(served, "admin") as api:
        moved = api.post(f"/api/v1/deals/{deal['id']}/transitions", json={"action": "opt_in", "side": "receiver"},
                         headers={"X-CSRF-Token": api.cookies.get("isx_csrf") or ""})
    assert moved.status_code == 200, moved.text
    card.get_by_role("link", name=re.compile("查看交易")).click()
    expect(page.get_by_test_id("deal-status")).to_have_text("有意向")
    expect(page.get_by_test_id("history").locator("tbody tr")).to_have_count(3)  # create, yes, yes
    page.get_by_role("button", name="开始洽谈").click()
    expect(page.get_by_test_id("deal-status")).to_have_text("洽谈中")
    page.get_by_label(re.compile("约定数量")).fill("-3")
    page.get_by_role("button", name="保存条款").click()
    expect(page.locator("#terms-agreed_quantity-error")).to_be_visible()
    page.get_by_label(re.compile("约定数量")).fill("100000")
    page.get_by_role("button", name="保存条款").click()
    expect(page.locator("#deal-body .alert.success")).to_contain_text("条款已保存")
    page.get_by_label("添加备注").fill("请确认每月运输批次。")
    page.get_by_role("button", name="添加", exact=True).click()
    expect(page.get_by_test_id("notes")).to_contain_text("请确认每月运输批次。")
    page.get_by_role("button", name="达成协议").click()
    expect(page.get_by_test_id("deal-status")).to_have_text("已达成")
    page.get_by_role("button", name="开始执行").click()
    expect(page.get_by_test_id("deal-status")).to_have_text("执行中")
    page.get_by_label("交付日期").fill(date.today().isoformat())  # not before the deal became active (today)
    page.get_by_label(re.compile("^数量")).fill("20000")
    page.get_by_role("button", name="登记交付").click()
    expect(page.get_by_test_id("deliveries").locator("tbody tr")).to_have_count(1)
    ledger = page.get_by_test_id("ledger")
    expect(ledger.locator("tbody tr").first).to_contain_text("100,000.0")  # planned: the agreed quantity
    expect(ledger.locator("tbody tr").first).to_contain_text("20,000.0")  # realised: the delivery
    page.get_by_text(re.compile("输入与系数")).click()
    expect(page.get_by_test_id("ledger-inputs")).to_contain_text("distance_km")
    expect(page.get_by_test_id("deal-explanation")).to_contain_text(re.compile(r"^粉煤灰.*替代.*公里：净收益"))
    shoot(page, "18-deal-page")
    nav(page).get_by_role("link", name="交易").click()
    expect(page.locator(".board-column[data-status=active] .deal-tile")).to_have_count(1)
    shoot(page, "19-deals-board")

    # In English: the inbox (the explanation told from the proposal's parts), the deal and the board.
    page.goto("/proposals?lang=en")
    expect(page.get_by_role("heading", name="Match proposals")).to_be_visible()
    card = page.locator(f"#proposal-{fly_ash['id']}")
    expect(card.locator(".explanation")).to_contain_text(
        re.compile(r"^Coal fly ash replaces .+ km by .+ yuan per t net .+; limits reached: "))
    expect(card.locator(".explanation")).not_to_contain_text("约束")
    shoot(page, "26-proposals-inbox-en")
    page.goto(f"/deals/{deal['id']}?lang=en")
    expect(page.get_by_test_id("deal-status")).to_have_text("Active")
    expect(page.get_by_role("heading", name="Benefit ledger")).to_be_visible()
    page.get_by_text(re.compile("Inputs and factors")).click()
    expect(page.get_by_test_id("ledger-inputs")).to_contain_text("distance_km")
    expect(page.get_by_test_id("deal-explanation")).to_contain_text(re.compile(r"^Coal fly ash replaces .* km by"))
    shoot(page, "27-deal-page-en")
    nav(page).get_by_role("link", name="Deals").click()  # the language is remembered
    expect(page.get_by_role("heading", name="Deals", exact=True)).to_be_visible()
    expect(page.locator(".board-column[data-status=active] .deal-tile")).to_have_count(1)
    shoot(page, "28-deals-board-en")


def test_planner_maps_fly_ash_links_opens_kpis_and_downloads_geojson(page: Any, served: str, tmp_path: Path) -> None:
    with api_client(served, "planner") as api:
        network = api.get("/api/v1/network").json()
    expected = sum(1 for e in network["edges"] if e["material"] == "fly_ash")
    assert 0 < expected < len(network["edges"])
    login(page, "planner")
    nav(page).get_by_role("link", name="区域地图").click()
    map_box = page.locator("#map")
    expect(map_box).to_have_attribute("data-loaded", "true")
    expect(map_box).to_have_attribute("data-links", str(len(network["edges"])))
    page.get_by_label("材料").select_option("fly_ash")
    expect(map_box).to_have_attribute("data-links", str(expected))
    expect(page.locator("path.link")).to_have_count(expected)
    expect(page.locator("#map-count")).to_contain_text(f"{expected} 条连接")
    expect(page.locator("#map-keystones li").first).to_be_visible()
    page.wait_for_timeout(400)  # the map zooms to the links it shows
    shoot(page, "20-map-fly-ash-links")
    page.locator("path.link").first.dispatch_event("click")
    expect(page.locator(".leaflet-popup-content")).to_contain_text("粉煤灰")  # a click opens the details
    page.get_by_label("连接状态").select_option("active")
    expect(map_box).to_have_attribute("data-links", "1")

    nav(page).get_by_role("link", name="指标").click()
    expect(page.locator("#kpi-targets[data-ready=true] svg")).to_have_count(1)
    expect(page.get_by_test_id("kpi-targets")).to_contain_text("2025")
    expect(page.get_by_test_id("kpi-targets")).to_contain_text("2020")
    fly_ash_2020 = page.get_by_test_id("kpi-targets").locator("tr", has_text="粉煤灰综合利用率")
    expect(fly_ash_2020).not_to_contain_text("0.0 %")  # the active fly ash deal commits part of it
    shoot(page, "21-kpis")

    nav(page).get_by_role("link", name="数据下载").click()
    with page.expect_download() as info:
        page.locator("a[data-export=geojson]").click()
    target = tmp_path / "isx-map.geojson"
    info.value.save_as(target)
    geo = json.loads(target.read_text(encoding="utf-8"))
    assert geo["type"] == "FeatureCollection" and geo["features"]
    links = [f for f in geo["features"] if f["properties"]["kind"] == "link"]
    assert len(links) == len(network["edges"])
    shoot(page, "22-downloads")

    # The map of fly-ash links and the KPIs in English.
    page.goto("/map?material=fly_ash&lang=en")
    expect(map_box).to_have_attribute("data-loaded", "true")
    expect(map_box).to_have_attribute("data-links", str(expected))
    expect(page.locator("#map-count")).to_contain_text(f"{expected} links shown")
    expect(page.get_by_label("Link status")).to_be_visible()
    page.wait_for_timeout(400)  # the map zooms to the links it shows
    shoot(page, "29-map-fly-ash-links-en")
    nav(page).get_by_role("link", name="KPIs").click()
    expect(page.locator("#kpi-targets[data-ready=true] svg")).to_have_count(1)
    expect(page.get_by_role("heading", name="Utilisation against the targets")).to_be_visible()
    shoot(page, "30-kpis-en")


def test_planner_compares_a_what_if_with_the_base(page: Any) -> None:
    login(page, "planner")
    nav(page).get_by_role("link", name="情景分析").click()
    page.get_by_role("button", name="运行基准与情景").click()
    expect(page.locator("#wi-change-error")).to_be_visible()  # no change chosen: 422 with the error inline
    page.get_by_label("范围").select_option(label="曹妃甸循环经济示范区")
    page.get_by_label("移除企业").select_option(label=POWER_PLANT)
    page.get_by_role("button", name="运行基准与情景").click()
    page.wait_for_url(re.compile(r"/whatif/\d+/\d+$"))
    expect(page.locator("#compare")).to_have_attribute("data-done", "true", timeout=60_000)
    table = page.get_by_test_id("compare")
    expect(table).to_contain_text("已完成")
    # status, links, unmatched supplies and demands, net benefit (万元), CO2, diverted, and one quantity row per
    # unit: t, GJ and m³ are never added up
    units = table.locator("tbody tr[data-unit]")
    expect(units.first).to_be_visible()
    expect(table.locator("tbody tr")).to_have_count(7 + units.count())
    expect(page.get_by_text(f"移除 {POWER_PLANT}")).to_be_visible()
    shoot(page, "23-whatif-compare")
    page.goto(f"{page.url}?lang=en")
    expect(page.get_by_role("heading", name="Base and what-if side by side")).to_be_visible()
    expect(page.get_by_test_id("compare")).to_contain_text("Finished")
    shoot(page, "31-whatif-compare-en")
