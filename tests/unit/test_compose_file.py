"""docker-compose.yml, .env.example and the Dockerfile: what can be checked without a Docker engine.

tests/integration/test_compose_services.py runs each medic service's command and healthcheck.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from config.queues import QUEUES

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ENV_EXAMPLE = (REPO / ".env.example").read_text()
DOCKERFILE = (REPO / "Dockerfile").read_text()
MEDIC_SERVICES = ["migrate", "worker-intake", "worker-recovery", "worker-maintenance", "beat", "flower", "serve"]
ONE_SHOT = {"migrate"}
# Log to stdout only: migrate runs for seconds, Flower has its own logging (not MEDIC_LOG_FILE).
STDOUT_ONLY = {"migrate", "flower"}
WORKER_QUEUES = {"worker-intake": "medic.errors", "worker-recovery": "medic.recovery",
                 "worker-maintenance": "medic.maintenance"}
# Settings the services need from the env file, not interpolated by compose.
ENV_FILE_SECRETS = ["MEDIC_FLOWER__BASIC_AUTH", "MEDIC_SERVE__TOKENS"]
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|AUTH|CREDENTIAL|KEY", re.IGNORECASE)
INTERPOLATION = re.compile(r"\$\{(\w+)(:?[-?][^}]*)?\}")
URL_PASSWORD = re.compile(r"//[^:/@]+:([^@]*)@")


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment") or {}
    return {k: str(v) for k, v in env.items()} if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def argument(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def test_the_production_services_are_all_there():
    assert set(SERVICES) == {"redis", "postgres", *MEDIC_SERVICES}


@pytest.mark.parametrize("service", sorted(set(SERVICES) - ONE_SHOT))
def test_every_long_running_service_has_a_healthcheck(service):
    check = SERVICES[service].get("healthcheck")
    assert check and not check.get("disable")
    assert check["test"][0] in ("CMD", "CMD-SHELL") and len(check["test"]) > 1
    assert SERVICES[service].get("restart") == "unless-stopped"


def test_migrate_is_one_shot_and_every_medic_service_waits_for_it():
    assert SERVICES["migrate"]["command"] == ["medic", "db", "upgrade"]
    assert SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for service in set(MEDIC_SERVICES) - ONE_SHOT:
        depends = SERVICES[service]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, service
        assert depends["redis"] == depends["postgres"] == {"condition": "service_healthy"}, service


@pytest.mark.parametrize("service", MEDIC_SERVICES)
def test_medic_services_run_medic_with_settings_from_the_env_file(service):
    spec = SERVICES[service]
    assert spec["command"][0] == "medic"
    assert spec["env_file"] == ["${MEDIC_ENV_FILE:-.env}"]
    env = environment(service)
    assert env["MEDIC_BROKER_URL"] == "redis://redis:6379/0"
    assert env["MEDIC_DATABASE_URL"].startswith("postgresql+psycopg://medic:${POSTGRES_PASSWORD:?")
    assert env["MEDIC_DATA_DIR"] == "/var/lib/medic"


def all_string_values(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from all_string_values(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from all_string_values(value, (*path, str(index)))
    elif node is not None:
        yield path, str(node)


def test_no_literal_secrets():
    checked = 0
    for path, value in all_string_values(COMPOSE):
        if SECRET_NAME.search(path[-1]):
            checked += 1
            assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", value), f"{'.'.join(path)} is not ${{...}}: {value!r}"
        for password in URL_PASSWORD.findall(value):
            checked += 1
            assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", password), f"{'.'.join(path)} has a literal password"
    assert checked >= 2  # POSTGRES_PASSWORD and the database URL's password at least
    for name in ENV_FILE_SECRETS:
        assert not any(name in value for _, value in all_string_values(COMPOSE)), f"{name} belongs in the env file"


def test_volumes_for_the_database_backups_and_logs():
    assert {"postgres-data", "redis-data", "medic-data", "medic-backups", "medic-logs"} <= set(COMPOSE["volumes"])
    assert "postgres-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]
    backups = environment("worker-maintenance")["MEDIC_BACKUP__DIR"]
    assert f"medic-backups:{backups}" in SERVICES["worker-maintenance"]["volumes"]
    for service in MEDIC_SERVICES:
        assert "medic-logs:/var/log/medic" in SERVICES[service]["volumes"], service
        assert "medic-data:/var/lib/medic" in SERVICES[service]["volumes"], service
        log_file = environment(service).get("MEDIC_LOG_FILE")
        assert service in STDOUT_ONLY or log_file == f"/var/log/medic/{service}.log", service


def test_log_rotation_covers_every_service_log_file():
    from config.jobs.log_rotation import LogRotationSettings

    targets = LogRotationSettings.model_validate_json(
        f'{{"targets": {environment("worker-maintenance")["MEDIC_LOG_ROTATION__TARGETS"]}}}').targets
    for service in set(MEDIC_SERVICES) - STDOUT_ONLY:
        log_file = Path(environment(service)["MEDIC_LOG_FILE"])
        assert any(t.directory == log_file.parent and fnmatch.fnmatchcase(log_file.name, t.pattern) for t in targets)


@pytest.mark.parametrize("service, queue", sorted(WORKER_QUEUES.items()))
def test_each_worker_pool_consumes_one_of_medics_queues(service, queue):
    command = SERVICES[service]["command"]
    assert command[:2] == ["medic", "worker"]
    assert argument(command, "--queues") == queue and queue in QUEUES
    assert int(argument(command, "--concurrency")) >= 1
    node = argument(command, "--hostname")
    assert node.endswith("@%h")
    assert SERVICES[service]["healthcheck"]["test"][:5] == ["CMD", "medic", "probe", "worker", node]


def test_the_worker_pools_cover_every_queue_once():
    assert sorted(WORKER_QUEUES.values()) == sorted(QUEUES)
    workers = [name for name, spec in SERVICES.items() if spec.get("command", [None, None])[:2] == ["medic", "worker"]]
    assert sorted(workers) == sorted(WORKER_QUEUES)


def test_exactly_one_beat():
    beats = [name for name, spec in SERVICES.items() if spec.get("command") == ["medic", "beat"]]
    assert beats == ["beat"]
    assert "deploy" not in SERVICES["beat"] and "scale" not in SERVICES["beat"]
    assert SERVICES["beat"]["healthcheck"]["test"][:4] == ["CMD", "medic", "probe", "beat"]


def test_ports_only_on_flower_and_serve():
    published = {name for name, spec in SERVICES.items() if spec.get("ports")}
    assert published == {"flower", "serve"}
    assert SERVICES["flower"]["ports"] == ["${MEDIC_FLOWER_PUBLISH:-127.0.0.1:5555}:5555"]
    assert SERVICES["serve"]["ports"] == ["${MEDIC_SERVE_PUBLISH:-127.0.0.1:8080}:8080"]
    assert environment("flower")["MEDIC_FLOWER__PORT"] == "5555"
    assert environment("serve")["MEDIC_SERVE__PORT"] == "8080"


def interpolated_without_default() -> set[str]:
    text = (REPO / "docker-compose.yml").read_text().replace("$$", "")
    return {name for name, rest in INTERPOLATION.findall(text) if not rest or rest.startswith((":?", "?"))}


def env_example_names() -> set[str]:
    return set(re.findall(r"^#? ?(\w+)=", ENV_EXAMPLE, re.MULTILINE))


def test_env_example_documents_every_variable_compose_needs():
    needed = interpolated_without_default() | set(ENV_FILE_SECRETS)
    assert "POSTGRES_PASSWORD" in needed
    active = set(re.findall(r"^(\w+)=", ENV_EXAMPLE, re.MULTILINE))
    assert needed <= active, needed - active
    with_default = {name for name, rest in INTERPOLATION.findall((REPO / "docker-compose.yml").read_text())
                    if rest.startswith(":-")}
    assert with_default <= env_example_names()  # documented, commented out


def test_env_example_holds_placeholders_only():
    values = dict(re.findall(r"^(\w+)=(.*)$", ENV_EXAMPLE, re.MULTILINE))
    for name, value in values.items():
        assert "replace" in value, f"{name} in .env.example must be an obvious placeholder"


@pytest.mark.skipif(not shutil.which("docker-compose"), reason="docker-compose is not installed (.ci/run installs it)")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "--env-file", ".env.example", "config",
                             "-q"],
                            cwd=REPO, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "MEDIC_ENV_FILE": ".env.example"})
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [tuple(line.split(None, 1)) for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_copies_files_that_exist_and_installs_the_project_without_extras():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    copied = [source for op, args in instructions if op == "COPY" for source in args.split()[:-1]]
    assert copied and all((REPO / source).exists() for source in copied), copied
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    find = project["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*") for pattern in find["include"]}
    places = {f"{where}/{package}".removeprefix("./") for where in find["where"] for package in packages}
    assert {"pyproject.toml", project["project"]["readme"]} <= set(copied)
    assert all(places & {source.rstrip("/")} for source in copied if source not in ("pyproject.toml", "README.md"))
    assert packages <= {source.rstrip("/").rsplit("/", 1)[-1] for source in copied}
    installs = [args for op, args in instructions if op == "RUN" and "pip install" in args]
    assert len(installs) == 1 and re.search(r"pip install (--no-cache-dir )?\.( |$)", installs[0]), installs
    assert "[" not in installs[0]  # no extras: test and dev dependencies stay out of the image


def test_dockerfile_runs_as_medic_with_its_directories_and_no_secrets():
    instructions = dockerfile_instructions()
    users = [args for op, args in instructions if op == "USER"]
    assert users == ["medic"]
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert "MEDIC_DATA_DIR=/var/lib/medic" in env
    assert "MEDIC_BACKUP__DIR=" + environment("worker-maintenance")["MEDIC_BACKUP__DIR"] in env
    for directory in ("/var/lib/medic", "/var/log/medic", "/var/backups/medic"):
        assert directory in DOCKERFILE
    assert not SECRET_NAME.search(env)
    assert not any(op == "ENTRYPOINT" for op, _ in instructions)  # compose's commands start with `medic`


def test_data_files_of_the_packages_are_installed_by_a_plain_pip_install():
    """The image installs the project non-editably: a data file must be in the package data to get there."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = project["tool"]["setuptools"]["package-data"]
    missing = []
    for package in ("config", "workers", "tasks", "schedules"):
        for path in (REPO / package).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc", ".md") or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(REPO / package).as_posix()
            if not any(fnmatch.fnmatchcase(relative, pattern) for pattern in package_data.get(package, [])):
                missing.append(f"{package}/{relative}")
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context():
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".medic", ".env", ".env.*", "**/__pycache__", "tests"} <= ignored
