"""The ``isx`` command line: one Typer app over the same services as the API."""

import typer

from backend.cli import core, kb, match

app = typer.Typer(help="ISX — Industrial Symbiosis Exchange", no_args_is_help=True,
                  pretty_exceptions_enable=False)
core.register(app)
match.register(app)
app.add_typer(kb.app, name="kb")


def main() -> None:
    app()
