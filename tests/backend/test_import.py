"""Bulk import: dry run previews, real runs are all-or-nothing, every bad row is named, re-import is a no-op."""

import io
from typing import Any

import pytest
from openpyxl import Workbook

from tests.backend.conftest import World

HEADER = "park,firm,industry_code,contact_name,site,lat,lon,ref,kind,material,quantity,unit,attributes,visibility"
GOOD_ROWS = [
    "park-a,新钢铁,3110,李工,一号厂区,39.20,118.40,NG-1,have,bf_slag,2500000,t,activity_28d=96;so3=1.8,public",
    "park-a,新钢铁,3110,李工,一号厂区,39.20,118.40,NG-2,have,steel_slag,900000,t,,anonymous",
    "park-a,新钢铁,3110,李工,二号厂区,39.25,118.45,NG-3,want,natural_gas,50000000,m3,,park",
    "park-a,甲电厂,4411,,site_a1,39.0123,118.5456,A1-9,have,fgd_gypsum,300000,t,caso4_2h2o=93,public",
    "park-a,新水泥,3011,,主厂区,39.10,118.30,,,,,,,",
]


def _csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def _post(client: Any, data: bytes, name: str = "rows.csv", **params: Any) -> Any:
    return client.post("/api/v1/imports", params=params, files={"file": (name, data, "application/octet-stream")})


def _counts(client: Any) -> tuple[int, int, int]:
    return tuple(client.get(f"/api/v1/{what}", params={"limit": 1}).json()["count"]  # type: ignore[return-value]
                 for what in ("firms", "sites", "listings"))


def test_dry_run_previews_and_writes_nothing(client_as: Any, world: World) -> None:
    client = client_as("pm_own")
    before = _counts(client)
    body = _post(client, _csv(*GOOD_ROWS)).json()
    assert body["ok"] is True and body["dry_run"] is True and body["rows"] == 5
    assert (body["firms_created"], body["sites_created"], body["listings_created"]) == (2, 3, 4)
    assert [p["action"] for p in body["preview"]] == ["create"] * 4
    assert _counts(client) == before


def test_real_run_writes_and_reimport_changes_nothing(client_as: Any, world: World) -> None:
    client = client_as("pm_own")
    before = _counts(client)
    body = _post(client, _csv(*GOOD_ROWS), dry_run=False).json()
    assert body["ok"] is True and body["listings_created"] == 4
    assert _counts(client) == (before[0] + 2, before[1] + 3, before[2] + 4)
    audit_before = client_as("admin").get("/api/v1/audit", params={"limit": 1}).json()["count"]
    again = _post(client, _csv(*GOOD_ROWS), dry_run=False).json()
    assert (again["firms_created"], again["sites_created"], again["listings_created"]) == (0, 0, 0)
    assert again["unchanged"] == 4 and again["listings_updated"] == 0 and again["firms_updated"] == 0
    audit_after = client_as("admin").get("/api/v1/audit", params={"limit": 1}).json()["count"]
    assert audit_after == audit_before  # nothing was written the second time
    changed = _post(client, _csv(*GOOD_ROWS).replace(b"2500000", b"2600000"), dry_run=False).json()
    assert changed["listings_updated"] == 1 and changed["unchanged"] == 3
    slag = client.get("/api/v1/listings", params={"q": "新钢铁", "material": "bf_slag"}).json()["data"]
    assert slag[0]["attributes"] == {"activity_28d": 96.0, "so3": 1.8} and slag[0]["status"] == "active"


def test_one_bad_row_means_nothing_is_written(client_as: Any, world: World) -> None:
    client = client_as("pm_own")
    before = _counts(client)
    bad = [
        "park-a,坏厂,3011,,主厂区,39.1,118.3,B-1,have,fly_ash,-5,t,,public",           # row 3: quantity
        "park-a,坏厂,3011,,主厂区,39.1,118.3,B-2,have,unobtainium,5,t,,public",         # row 4: material
        "park-a,坏厂,3011,,主厂区,39.1,118.3,B-3,have,fly_ash,5,parsec,,public",        # row 5: unit
        "park-a,坏厂,3011,,主厂区,95,118.3,B-4,have,fly_ash,5,t,,public",               # row 6: lat
        "park-zz,坏厂,3011,,主厂区,39.1,118.3,B-5,have,fly_ash,5,t,,public",            # row 7: park
        "park-a,坏厂,3011,,主厂区,39.1,118.3,B-6,have,fly_ash,5,t,loi:3,public",        # row 8: attributes
        "park-a,坏厂,3011,,主厂区,39.1,118.3,B-1,have,fly_ash,5,t,,public",             # row 9: duplicate ref
    ]
    response = _post(client, _csv(GOOD_ROWS[0], *bad), dry_run=False)
    assert response.status_code == 422
    found = {(d["loc"][2], d["loc"][3]) for d in response.json()["detail"]}
    assert {(3, "quantity"), (4, "material"), (5, "unit"), (6, "lat"), (7, "park"), (8, "attributes"),
            (9, "ref")} <= found
    assert _counts(client) == before
    dry = _post(client, _csv(GOOD_ROWS[0], *bad)).json()
    assert dry["ok"] is False and {(e["row"], e["column"]) for e in dry["errors"]} == found


