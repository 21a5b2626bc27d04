"""`medic backup`: placeholder, filled in with its maintenance job."""

from __future__ import annotations

import click


@click.group()
def backup() -> None:
    """(not yet implemented)"""
