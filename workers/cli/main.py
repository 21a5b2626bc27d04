"""`medic`: entry point, shared options and the mapping of failures to exit codes."""

from __future__ import annotations

import sys

import click

from config.errors import ConfigError, InvalidTransition, NotFound, StorageUnavailable
from workers.cli import exit_codes
from workers.cli.breakers import breakers, notifications
from workers.cli.classify import classify
from workers.cli.dead import dead
from workers.cli.inspect import errors, rejected, stats
from workers.cli.backup import backup
from workers.cli.health import alerts, health
from workers.cli.maintenance import maintenance
from workers.cli.plans import plans
from workers.cli.processes import beat, run, worker
from workers.cli.reconcile import reconcile
from workers.cli.recovery import executions
from workers.cli.report import report
from workers.cli.setup import config, db
from workers.cli.stuck import stuck


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="medic", prog_name="medic")
def cli() -> None:
    """medic: error intake, triage and recovery on Celery.

    Settings come from MEDIC_* environment variables and the file named by MEDIC_CONFIG_FILE;
    `medic config show` prints the effective values. Exit codes: 0 ok, 1 a check failed,
    2 bad usage or input, 3 invalid configuration, 4 not found, 5 database or broker unavailable.
    """


for command in (run, worker, beat, report, errors, rejected, stats, classify, executions, dead, plans, breakers,
                notifications, stuck, reconcile, backup, health, alerts, maintenance, db, config):
    cli.add_command(command)


def main() -> None:
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(exit_codes.FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        click.echo(f"medic: {exc}", err=True)
        sys.exit(exit_codes.CONFIG)
    except InvalidTransition as exc:
        click.echo(f"medic: {exc}", err=True)
        sys.exit(exit_codes.USAGE)
    except NotFound as exc:
        click.echo(f"medic: {exc}", err=True)
        sys.exit(exit_codes.NOT_FOUND)
    except StorageUnavailable as exc:
        click.echo(f"medic: {exc}", err=True)
        sys.exit(exit_codes.UNAVAILABLE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(exit_codes.OK)
    sys.exit(code if isinstance(code, int) else exit_codes.OK)


if __name__ == "__main__":
    main()
