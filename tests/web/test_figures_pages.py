"""Pages of issue 12 through the composed app (no browser): plausible inputs, delivery corrections, units and
money, the KPI and baseline pages."""

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.backend.conftest import World


def test_pages_refuse_in_the_page_language_and_the_park_page_lists_outliers(
        page_client: Callable[[str], TestClient], world: World) -> None:
    firm = page_client("fu_own")
    form = {"site_id": str(world["site_a1"]), "kind": "have", "material": "fly_ash", "quantity": "1e30", "unit": "t",
            "period": "year", "visibility": "public", "status": "active"}
    refused = firm.post(f"/firms/{world['firm_a1']}/listings", data=form)
    assert refused.status_code == 422 and 'id="new-quantity-error"' in refused.text, refused.text[:2000]
    assert "超出单个厂址的可能范围" in refused.text and "5,000,000 t" in refused.text
    english = firm.post(f"/firms/{world['firm_a1']}/listings?lang=en", data=form)
    assert "more than a single site can have" in english.text
    assert firm.post(f"/firms/{world['firm_a1']}/listings", data=form | {"quantity": "3000000"}).status_code == 200
    park = page_client("pm_own").get(f"/parks/{world['park_a']}")
    assert 'data-testid="to-check"' in park.text and "1,500,000 t" in park.text


def test_a_delivery_is_refused_voided_and_re_recorded_on_the_deal_page(page_client: Callable[[str], TestClient],
                                                                       world: World) -> None:
    from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work

    with unit_of_work(world) as (session, admin):
        have = add_listing(session, admin, world["site_a1"], "have", "fly_ash", 400_000)
        want = add_listing(session, admin, world["site_a2"], "want", "fly_ash", 400_000)
        deal_id = seed_deal(session, admin, have, want, 300_000)
        move(session, admin, deal_id, "opt_in", "negotiate", "agree", "activate", agreed=300_000)
    firm = page_client("fu_own")
    future = firm.post(f"/deals/{deal_id}/deliveries", data={"delivered_on": "2031-01-01", "quantity": "10"})
    assert future.status_code == 422 and 'id="delivery-delivered_on-error"' in future.text
    assert "交付日期不能在未来" in future.text
    over = firm.post(f"/deals/{deal_id}/deliveries", data={"delivered_on": "2026-05-01", "quantity": "5000000"})
    assert over.status_code == 422 and 'id="delivery-quantity-error"' in over.text and "超过约定的每年" in over.text
    made = firm.post(f"/deals/{deal_id}/deliveries", data={"delivered_on": "2026-05-01", "quantity": "250000",
                                                           "document_ref": "GB-0501"})
    assert made.status_code == 200 and "GB-0501" in made.text
    delivery_id = int(made.text.split('data-delivery="', 1)[1].split('"', 1)[0])
    no_reason = firm.post(f"/deals/{deal_id}/deliveries/{delivery_id}/correct",
                          data={"delivered_on": "2026-05-01", "quantity": "25000"})
    assert no_reason.status_code == 422 and f'id="correct-{delivery_id}-reason-error"' in no_reason.text
    fixed = firm.post(f"/deals/{deal_id}/deliveries/{delivery_id}/correct",
                      data={"delivered_on": "2026-05-01", "quantity": "25000", "reason": "多输了一个零"})
    assert fixed.status_code == 200 and 'data-voided="true"' in fixed.text and "已作废" in fixed.text
    assert "交付已更正并重新登记" in fixed.text and f"（更正第 {delivery_id} 条）" in fixed.text


def _demo_runs() -> dict[str, int]:
    """A match run over the demo's caofeidian park (admin) and a what-if pair over it (planner: the base and
    the park without its steelworks), run to the end."""
    from sqlalchemy import select

    from backend.models import Firm, MatchRun, Park, User
    from backend.schemas_deals import RunCreate
    from backend.services import runs, users
    from tests.backend.test_deals import unit_of_work

    with unit_of_work() as (session, _):
        park = session.scalar(select(Park).where(Park.code == "caofeidian"))
        steel = session.scalar(select(Firm).where(Firm.name == "曹妃甸鑫港钢铁有限公司"))
        admin = users.actor_for(session, session.scalar(select(User).where(User.email == "admin@isx-demo.cn")))
        planner = users.actor_for(session, session.scalar(select(User).where(User.email == "planner@isx-demo.cn")))
        scope = {"park_ids": [park.id]}
        made = {
            "match": runs.start_run(session=session, actor=admin, run_in=RunCreate.model_validate({"scope": scope})),
            "base": runs.start_run(session=session, actor=planner, run_in=RunCreate.model_validate(
                {"kind": "what_if", "scope": scope})),
            "variant": runs.start_run(session=session, actor=planner, run_in=RunCreate.model_validate(
                {"kind": "what_if", "scope": scope, "what_if": {"remove_firm_ids": [steel.id]}})),
        }
        ids = {k: run.id or 0 for k, run in made.items()}
    for run_id in ids.values():
        runs.execute_run(run_id)
    runs.wait_for_runs()
    with unit_of_work() as (session, _):
        for run_id in ids.values():
            run = session.get(MatchRun, run_id)
            assert run is not None and run.status == "succeeded", run.error if run else run_id
    return ids


