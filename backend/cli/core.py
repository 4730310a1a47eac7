"""Platform commands: serve, db, seed, user, import, baseline."""

import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from backend.config import PROJECT_ROOT, get_settings
from backend.errors import DomainError, InvalidInput

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
seed_app = typer.Typer(help="Load data sets.", no_args_is_help=True)
user_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
baseline_app = typer.Typer(help="The firms' solid-waste ledgers (一般工业固体废物管理台账), the KPIs' baseline.",
                           no_args_is_help=True)


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def report_domain_error(exc: DomainError) -> None:
    if isinstance(exc, InvalidInput):
        for err in exc.errors:
            loc = ".".join(str(p) for p in err.get("loc", []) if p not in ("", None))
            typer.echo(f"error: {loc}: {err['msg']}", err=True)
        raise typer.Exit(2)
    fail(exc.message)


def alembic_config():
    from alembic.config import Config

    # Alembic binds its default stdout when imported; pass the current one so output can be captured.
    config = Config(str(PROJECT_ROOT / "alembic.ini"), stdout=sys.stdout)
    config.set_main_option("sqlalchemy.url", get_settings().database_url.replace("%", "%%"))
    return config


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic import command

    command.upgrade(alembic_config(), revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' empties the schema)."""
    from alembic import command

    command.downgrade(alembic_config(), revision)
    typer.echo(f"database at {revision}")


@db_app.command("current")
def db_current() -> None:
    """Show the applied revision."""
    from alembic import command

    command.current(alembic_config())


@seed_app.command("demo")
def seed_demo() -> None:
    """Load the demo region (idempotent) and print the demo accounts."""
    from backend.db import session_scope
    from backend.services.seed import seed_demo as run

    try:
        for session in session_scope():
            report = run(session=session)
    except DomainError as exc:
        report_domain_error(exc)
        return
    s = report.streams
    typer.echo(f"parks: {report.parks_created} created, {report.parks_updated} updated")
    typer.echo(f"firms: {s.firms_created} created, {s.firms_updated} updated; sites: {s.sites_created} created, "
               f"{s.sites_updated} updated")
    typer.echo(f"listings: {s.listings_created} created, {s.listings_updated} updated, {s.unchanged} unchanged")
    typer.echo(f"permits: {report.permits_created} created; accounts: {report.users_created} created; "
               f"deals: {report.deals_created} created")
    typer.echo("demo accounts (email / password / role):")
    for account in report.accounts:
        typer.echo(f"  {account['email']:34} {account['password']:20} {account['role']}")


@user_app.command("create")
def user_create(
    email: Annotated[str, typer.Option(help="login email")],
    role: Annotated[str, typer.Option(help="admin | park_manager | firm_user | planner | verifier")],
    name: Annotated[str, typer.Option(help="display name")] = "",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="ISX_NEW_PASSWORD")] = "",
    firm_id: Annotated[int | None, typer.Option(help="firm of a firm_user")] = None,
    park: Annotated[list[str] | None, typer.Option(help="park code of a park_manager (repeat)")] = None,
) -> None:
    """Create an account."""
    from pydantic import ValidationError

    from backend.db import session_scope
    from backend.models import Park
    from backend.schemas import UserCreate
    from backend.services.users import create_user

    try:
        for session in session_scope():
            park_ids = []
            for code in park or []:
                found = session.scalar(select(Park).where(Park.code == code))
                if found is None:
                    fail(f"--park: no park with code '{code}'")
                park_ids.append(found.id)
            user_in = UserCreate(email=email, name=name or email.split("@")[0], role=role,
                                 password=password, firm_id=firm_id, park_ids=park_ids)
            user = create_user(session=session, actor=None, user_in=user_in)
            typer.echo(f"created {user.role} {user.email} (id {user.id})")
    except ValidationError as exc:
        for err in exc.errors():
            fail(f"--{'.'.join(str(p) for p in err['loc'])}: {err['msg']}")
    except DomainError as exc:
        report_domain_error(exc)


