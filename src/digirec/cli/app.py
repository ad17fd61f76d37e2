"""The typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="digirec",
    help="digirec: recommendations for digital and consumer-electronics shops.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
