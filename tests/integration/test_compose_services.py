"""Every medic service of docker-compose.yml, run natively: its exact command, then its exact healthcheck.

No Docker engine is needed. The compose file is read as data; each service's `command` runs as a
process here (`medic` is a shim for this interpreter's `python -m workers.cli.main`) with the
environment compose would give it, its container-only parts mapped to this machine: the `redis`
and `postgres` hostnames to the test Redis and a fresh PostgreSQL database, the volume paths to
temporary directories, published ports to free ones, 0.0.0.0 to 127.0.0.1. Secrets come from test
values, as from the env file. Then the service's healthcheck `test` (CMD or CMD-SHELL, `$$`
unescaped as compose does) runs here until it passes.

As in compose, migrate runs first on an empty database; the long-running services then start
side by side, so the whole file takes about as long as the slowest of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.support import services
from tests.support.services import Process, medic_env, wait_for
from workers.storage import migrate

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
LONG_RUNNING = ["worker-intake", "worker-recovery", "worker-maintenance", "beat", "flower", "serve"]
HEALTHY_WITHIN_S = 40
# What the env file would hold (.env.example documents these); test values, not secrets.
ENV_FILE = {
    "POSTGRES_PASSWORD": "unused-natively",
    "MEDIC_FLOWER__BASIC_AUTH": "ops:test-flower-password",
    "MEDIC_SERVE__TOKENS": json.dumps({"tests": {"token": "t" * 32, "access": "read"}}),
}
# Test settings on top of compose's: nothing that changes what a service is, only quieter output.
EXTRA = {"MEDIC_LOG_FORMAT": "text"}
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?message}, from `variables` (the env file)."""
    def one(match: re.Match) -> str:
        name, kind, default = match.groups()
        if kind == "-":
            return variables.get(name) or default
        return variables[name]
    return INTERPOLATION.sub(one, value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def duration_s(text: str | None, default_s: float) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s", str(text or ""))
    return float(match.group(1)) if match else default_s


class Stack:
    """The compose file's medic services as local processes sharing one Redis db and one database."""

    def __init__(self, root: Path, redis_url: str, database_url: str):
        self.root, self.redis_url, self.database_url = root, redis_url, database_url
        self.processes: dict[str, Process] = {}
        self.bin = root / "bin"
        self.bin.mkdir()
        shim = self.bin / "medic"
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m workers.cli.main "$@"\n')
        shim.chmod(0o755)

    def environment(self, service: str, *, data_dir: str | None = None) -> dict[str, str]:
        spec = SERVICES[service]
        assert spec["env_file"], f"{service} takes no env file"
        compose_env = {name: interpolate(str(value), ENV_FILE) for name,
                       value in (spec.get("environment") or {}).items()}
        env = {**medic_env(), **ENV_FILE}
        env.update({name: self.native(service, name, value) for name, value in compose_env.items()})
        env.update(EXTRA)
        if data_dir:
            env["MEDIC_DATA_DIR"] = data_dir
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        leftovers = {k: v for k, v in env.items() if re.search(r"(@postgres|//redis)[:/]|/var/(lib|log|backups)/", v)}
        assert not leftovers, f"{service}: not mapped to this machine: {leftovers}"
        return env

    def native(self, service: str, name: str, value: str) -> str:
        """A compose environment value, with what only exists in the containers mapped to this machine."""
        if value.startswith("redis://redis:"):
            return self.redis_url
        if value.startswith("postgresql") and "@postgres:" in value:
            return self.database_url
        if name.endswith("__PORT"):
            return str(free_port())
        if value == "0.0.0.0":
            return "127.0.0.1"
        for container in re.findall(r"/var/(?:lib|log|backups)/medic", value):
            local = self.root / container.strip("/").replace("/", "-")
            local.mkdir(exist_ok=True)
            value = value.replace(container, str(local))
        return value

    def command(self, service: str, env: dict[str, str]) -> list[str]:
        command = list(SERVICES[service]["command"])
        assert command[0] == "medic"
        return [shutil.which("medic", path=env["PATH"]), *command[1:]]

    def start(self, service: str, *, name: str | None = None, data_dir: str | None = None) -> Process:
        name = name or service
        env = self.environment(service, data_dir=data_dir)
        process = Process(self.command(service, env), env, self.root / f"{name}.log")
        process.env = env
        self.processes[name] = process
        return process

    def healthcheck(self, service: str, process: Process) -> tuple[bool, str]:
        """Run the service's healthcheck until it passes or HEALTHY_WITHIN_S is over: (passed, last output)."""
        check = SERVICES[service]["healthcheck"]
        test = check["test"]
        if isinstance(test, str) or test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", (test if isinstance(test, str) else test[1]).replace("$$", "$")]
        else:
            assert test[0] == "CMD", test
            argv = [arg.replace("$$", "$") for arg in test[1:]]
            argv[0] = shutil.which(argv[0], path=process.env["PATH"]) or argv[0]
        timeout_s = duration_s(check.get("timeout"), 30)
        deadline, output = time.monotonic() + HEALTHY_WITHIN_S, ""
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                return False, f"{service} exited with {process.proc.returncode}"
            try:
                result = subprocess.run(argv, env=process.env, cwd=REPO, capture_output=True, text=True,
                                        timeout=timeout_s)
            except subprocess.TimeoutExpired:
                output = f"healthcheck timed out after {timeout_s:g}s"
                continue
            output = (result.stdout + result.stderr).strip()
            if result.returncode == 0:
                return True, output
            time.sleep(1)
        return False, output

    def stop(self) -> None:
        for name, process in reversed(list(self.processes.items())):
            process.terminate(timeout_s=20)
            print(f"===== {name} (exit {process.proc.returncode}) =====\n{process.output()[-3000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """migrate on an empty database, then every long-running service started side by side."""
    services.flush_redis()
    database = services.create_pg_database()
    stack = Stack(tmp_path_factory.mktemp("compose"), services.redis_url(), services.pg_url(database))
    try:
        env = stack.environment("migrate")
        stack.migrate = subprocess.run(stack.command("migrate", env), env=env, cwd=REPO, capture_output=True,
                                       text=True, timeout=120)
        if stack.migrate.returncode == 0:
            for service in LONG_RUNNING:
                stack.start(service)
        yield stack
    finally:
        stack.stop()
        services.flush_redis()
        services.drop_pg_database(database)


def test_migrate_brings_an_empty_database_to_head(stack):
    assert stack.migrate.returncode == 0, stack.migrate.stdout + stack.migrate.stderr
    url = stack.database_url
    assert migrate.current_revision(url) == migrate.head_revision(url) is not None
    assert f"at revision {migrate.head_revision(url)}" in stack.migrate.stdout


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_the_service_command_passes_its_healthcheck(stack, service):
    assert service in stack.processes, f"not started: migrate failed\n{stack.migrate.stderr}"
    process = stack.processes[service]
    healthy, output = stack.healthcheck(service, process)
    assert healthy, f"{service}: healthcheck failed: {output}\n--- {service} log ---\n{process.output()[-3000:]}"
    log_file = process.env.get("MEDIC_LOG_FILE")
    if log_file:  # in the logs volume, where log rotation looks for it
        wait_for(lambda: Path(log_file).stat().st_size > 0 if Path(log_file).exists() else False,
                 timeout_s=10, what=f"{service} writing {log_file}")


def test_a_standby_beat_passes_the_beat_healthcheck_too(stack):
    """A second beat waits for RedBeat's lock without ticking; it is alive, and its healthcheck says so."""
    assert "beat" in stack.processes
    healthy, output = stack.healthcheck("beat", stack.processes["beat"])
    assert healthy, output
    standby = stack.start("beat", name="beat-standby", data_dir=str(stack.root / "standby-data"))
    healthy, output = stack.healthcheck("beat", standby)
    assert healthy, f"{output}\n{standby.output()[-3000:]}"
    assert "Acquired lock" not in standby.output()  # it really is the standby