def import_command(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GB18030) or XLSX, one row per listing")],
    park: Annotated[str | None, typer.Option(help="park code for rows without a park column")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and preview only")] = False,
) -> None:
    """Import firms, sites and listings (all-or-nothing)."""
    from backend.db import session_scope
    from backend.models import Park
    from backend.services.imports import ImportRejected, run_import

    if not file.is_file():
        fail(f"{file}: no such file")
    try:
        for session in session_scope():
            park_id = None
            if park:
                found = session.scalar(select(Park).where(Park.code == park))
                if found is None:
                    fail(f"--park: no park with code '{park}'")
                park_id = found.id
            summary = run_import(session=session, actor=None, data=file.read_bytes(), filename=file.name,
                                 park_id=park_id, dry_run=dry_run, max_rows=get_settings().max_import_rows)
    except ImportRejected as exc:
        for issue in exc.summary.errors:
            where = f"row {issue.row}" if issue.row else "file"
            typer.echo(f"error: {file.name}: {where}{', column ' + issue.column if issue.column else ''}: "
                       f"{issue.msg}", err=True)
        typer.echo(f"nothing imported: {len(exc.summary.errors)} problem(s)", err=True)
        raise typer.Exit(2) from None
    except DomainError as exc:
        report_domain_error(exc)
        return
    if summary.errors:  # dry run with problems
        for issue in summary.errors:
            typer.echo(f"error: {file.name}: row {issue.row}, column {issue.column}: {issue.msg}", err=True)
        raise typer.Exit(2)
    verb = "would import" if dry_run else "imported"
    typer.echo(f"{verb} {summary.rows} rows: firms +{summary.firms_created}/~{summary.firms_updated}, "
               f"sites +{summary.sites_created}/~{summary.sites_updated}, listings +{summary.listings_created}"
               f"/~{summary.listings_updated}, {summary.unchanged} unchanged")


@baseline_app.command("import")
def baseline_import(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GB18030) or XLSX: one row per firm, material and month "
                                               "or year (columns: see the README, 'Baseline import')")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="check and preview only; write nothing")] = False,
) -> None:
    """Import ledger lines (all-or-nothing): exit 2 with every bad row and column, and nothing written."""
    from backend.db import session_scope
    from backend.schemas import ImportIssue
    from backend.services.baseline import LedgerImportRejected, import_ledger

    if not file.is_file():
        fail(f"{file}: no such file")

    def problems(issues: list[ImportIssue], kind: str = "error") -> None:
        for issue in issues:
            where = f"row {issue.row}" if issue.row else "file"
            typer.echo(f"{kind}: {file.name}: {where}{', column ' + issue.column if issue.column else ''}: "
                       f"{issue.msg}", err=True)

    try:
        for session in session_scope():
            summary = import_ledger(session=session, actor=None, data=file.read_bytes(), filename=file.name,
                                    dry_run=dry_run)
    except LedgerImportRejected as exc:
        problems(exc.summary["errors"])
        typer.echo(f"nothing imported: {len(exc.summary['errors'])} problem(s)", err=True)
        raise typer.Exit(2) from None
    except DomainError as exc:
        report_domain_error(exc)
        return
    if summary["errors"]:  # a dry run with problems
        problems(summary["errors"])
        typer.echo(f"{len(summary['errors'])} problem(s); nothing would be imported", err=True)
        raise typer.Exit(2)
    problems(summary["warnings"], "warning")
    verb = "would import" if dry_run else "imported"
    typer.echo(f"{verb} {summary['rows']} rows: {summary['created']} created, {summary['updated']} updated, "
               f"{summary['unchanged']} unchanged")


def serve(host: Annotated[str | None, typer.Option()] = None, port: Annotated[int | None, typer.Option()] = None,
          reload: bool = False) -> None:
    """Serve the web app and API with uvicorn (refused, exit code 2, when the settings are unfit, such as a
    weak secret key in production)."""
    import uvicorn
    from pydantic import ValidationError

    try:
        settings = get_settings()
    except ValidationError as exc:
        for err in exc.errors():
            fail(str(err["msg"]).removeprefix("Value error, "))
        return
    uvicorn.run("web.app:app", host=host or settings.host, port=port or settings.port, reload=reload)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("import")(import_command)
    app.add_typer(db_app, name="db")
    app.add_typer(seed_app, name="seed")
    app.add_typer(user_app, name="user")
    app.add_typer(baseline_app, name="baseline")

