"""`medic health` and `medic alerts`: placeholder, filled in with the health job."""

from __future__ import annotations

import click


@click.command()
def health() -> None:
    """(not yet implemented)"""


@click.group()
def alerts() -> None:
    """(not yet implemented)"""
