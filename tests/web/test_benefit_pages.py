"""The benefit ledger on the deal page (composed app, no browser): the state, the frozen figures with their
knowledge-base version, sources and counterfactual, the history of states; a party submits evidence and a
verifier signs it off or sends it back, in Chinese and English, with the errors next to the fields."""

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.backend.conftest import World


def _active_deal(world: World) -> int:
    from tests.backend.test_deals import add_listing, move, seed_deal, unit_of_work

    with unit_of_work(world) as (session, admin):
        want = add_listing(session, admin, world["site_a2"], "want", "clinker", 200_000)
        deal_id = seed_deal(session, admin, world["l_public"], want, 100_000)
        move(session, admin, deal_id, "opt_in", "negotiate", "agree", "activate", agreed=100_000)
    return deal_id


def _state(html: str) -> str:
    found = re.search(r'data-testid="benefit-ledger" data-ledger-state="(\w*)"', html)
    assert found, html[:3000]
    return found.group(1)


def test_a_party_evidences_and_a_verifier_signs_off_on_the_deal_page(page_client: Callable[[str], TestClient],
                                                                     world: World) -> None:
    from backend.kb import get_kb

    deal_id = _active_deal(world)
    firm = page_client("fu_own")
    page = firm.get(f"/deals/{deal_id}")
    assert page.status_code == 200 and _state(page.text) == "estimated"
    assert 'data-testid="ledger-state">估算<' in page.text
    assert f'data-testid="kb-version">{get_kb().version}<' in page.text
    # the counterfactual: landfill with its fee and tax and their sources; what the cement plant would have bought
    assert 'data-route="landfill"' in page.text and "填埋费 60 元/吨，另缴环境保护税 25 元/吨" in page.text
    assert "环境保护税法" in page.text and "熟料" in page.text
    assert 'data-testid="benefit-history"' in page.text and "达成交易时估算" in page.text
    # no document yet: nothing to evidence, said next to the form in the page's language
    firm.post(f"/deals/{deal_id}/deliveries", data={"delivered_on": "2026-03-01", "quantity": "5000"})
    refused = firm.post(f"/deals/{deal_id}/ledger", data={"action": "evidence"})
    assert refused.status_code == 422 and "没有附带凭证" in refused.text
    firm.post(f"/deals/{deal_id}/deliveries", data={"delivered_on": "2026-04-01", "quantity": "20000",
                                                    "document_ref": "磅单-0401"})
    done = firm.post(f"/deals/{deal_id}/ledger", data={"action": "evidence", "note": "四月磅单"})
    assert done.status_code == 200 and _state(done.text) == "evidenced", done.text[:2000]
    assert "凭证已提交" in done.text and "磅单-0401" in done.text and "另有 1 笔无凭证交付" in done.text
    assert 'data-ledger-action="verify"' not in done.text  # a party never sees the sign-off
    record_id = int(re.search(r'data-testid="benefit-record" data-record="(\d+)"', done.text).group(1))

    verifier = page_client("verifier")
    home = verifier.get("/")
    assert 'data-testid="to-verify"' in home.text and f'href="/deals/{deal_id}"' in home.text
    seen = verifier.get(f"/deals/{deal_id}")
    assert 'data-ledger-action="verify"' in seen.text and 'data-ledger-action="reject"' in seen.text
    assert 'data-ledger-action="evidence"' not in seen.text and 'data-action="complete"' not in seen.text
    blank = verifier.post(f"/deals/{deal_id}/ledger", data={"action": "verify", "record_id": str(record_id)})
    assert blank.status_code == 422 and 'id="ledger-verify-note-error"' in blank.text
    stale = verifier.post(f"/deals/{deal_id}/ledger?lang=en", data={"action": "verify", "record_id": "1",
                                                                     "note": "ok"})
    assert stale.status_code == 422 and "read it again before you sign it off" in stale.text
    signed = verifier.post(f"/deals/{deal_id}/ledger?lang=zh", data={"action": "verify", "record_id": str(record_id),
                                                             "note": "磅单与发票一致", "reference": "HC-017"})
    assert signed.status_code == 200 and _state(signed.text) == "verified"
    assert "已核查确认" in signed.text and "HC-017" in signed.text and "核查人员" in signed.text
    english = firm.get(f"/deals/{deal_id}?lang=en")
    assert 'data-testid="ledger-state">verified<' in english.text and "Verification report no." in english.text
    assert "Landfill fee 60 yuan/t plus environmental protection tax 25 yuan/t" in english.text
    assert "Benefit figures of record (frozen)" in english.text


def test_a_verifier_sends_evidence_back_with_a_reason(page_client: Callable[[str], TestClient],
                                                      world: World) -> None:
    deal_id = _active_deal(world)
    firm = page_client("fu_same_park")  # the receiving side is a party too
    firm.post(f"/deals/{deal_id}/deliveries", data={"delivered_on": "2026-04-01", "quantity": "20000",
                                                    "document_ref": "INV-0401"})
    evidenced = firm.post(f"/deals/{deal_id}/ledger", data={"action": "evidence"})
    record_id = re.search(r'data-testid="benefit-record" data-record="(\d+)"', evidenced.text).group(1)
    verifier = page_client("verifier")
    no_reason = verifier.post(f"/deals/{deal_id}/ledger", data={"action": "reject", "record_id": record_id})
    assert no_reason.status_code == 422 and 'id="ledger-reject-note-error"' in no_reason.text
    back = verifier.post(f"/deals/{deal_id}/ledger", data={"action": "reject", "record_id": record_id,
                                                           "note": "发票金额与磅单不符"})
    assert back.status_code == 200 and _state(back.text) == "estimated"
    assert "已退回" in back.text and "发票金额与磅单不符" in back.text
    history = back.text.split('data-testid="benefit-history"', 1)[1]
    assert history.count("data-record=") == 3 and "核查退回" in history
