"""The ``isx`` command line: one Typer app over the same services as the API.

``isx match`` and ``isx screen`` only need the matching library: for them :func:`main` builds an app with
just those two commands, so a match does not import the web stack, the database layer or the knowledge-base
tooling (about 1 s of imports on a 2-core machine). ``backend.cli.app`` is the full app.
"""

import sys
from typing import Any

import typer

#: commands that need only the matching library (backend.cli.match)
MATCH_COMMANDS = ("match", "screen")


def build_app(command: str | None = None) -> typer.Typer:
    """The ``isx`` app: every command, or only the matcher's when ``command`` is one of them."""
    app = typer.Typer(help="ISX — Industrial Symbiosis Exchange", no_args_is_help=True,
                      pretty_exceptions_enable=False)
    from backend.cli import match

    if command in MATCH_COMMANDS:
        match.register(app)
        return app
    from backend.cli import core, kb

    core.register(app)
    match.register(app)
    app.add_typer(kb.app, name="kb")
    return app


def __getattr__(name: str) -> Any:  # ``from backend.cli import app``: the full app, built on first use
    if name == "app":
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(f"module 'backend.cli' has no attribute {name!r}")


def main() -> None:
    build_app(sys.argv[1] if len(sys.argv) > 1 else None)()
