"""The typer application every command module registers on."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(
    name="digirec",
    help="digirec: recommendations for digital and consumer-electronics shops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: it wraps every option at the terminal width; rich's tables truncate
    # long flag names and values with an ellipsis at 80 columns.
    rich_markup_mode=None,
)


def _print_version(value: bool) -> None:
    if value:
        from digirec import __version__

        typer.echo(f"digirec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print digirec's version and exit.",
        ),
    ] = False,
) -> None:
    """digirec: recommendations for digital and consumer-electronics shops."""
