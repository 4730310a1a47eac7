"""The web import keeps the previewed file on the server: the page carries a token, not the file, so every file
up to the documented limit (5 MB) can be confirmed; the token serves only the user who uploaded the file.
(Composed app through TestClient, no browser.)"""

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from backend.db import new_session
from backend.models import Firm, Listing

HEADER = "park,firm,industry_code,site,lat,lon,ref,kind,material,quantity,unit,description\n"


def _big_csv(rows: int, description_chars: int = 1990) -> bytes:
    text = "说" * (description_chars // 3) + "x" * (description_chars - description_chars // 3)
    lines = [f"park-a,大文件企业,3021,一厂,39.0,118.5,BIG-{i},have,fly_ash,{100 + i},t,{text}\n" for i in range(rows)]
    return (HEADER + "".join(lines)).encode()


def _token(page: Any) -> str:
    found = re.search(r'name="upload" value="([^"]+)"', page.text)
    assert found, page.text[-2000:]
    return found.group(1)


def _listings_of_big_firm() -> int:
    with new_session() as session:
        firm = session.scalar(select(Firm).where(Firm.name == "大文件企业"))
        return 0 if firm is None else int(session.scalar(select(func.count()).where(Listing.firm_id == firm.id)) or 0)


@pytest.mark.slow
def test_a_file_of_nearly_5_mb_is_previewed_then_confirmed(page_client: Callable[[str], TestClient]) -> None:
    client = page_client("pm_own")
    data = _big_csv(1400)
    assert 4 * 1024 * 1024 < len(data) < 5 * 1024 * 1024
    preview = client.post("/import", files={"file": ("big.csv", data, "text/csv")})
    assert preview.status_code == 200, preview.text[-2000:]
    assert len(preview.content) < len(data) // 4  # the page does not carry the file back
    assert _listings_of_big_firm() == 0
    done = client.post("/import", data={"upload": _token(preview), "confirm": "1"})
    assert done.status_code == 200 and 'data-testid="import-done"' in done.text, done.text[-2000:]
    assert "big.csv" in done.text
    assert _listings_of_big_firm() == 1400
    again = client.post("/import", data={"upload": _token(preview), "confirm": "1"})  # used up
    assert again.status_code == 422


def test_the_kept_file_serves_only_the_user_who_uploaded_it(page_client: Callable[[str], TestClient]) -> None:
    owner, other = page_client("pm_own"), page_client("admin")
    preview = owner.post("/import", files={"file": ("small.csv", _big_csv(2, 10), "text/csv")})
    assert preview.status_code == 200
    token = _token(preview)
    stolen = other.post("/import", data={"upload": token, "confirm": "1"})
    assert stolen.status_code == 422 and "请重新上传" in stolen.text
    assert _listings_of_big_firm() == 0
    for forged in ("../../../etc/passwd", "x" * 43, ""):
        assert owner.post("/import", data={"upload": forged, "confirm": "1"}).status_code == 422
    assert _listings_of_big_firm() == 0
    done = owner.post("/import", data={"upload": token, "confirm": "1"})
    assert done.status_code == 200 and _listings_of_big_firm() == 2


def test_a_ledger_preview_is_kept_for_its_confirm_too(page_client: Callable[[str], TestClient]) -> None:
    firm = page_client("fu_own")
    data = (b"material,year,month,unit,generated,utilised_in_house,sent_for_utilisation,stored,disposed,"
            b"stock_utilised\nfly_ash,2026,3,t,20000,0,15000,5000,0,0\n")
    preview = firm.post("/baseline", files={"file": ("台账.csv", data, "text/csv")})
    assert preview.status_code == 200
    colleague = page_client("fu_own_colleague")
    assert colleague.post("/baseline", data={"upload": _token(preview), "confirm": "1"}).status_code == 422
    done = firm.post("/baseline", data={"upload": _token(preview), "confirm": "1"})
    assert done.status_code == 200 and 'data-testid="baseline-done"' in done.text


def test_an_upload_over_the_limit_is_refused_on_the_page(page_client: Callable[[str], TestClient],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.config import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", 4096)
    answer = page_client("pm_own").post("/import", files={"file": ("big.csv", _big_csv(20), "text/csv")})
    assert answer.status_code == 413 and "内容过大" in answer.text  # a refusal in the page's language
