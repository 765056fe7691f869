"""The `selflearn` command: flags -> config -> one library call -> a summary. No business logic here.

The app and shared options live here; each command group has its own module, registered at the bottom."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from selflearn.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  help="A language model learns what it does not know (Ferdinan et al., arXiv 2402.09147).")
index_app = typer.Typer(no_args_is_help=True, help="Build and query the local search index.")
app.add_typer(index_app, name="index")

WORKSPACE = typer.Option(os.environ.get("SELFLEARN_WORKSPACE", "workspace"), "--workspace", "-w",
                         help="Folder of the run store (selflearn.db). Env: SELFLEARN_WORKSPACE.")
CONFIG = typer.Option(None, "--config", "-c", help="A TOML config file, or a shipped experiment config name "
                      "(e.g. mistral-7b-instruct). Flags override it.")
JSON_OUT = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def flag_overrides(**sections: dict[str, Any]) -> dict[str, Any]:
    """Nest flag values by config section, dropping flags the user did not give."""
    return {name: {k: v for k, v in values.items() if v is not None} for name, values in sections.items()}


def open_store(workspace: str):
    from selflearn.store import Store

    return Store(workspace)


def console():
    from rich.console import Console

    # Piped into a log (make demo > log), rich would squeeze the tables into 80 columns: give them room.
    return Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=140)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    logging.basicConfig(level=os.environ.get("SELFLEARN_LOG", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=False)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted: everything already stored is kept; continue with --resume", err=True)
        sys.exit(130)
    except Exception as exc:  # click's own usage errors carry their exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(130)
        raise


# Register the commands (modules import `app` from here).
from selflearn.cli import questions as _questions  # noqa: E402,F401
from selflearn.cli import results as _results  # noqa: E402,F401
from selflearn.cli import report as _report  # noqa: E402,F401
from selflearn.cli import learning as _learning  # noqa: E402,F401
