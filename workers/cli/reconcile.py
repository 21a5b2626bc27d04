"""`medic reconcile`: placeholder, filled in with its maintenance job."""

from __future__ import annotations

import click


@click.group()
def reconcile() -> None:
    """(not yet implemented)"""
