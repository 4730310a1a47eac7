"""The XLSX report for the management committee, read back by opening the file: KPIs against the targets with
their documents, the deals with their benefit figures and states, the sources; names in the chosen language
beside the codes; rounded; the KPI service's figures; exactly the confidentiality of the other exports."""

import io
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.backend.conftest import World
from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work


@pytest.fixture
def report_world(world: World) -> dict[str, int]:
    """park_a: firm_a1's fly ash → firm_a2's clinker want, active, one documented delivery evidenced and
    verified; firm_a1's anonymous fly ash → firm_b1 (park_b), agreed; a proposed deal (no figures)."""
    from datetime import date

    from backend.schemas_deals import DeliveryCreate, LedgerTransition
    from backend.services import deals

    with unit_of_work(world) as (session, admin):
        clinker = add_listing(session, admin, world["site_a2"], "want", "clinker", 200_000)
        active = seed_deal(session, admin, world["l_public"], clinker, 100_000)
        move(session, admin, active, "opt_in", "negotiate", "agree", "activate", agreed=100_000)
        deals.add_delivery(session=session, actor=admin, deal_id=active, delivery_in=DeliveryCreate(
            delivered_on=date(2026, 3, 1), quantity=20_000, document_ref="磅单-0301"))
        evidence = deals.move_ledger(session=session, actor=admin, deal_id=active,
                                     move=LedgerTransition(action="evidence"))
        ash_b = add_listing(session, admin, world["site_b1"], "want", "fly_ash", 100_000)
        anonymous = seed_deal(session, admin, world["l_anon"], ash_b, 50_000)
        move(session, admin, anonymous, "opt_in", "negotiate", "agree", agreed=50_000)
        proposed = seed_deal(session, admin, world["l_public"], clinker, 1_000)
    with unit_of_work(world, "verifier") as (session, verifier):
        deals.move_ledger(session=session, actor=verifier, deal_id=active, move=LedgerTransition(
            action="verify", record_id=evidence.id, note="磅单核对一致", reference="HC-2026-017"))
    return {"active": active, "anonymous": anonymous, "proposed": proposed}


