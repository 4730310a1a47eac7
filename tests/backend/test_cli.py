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
