"""How medic starts Celery: `python -P -m workers.cli.celery_entry <celery arguments>`.

Celery imports the app named by `-A` and the modules in its `imports` with the current directory
first on sys.path (celery.utils.imports.cwd_in_path). Started from an application's directory that
has its own `config/` package (the cookiecutter-django layout), `celery -A config.celery_app`
loaded the application's Celery app, whose worker discarded `medic.report` as an unregistered task;
next to a Celery tutorial's `tasks.py` it crashed ("'tasks' is not a package"). Here medic's app
and every module it names are imported first, from medic's installation (`-P` keeps the current
directory off sys.path), so that Celery finds them loaded and looks no further.
"""

from __future__ import annotations

import importlib
import sys

from config.celery_app import app


def preload() -> list[str]:
    """Import what Celery would import from the current directory: the task modules, the consumer,
    the task and AMQP classes, the beat scheduler; returns their names."""
    conf = app.conf
    named = [*conf.imports, *conf.include]
    named += [path.split(":")[0] for path in (conf.worker_consumer, conf.beat_scheduler) if isinstance(path, str)]
    for name in named:
        importlib.import_module(name)
    return named


def main() -> None:
    from celery.__main__ import main as celery_main

    preload()
    sys.argv = ["celery", *sys.argv[1:]]
    celery_main()


if __name__ == "__main__":
    main()