def _report(client: Any, **params: Any) -> Any:
    response = client.get("/api/v1/exports/report.xlsx", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return load_workbook(io.BytesIO(response.content))


def _table(ws: Any, first_heading: str, after: str | None = None) -> list[dict[str, Any]]:
    """The rows of the table whose header row starts with ``first_heading`` (below the line ``after``)."""
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    start = 0
    if after is not None:
        start = next(i for i, r in enumerate(rows) if r[0] == after)
    header_at = next(i for i in range(start, len(rows)) if rows[i][0] == first_heading)
    header = rows[header_at]
    out = []
    for r in rows[header_at + 1:]:
        if r[0] is None:
            break
        out.append({h: v for h, v in zip(header, r, strict=False) if h is not None})
    return out


def test_the_report_of_a_park_read_back(client_as: Any, world: World, report_world: dict[str, int]) -> None:
    admin = client_as("admin")
    wb = _report(admin, park_id=world["park_a"], year=2026, lang="zh")
    assert wb.sheetnames == ["指标", "交易", "来源"]
    kpi = wb["指标"]
    assert kpi["A1"].value == "工业固体废物综合利用指标与交易报告" and kpi["B2"].value == "园区park-a (park-a)"
    api = admin.get("/api/v1/kpis", params={"park_id": world["park_a"], "year": 2026}).json()["groups"][0]
    # against the targets, with their documents; the KPI service's figures, rounded
    targets = {r["代码"]: r for r in _table(kpi, "代码", after="目标对照（按文件）")}
    fly = next(t for t in api["targets"] if t["id"] == "fly_ash_2020")
    row = targets["fly_ash_2020"]
    assert row["名称"] == fly["name_zh"] and "绿色制造工程实施指南" in row["文件"]
    assert row["综合利用率"] == round(fly["rate_official"], 4) and row["目标利用率"] == 0.75
    assert row["产生量"] == round(fly["generation"], 2) and row["是否达标"] == ("是" if fly["met"] else "否")
    assert kpi.cell(row=next(c.row for c in kpi["A"] if c.value == "fly_ash_2020"), column=8).number_format == "0.00%"
    families = {r["代码"]: r for r in _table(kpi, "代码", after="按材料类别")}
    assert families["ash"]["名称"] == "灰渣" and families["ash"]["单位"] == "t"
    ash = next(f for f in api["families"] if f["family"] == "ash")
    assert families["ash"]["产生量"] == round(ash["generation"], 2)
    by_state = _table(kpi, "效益状态代码", after="已交付效益按状态（估算 / 有凭证 / 已核查）")
    states = {r["效益状态代码"]: r for r in by_state}
    assert states["verified"]["名称"] == "已核查" and states["verified"]["交易数"] == 1

    # the deals of park_a with figures (the proposed one has none), their frozen figures and states
    deals = {r["交易编号"]: r for r in _table(wb["交易"], "交易编号")}
    assert set(deals) == {report_world["active"], report_world["anonymous"]}
    active = deals[report_world["active"]]
    records = admin.get(f"/api/v1/deals/{report_world['active']}/ledger/records").json()
    assert (active["交易状态代码"], active["交易状态"], active["效益状态"]) == ("active", "执行中", "已核查")
    assert active["效益状态代码"] == "verified"
    assert active["材料"] == "粉煤灰" and active["材料代码"] == "fly_ash" and active["被替代原料代码"] == "clinker"
    assert active["CO₂ 减排（吨）"] == round(records[-1]["figures"]["co2_avoided_t"], 2)
    assert active["节约成本（万元）"] == round(records[-1]["figures"]["cost_saved_yuan"] / 1e4, 2)
    assert active["已交付合计"] == 20_000 and active["知识库版本"] == records[-1]["kb_version"]
    assert "HC-2026-017" in active["核查人与报告编号"] and active["否则的去向"] == "填埋"
    assert deals[report_world["anonymous"]]["效益状态"] == "估算"
    # the sources: the targets' documents, every factor of the frozen records with its source
    sources = _table(wb["来源"], "类别")
    factor = next(s for s in sources if s["代码"] == "co2_factor_replaced")
    assert factor["数值"] == 0.85 and "domain.md" in factor["来源"]
    assert f"#{report_world['active']}" in factor["使用的交易"]
    assert any(s["类别"] == "目标" and s["代码"] == "fly_ash_2020" and "绿色制造工程实施指南" in s["来源"]
               for s in sources)
    assert any(s["代码"] == "env_tax" and "环境保护税法" in s["来源"] for s in sources)

    english = _report(admin, park_id=world["park_a"], year=2026, lang="en")
    assert english.sheetnames == ["KPIs", "Deals", "Sources"]
    rows = {r["Deal"]: r for r in _table(english["Deals"], "Deal")}
    assert rows[report_world["active"]]["Material (name)"] == "Coal fly ash"
    assert rows[report_world["active"]]["Benefit state"] == "verified"


def test_the_report_keeps_what_the_reader_may_not_see(client_as: Any, world: World,
                                                       report_world: dict[str, int], min_firms: Any) -> None:
    """A planner sees firm_a1's anonymous fly ash without firm or park: the deal on it is in park_b's report
    (its receiver's park) with an anonymous supplier and figures from the rounded distance, never in park_a's
    (that would tell where the anonymous side is); private quantities count for nobody else; the KPIs are the
    planner's own, where the anonymous listing counts province-wide only (issue 11, defect 5)."""
    min_firms(1)  # the world is too small for k-anonymity
    planner = client_as("planner")
    park_b = _report(planner, park_id=world["park_b"], year=2026, lang="zh")
    text = " ".join(str(c) for ws in park_b for row in ws.iter_rows(values_only=True) for c in row if c is not None)
    assert "甲电厂" not in text
    deals = {r["交易编号"]: r for r in _table(park_b["交易"], "交易编号")}
    assert set(deals) == {report_world["anonymous"]}
    assert deals[report_world["anonymous"]]["供方"] == "匿名" and deals[report_world["anonymous"]]["近似值"] == "是"
    park_a = _report(planner, park_id=world["park_a"], year=2026, lang="zh")
    assert {r["交易编号"] for r in _table(park_a["交易"], "交易编号")} == {report_world["active"]}
    api = planner.get("/api/v1/kpis", params={"park_id": world["park_a"], "year": 2026}).json()
    ash = next(f for f in api["groups"][0]["families"] if f["family"] == "ash")
    families = {r["代码"]: r for r in _table(park_a["指标"], "代码", after="按材料类别")}
    assert families["ash"]["产生量"] == round(ash["generation"], 2) == 2 * 123_456  # not the anonymous one
    hebei_planner = _report(planner, province="河北省", year=2026, lang="zh")
    assert any(c.value == "部分匿名供需只按其数量区间的下限计入（近似值）。" for c in hebei_planner["指标"]["A"])
    # a province: Hebei holds park_a only; its families by park
    hebei = _report(client_as("admin"), province="河北省", year=2026, lang="en")
    by_park = _table(hebei["KPIs"], "Park", after="By park and material family")
    assert {r["Park"] for r in by_park} == {"Park park-a (park-a)"}
    # a firm of park_b sees only the deals it is party to: its own, whose supplier (park_a) it knows since both
    # sides said yes
    other = _report(client_as("fu_other"), park_id=world["park_a"], year=2026)
    assert [r["交易编号"] for r in _table(other["交易"], "交易编号")] == [report_world["anonymous"]]


def test_report_bad_input(client_as: Any, world: World, app: Any) -> None:
    from fastapi.testclient import TestClient

    planner = client_as("planner")
    for params, loc in (({}, ["query", "park_id"]), ({"park_id": world["park_a"], "province": "河北省"},
                                                     ["query", "park_id"]),
                        ({"park_id": 999_999}, ["query", "park_id"]), ({"province": "火星"}, ["query", "province"])):
        response = planner.get("/api/v1/exports/report.xlsx", params=params)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc, params
    assert TestClient(app).get(f"/api/v1/exports/report.xlsx?park_id={world['park_a']}").status_code == 401


@pytest.mark.nodb
def test_every_word_of_the_report_is_in_both_catalogues() -> None:
    from backend.i18n import catalogue
    from backend.models import DEAL_STATUSES, LEDGER_STATES
    from backend.services import reports

    keys = [*reports.KEYS, *(f"deal.status.{s}" for s in DEAL_STATUSES), *(f"ledger_state.{s}" for s in LEDGER_STATES)]
    for lang in ("zh", "en"):
        assert [k for k in keys if k not in catalogue(lang)] == [], lang
