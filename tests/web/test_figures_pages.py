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
