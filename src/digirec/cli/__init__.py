"""The ``digirec`` command line: benchmark, learning-curve, train, recommend, similar, info,
synth, demo, report, serve. One module per command group; each registers on :data:`app`."""

from __future__ import annotations

import sys

import typer

from digirec.cli import benchmark, data, query, serve, train  # noqa: F401  (registers commands)
from digirec.cli.app import app
from digirec.exceptions import DigirecError

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: digirec errors become one clear line and exit status 2."""
    try:
        app()
    except DigirecError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
