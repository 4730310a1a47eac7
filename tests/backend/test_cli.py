"""The isx command line: clear messages and exit code 2 on bad input."""

from typing import Any

from typer.testing import CliRunner

from backend.cli import app

runner = CliRunner()


def _create(*args: str) -> Any:
    return runner.invoke(app, ["user", "create", *args], env={"ISX_NEW_PASSWORD": "a-good-password"})


def test_user_create_and_its_errors(engine: Any) -> None:
    ok = _create("--email", "Planner@Test.cn", "--role", "planner")
    assert ok.exit_code == 0, ok.output
    assert "created planner planner@test.cn" in ok.output
    again = _create("--email", "planner@test.cn", "--role", "planner")
    assert again.exit_code == 2 and "already exists" in again.output
    bad_role = _create("--email", "x@test.cn", "--role", "boss")
    assert bad_role.exit_code == 2 and "--role" in bad_role.output
    no_firm = _create("--email", "y@test.cn", "--role", "firm_user")
    assert no_firm.exit_code == 2 and "firm_id" in no_firm.output and "needs" in no_firm.output
    no_park = _create("--email", "z@test.cn", "--role", "park_manager", "--park", "nowhere")
    assert no_park.exit_code == 2 and "no park with code 'nowhere'" in no_park.output
    short = runner.invoke(app, ["user", "create", "--email", "w@test.cn", "--role", "planner"],
                          env={"ISX_NEW_PASSWORD": "short"})
    assert short.exit_code == 2 and "--password" in short.output


def test_db_current_names_the_revision(engine: Any) -> None:
    result = runner.invoke(app, ["db", "current"])
    assert result.exit_code == 0 and result.output.strip().endswith("(head)")


LEDGER_HEADER = ("park,firm,material,year,month,unit,generated,utilised_in_house,sent_for_utilisation,stored,"
                 "disposed,stock_utilised\n")


def test_baseline_import_all_or_nothing_with_every_bad_row(engine: Any, world: Any, tmp_path: Any) -> None:
    """``isx baseline import FILE [--dry-run]`` calls the ledger service: a file with bad rows exits 2 naming
    every bad row and column and writes nothing; a good one imports (a dry run writes nothing)."""
    from sqlalchemy import func, select

    from backend.db import new_session
    from backend.models import WasteLedgerEntry

    def count() -> int:
        with new_session() as session:
            return int(session.scalar(select(func.count()).select_from(WasteLedgerEntry)) or 0)

    bad = tmp_path / "bad.csv"
    bad.write_text(LEDGER_HEADER + "park-a,甲电厂,fly_ash,2025,,t,200000,20000,100000,90000,0,0\n"
                   "park-a,甲电厂,moon_dust,2025,,t,1,0,0,0,0,0\n"
                   "park-a,无此厂,fly_ash,2025,,t,1,0,0,0,0,0\n"
                   "park-a,甲电厂,bottom_ash,2025,13,t,1,0,0,0,0,0\n", encoding="utf-8")
    refused = runner.invoke(app, ["baseline", "import", str(bad)])
    assert refused.exit_code == 2, refused.output
    assert "bad.csv: row 3, column material: unknown material id 'moon_dust'" in refused.output
    assert "row 4, column firm: no firm '无此厂' in park 'park-a'" in refused.output
    assert "row 5, column month:" in refused.output and "nothing imported: 3 problem(s)" in refused.output
    assert count() == 0
    dry = runner.invoke(app, ["baseline", "import", str(bad), "--dry-run"])
    assert dry.exit_code == 2 and "nothing would be imported" in dry.output
    good = tmp_path / "good.csv"
    good.write_text(LEDGER_HEADER + "park-a,甲电厂,fly_ash,2025,,t,200000,20000,100000,90000,0,0\n", encoding="utf-8")
    preview = runner.invoke(app, ["baseline", "import", str(good), "--dry-run"])
    assert preview.exit_code == 0 and "would import 1 rows: 1 created" in preview.output and count() == 0
    done = runner.invoke(app, ["baseline", "import", str(good)])
    assert done.exit_code == 0 and "imported 1 rows: 1 created, 0 updated, 0 unchanged" in done.output
    assert count() == 1
    again = runner.invoke(app, ["baseline", "import", str(good)])
    assert "0 created, 0 updated, 1 unchanged" in again.output
    missing = runner.invoke(app, ["baseline", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.output