def test_inconsistent_firm_rows_are_reported(client_as: Any, world: World) -> None:
    rows = [GOOD_ROWS[0], GOOD_ROWS[1].replace(",3110,", ",3120,"), GOOD_ROWS[2].replace("39.25", "39.26")]
    # Row 3 gives the same firm another industry code; row 4 is the first row of its site, so its place is fine.
    dry = _post(client_as("pm_own"), _csv(*rows)).json()
    assert dry["ok"] is False
    assert [(e["row"], e["column"]) for e in dry["errors"]] == [(3, "industry_code")]


@pytest.mark.parametrize(("data", "name", "fragment"), [
    (b"", "empty.csv", "empty"),
    (b"\x00\x01\x02binary", "x.csv", "binary"),
    (b"PK\x03\x04 not really a zip", "x.xlsx", "XLSX"),
    (_csv(header="firm,site"), "x.csv", "no data rows"),
    (_csv("park-a,x,3011,,s,39,118,,,,,,,", header=HEADER + ",colour"), "x.csv", "unknown column"),
    (b"park,firm,site,lat,lon\npark-a,x,s,39,118\n", "x.csv", "missing column 'industry_code'"),
])
def test_malformed_files(client_as: Any, world: World, data: bytes, name: str, fragment: str) -> None:
    response = _post(client_as("pm_own"), data, name, dry_run=False)
    assert response.status_code == 422
    assert fragment in response.text


def test_oversize_upload_is_refused(client_as: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from backend.config import get_settings

    monkeypatch.setattr(get_settings(), "max_upload_bytes", 2048)
    response = _post(client_as("pm_own"), _csv(*GOOD_ROWS * 20), dry_run=False)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_xlsx_and_gb18030(client_as: Any, world: World) -> None:
    client = client_as("pm_own")
    workbook = Workbook()
    sheet = workbook.active
    for line in (HEADER, GOOD_ROWS[0], GOOD_ROWS[3]):
        sheet.append([_typed(v) for v in line.split(",")])
    buffer = io.BytesIO()
    workbook.save(buffer)
    body = _post(client, buffer.getvalue(), "streams.xlsx", dry_run=False).json()
    assert body["ok"] is True and body["listings_created"] == 2
    gbk = _csv(GOOD_ROWS[1]).decode().encode("gb18030")
    body = _post(client, gbk, "gbk.csv", dry_run=False).json()
    assert body["ok"] is True and body["listings_created"] == 1


def _typed(value: str) -> Any:
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        return value or None


def test_import_cli(world: World, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from backend.cli import app

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_bytes(_csv(*GOOD_ROWS))
    bad.write_bytes(_csv(GOOD_ROWS[0].replace("2500000", "0")))
    runner = CliRunner()
    result = runner.invoke(app, ["import", str(bad)])
    assert result.exit_code == 2
    assert "row 2, column quantity" in result.output and "nothing imported" in result.output
    result = runner.invoke(app, ["import", str(good), "--dry-run"])
    assert result.exit_code == 0 and "would import 5 rows" in result.output
    result = runner.invoke(app, ["import", str(good)])
    assert result.exit_code == 0 and "listings +4" in result.output
    result = runner.invoke(app, ["import", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_site_access_is_imported_and_checked(client_as: Any, world: World) -> None:
    client = client_as("pm_own")
    header = HEADER.replace(",site,", ",site,site_access,")
    good = "park-a,港口厂,3011,,码头厂区,coastal_water;rail,39.0,118.6,P-1,have,fly_ash,1000,t,,public"
    body = _post(client, _csv(good, header=header), dry_run=False).json()
    assert body["ok"] is True
    site = [s for s in client.get("/api/v1/sites", params={"limit": 500}).json()["data"] if s["name"] == "码头厂区"]
    assert site[0]["access"] == ["coastal_water", "rail"]
    bad = _post(client, _csv(good.replace("coastal_water;rail", "canal"), header=header)).json()
    assert bad["ok"] is False and (bad["errors"][0]["row"], bad["errors"][0]["column"]) == (2, "site_access")