def test_no_page_of_the_demo_sums_across_unit_families(web_app: object, engine: object) -> None:
    """Every quantity a page shows carries its unit (t, GJ or m³) through the one ``qty`` macro, every number in
    a figure column is a quantity, a rate, a count, money or a factor with its unit, and no sum of t with GJ or
    m³ appears anywhere: the KPI, park and download pages, a match run's page, every demo deal's page (with its
    deliveries, frozen benefit records and counterfactual) and a what-if comparison."""
    import re

    from sqlalchemy import select

    from backend.models import Deal
    from backend.services import seed
    from tests.backend.test_deals import unit_of_work
    from tests.web.conftest import csrf_of, login_form

    with unit_of_work() as (session, _):
        seed.seed_demo(session=session)
        deal_ids = list(session.scalars(select(Deal.id).order_by(Deal.id)))
    assert len(deal_ids) >= 3
    runs = _demo_runs()
    pages: list[str] = []
    planner_paths = ["/kpis", "/kpis?province=山西省", "/kpis?year=2025", "/downloads",
                     *(f"/parks/{i}" for i in range(1, 7)), "/deals", *(f"/deals/{i}" for i in deal_ids),
                     f"/whatif/{runs['base']}/{runs['variant']}"]
    for email, password, paths in (
            ("admin@isx-demo.cn", "admin-demo-2026", [*planner_paths, f"/runs/{runs['match']}"]),
            ("planner@isx-demo.cn", "planner-demo-2026", planner_paths),
            ("manager.jjj@isx-demo.cn", "manager-demo-2026", [f"/runs/{runs['match']}", "/kpis"])):
        client = TestClient(web_app, follow_redirects=False)  # type: ignore[arg-type]
        assert login_form(client, email, password).status_code == 303
        client.headers["X-CSRF-Token"] = csrf_of(client)
        shown = {}
        for path in paths:
            answer = client.get(path)
            assert answer.status_code == 200, (email, path)
            shown[path] = answer.text
        pages.extend(shown.values())
        if "/deals" in shown:  # the demo's figures are real: a verified deal, benefits by state, a comparison
            assert any('data-ledger-state="verified"' in shown[f"/deals/{i}"] for i in deal_ids)
            if email.startswith("admin"):  # a planner gets them only over 3 firms or more (k-anonymity, issue 11)
                assert 'data-testid="kpi-states"' in shown["/kpis"]
            compare = shown[f"/whatif/{runs['base']}/{runs['variant']}"]
            assert 'data-done="true"' in compare and 'data-testid="compare"' in compare
        if f"/runs/{runs['match']}" in shown:
            assert 'data-testid="run-proposals"' in shown[f"/runs/{runs['match']}"]
        region = client.get("/api/v1/kpis", params={"group_by": "region"}).json()["groups"][0]
    by_unit: dict[str, float] = {}
    for f in region["families"]:
        by_unit[f["unit"]] = by_unit.get(f["unit"], 0.0) + f["generation"]
    assert set(by_unit) == {"t", "GJ", "m3"}
    mixed = {round(by_unit["t"] + by_unit["GJ"]), round(by_unit["t"] + by_unit["GJ"] + by_unit["m3"]),
             round(by_unit["t"] + by_unit["m3"]), round(by_unit["GJ"] + by_unit["m3"])}
    for text in pages:
        units = set(re.findall(r'<data class="qty" value="[^"]*" data-unit="([^"]*)"', text))
        assert units <= {"t", "GJ", "m3"}, units
        values = {round(float(v)) for v in re.findall(r'<data class="qty" value="([^"]+)"', text)}
        assert not values & mixed
        for cell in re.findall(r'<td class="num"[^>]*>(.*?)</td>', text, re.S):
            bare = re.sub(r"<data\b.*?</data>", "", cell, flags=re.S)
            bare = re.sub(r"<[^>]+>", "", bare)
            assert not re.search(r"\d", bare.replace("CO₂", "")), cell


def test_the_downloads_page_offers_the_report_of_the_chosen_park_or_province(
        page_client: Callable[[str], TestClient], world: World) -> None:
    planner = page_client("planner")
    none = planner.get("/downloads")
    assert 'data-testid="report-needs-scope"' in none.text and 'data-export="report"' not in none.text
    park = planner.get(f"/downloads?park_id={world['park_a']}")
    assert f'href="/api/v1/exports/report.xlsx?park_id={world["park_a"]}"' in park.text
    province = planner.get("/downloads?province=河北省&lang=en")
    assert 'href="/api/v1/exports/report.xlsx?province=%E6%B2%B3%E5%8C%97%E7%9C%81"' in province.text
    assert "Report for the management committee (XLSX)" in province.text
    report = planner.get(f"/api/v1/exports/report.xlsx?park_id={world['park_a']}", headers={"HX-Request": ""})
    assert report.status_code == 200 and report.content[:2] == b"PK"  # a zip: the XLSX container
