"""`medic stuck`: placeholder, filled in with its maintenance job."""

from __future__ import annotations

import click


@click.group()
def stuck() -> None:
    """(not yet implemented)"""
