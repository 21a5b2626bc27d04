"""`medic`: entry point, shared options and the mapping of failures to exit codes."""

from __future__ import annotations

import importlib
import os
import sys

import click

from config.errors import ConfigError, InvalidTransition, MedicError, NotFound, StorageUnavailable
from workers.cli import exit_codes

# name -> "module:attribute"; a command's module is imported only when that command runs (or for
# --help), so `medic stuck list` does not pay for importing every other command's dependencies.
COMMANDS = {
    "run": "workers.cli.processes:run",
    "worker": "workers.cli.processes:worker",
    "beat": "workers.cli.processes:beat",
    "serve": "workers.cli.serve:serve",
    "flower": "workers.cli.flower:flower",
    "probe": "workers.cli.probe:probe",
    "messages": "workers.cli.messages:messages",
    "report": "workers.cli.report:report",
    "errors": "workers.cli.inspect:errors",
    "rejected": "workers.cli.inspect:rejected",
    "stats": "workers.cli.inspect:stats",
    "classify": "workers.cli.classify:classify",
    "executions": "workers.cli.recovery:executions",
    "dead": "workers.cli.dead:dead",
    "plans": "workers.cli.plans:plans",
    "breakers": "workers.cli.breakers:breakers",
    "notifications": "workers.cli.breakers:notifications",
    "stuck": "workers.cli.stuck:stuck",
    "reconcile": "workers.cli.reconcile:reconcile",
    "backup": "workers.cli.backup:backup",
    "health": "workers.cli.health:health",
    "alerts": "workers.cli.health:alerts",
    "maintenance": "workers.cli.maintenance:maintenance",
    "db": "workers.cli.setup:db",
    "config": "workers.cli.setup:config",
}

# medic's own errors a command lets out: each is printed as "medic: <message>" and exits with its code.
EXIT_CODES: dict[type[MedicError], int] = {
    ConfigError: exit_codes.CONFIG,
    InvalidTransition: exit_codes.USAGE,
    NotFound: exit_codes.NOT_FOUND,
    StorageUnavailable: exit_codes.UNAVAILABLE,
}


# Files medic makes are its user's only: broker.sqlite holds raw, unmasked events, medic.sqlite and the
# logs what intake kept. Set once here, the entry of every command, so the processes a command becomes
# (exec) or starts (Celery's pool, Flower) inherit it; SQLite's -wal/-shm/-journal files follow it.
PRIVATE_UMASK = 0o077


def exit_code_of(error: MedicError) -> int:
    return next(code for kind, code in EXIT_CODES.items() if isinstance(error, kind))


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="medic", prog_name="medic")
def cli() -> None:
    """medic: error intake, triage and recovery on Celery.

    Settings come from MEDIC_* environment variables and the file named by MEDIC_CONFIG_FILE;
    `medic config show` prints the effective values. Exit codes: 0 ok, 1 a check failed,
    2 bad usage or input, 3 invalid configuration, 4 not found, 5 database or broker unavailable.
    """


def main() -> None:
    os.umask(PRIVATE_UMASK)
    try:
        code = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(exit_codes.FAILED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except tuple(EXIT_CODES) as exc:
        click.echo(f"medic: {exc}", err=True)
        sys.exit(exit_code_of(exc))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(exit_codes.OK)
    sys.exit(code if isinstance(code, int) else exit_codes.OK)


if __name__ == "__main__":
    main()
