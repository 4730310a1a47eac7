"""The solid-waste ledger upload page (composed app, no browser): a firm user previews a file with every bad
row named in the page's language, nothing is written until a clean file is confirmed (all or nothing), and the
park page shows the ledger by year and by month."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.backend.conftest import World

HEADER = "material,year,month,unit,generated,utilised_in_house,sent_for_utilisation,stored,disposed,stock_utilised\n"


def _lines() -> int:
    from sqlalchemy import func, select

    from backend.db import new_session
    from backend.models import WasteLedgerEntry

    with new_session() as session:
        return int(session.scalar(select(func.count()).select_from(WasteLedgerEntry)) or 0)


def _upload(client: TestClient, text: str, name: str = "台账.csv", lang: str = "zh") -> object:
    return client.post(f"/baseline?lang={lang}", files={"file": (name, text.encode("utf-8"), "text/csv")})


def test_a_firm_uploads_its_ledger_all_or_nothing(page_client: Callable[[str], TestClient], world: World) -> None:
    firm = page_client("fu_own")
    page = firm.get("/baseline")
    assert page.status_code == 200 and 'data-testid="ledger-columns"' in page.text
    assert "一般工业固体废物管理台账" in page.text
    bad = (HEADER + "fly_ash,2026,3,t,20000,0,15000,5000,0,0\n"
           "moon_dust,2026,3,t,1,0,0,0,0,0\n"
           "fly_ash,2026,13,t,1,0,0,0,0,0\n"
           "bottom_ash,2026,3,t,-5,0,0,0,0,0\n"
           "fly_ash,2026,3,t,1,0,0,0,0,0\n")
    refused = _upload(firm, bad)
    assert refused.status_code == 422 and 'data-testid="row-errors"' in refused.text
    errors = refused.text.split('data-testid="row-errors"', 1)[1].split("</table>", 1)[0]
    assert "知识库中没有这种材料" in errors  # row 3, the material
    assert "月份应为 1–12" in errors and "应为不小于 0 的有限数字" in errors
    assert "与第 2 行重复" in errors
    assert re.findall(r'<tr><td class="num">(\d+)</td>', errors) == ["3", "4", "5", "6"]
    assert 'name="confirm"' not in refused.text and _lines() == 0
    english = _upload(firm, bad, lang="en")
    assert "Repeats row 2 (same firm, material, year and month)." in english.text

    good = HEADER + "fly_ash,2026,3,t,20000,0,15000,5000,0,0\nfly_ash,2026,4,t,21000,0,16000,5000,0,0\n"
    preview = _upload(firm, good)
    assert preview.status_code == 200 and 'data-testid="preview"' in preview.text and _lines() == 0
    assert preview.text.count('<data class="qty" value="20000.0" data-unit="t">') == 1
    token = re.search(r'name="upload" value="([^"]+)"', preview.text).group(1)  # the file stays on the server
    assert good not in preview.text
    done = firm.post("/baseline", data={"upload": token, "confirm": "1"})
    assert done.status_code == 200 and 'data-testid="baseline-done"' in done.text and "新增 2 行" in done.text
    assert _lines() == 2
    lines = firm.get("/baseline")
    assert 'data-testid="ledger-lines"' in lines.text and "2026-04" in lines.text and "台账.csv" in lines.text

    park = page_client("pm_own").get(f"/parks/{world['park_a']}")
    monthly = park.text.split('data-testid="park-series-month"', 1)[1].split("</table>", 1)[0]
    assert 'data-period="2026-03" data-unit="t"' in monthly and 'value="20000.0"' in monthly
    assert 'data-period="2026-04"' in monthly
    yearly = park.text.split('data-testid="park-series-year"', 1)[1].split("</table>", 1)[0]
    assert 'data-period="2026"' in yearly and 'value="41000.0"' in yearly  # the year is the sum of its months


def test_who_may_upload_a_ledger(page_client: Callable[[str], TestClient], world: World) -> None:
    assert page_client("planner").get("/baseline").status_code == 403
    assert page_client("verifier").get("/baseline").status_code == 403
    other = page_client("fu_other")  # a firm of park_b naming a firm of park_a
    row = "park,firm," + HEADER.replace("\n", "") + "\npark-a,甲电厂,fly_ash,2026,3,t,1,0,0,0,0,0\n"
    refused = _upload(other, row)
    assert refused.status_code == 422 and "您不能登记“甲电厂”的台账" in refused.text and _lines() == 0
    manager = page_client("pm_own")
    assert manager.get("/baseline").status_code == 200
    assert _upload(manager, row).status_code == 200  # the park's manager may
    empty = manager.post("/baseline", files={"file": ("x.csv", b"", "text/csv")})
    assert empty.status_code == 422
