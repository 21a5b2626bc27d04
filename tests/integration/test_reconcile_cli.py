"""`medic reconcile list|run|log` as an operator runs them (subprocesses).

medic's database is SQLite here: the job itself runs on both databases in test_reconcile_own.py
and test_reconcile_checks.py, and each CLI process spends seconds starting."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from tests.support.services import medic_env, run_medic
from workers.maintenance.runner import lease_name
from workers.storage import leases
from workers.storage.db import session_factory

pytestmark = pytest.mark.integration

CHECKS = [
    {"name": "negative-stock", "description": "stock below zero", "database_url_env": "SHOP_DB_URL",
     "detect": "SELECT id, sku, stock FROM products WHERE stock < 0",
     "fix": "UPDATE products SET stock = 0 WHERE id = :id", "auto_fix": True},
    {"name": "orphans", "database_url_env": "SHOP_DB_URL",
     "detect": "SELECT t.id FROM transactions t LEFT JOIN products p ON p.id = t.product_id WHERE p.id IS NULL",
     "fix": "DELETE FROM transactions WHERE id = :id"},
]


@pytest.fixture
def shop(tmp_path):
    path = tmp_path / "shop.sqlite"
    with sqlite3.connect(path) as connection:
        connection.executescript("""
            CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, stock INTEGER NOT NULL);
            CREATE TABLE transactions (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, amount NUMERIC NOT NULL);
            INSERT INTO products VALUES (1, 'a', 4), (2, 'b', -2);
            INSERT INTO transactions VALUES (10, 1, 3.5), (11, 77, 1.25);""")
    return path


def stock(path) -> list[int]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT stock FROM products ORDER BY id")]


@pytest.fixture
def medic(sqlite_url, shop):
    env = {**medic_env(database_url=sqlite_url, reconcile__checks=json.dumps(CHECKS)), "SHOP_DB_URL": f"sqlite:///{shop}"}

    def run(*args: str, **overrides: str) -> subprocess.CompletedProcess:
        return run_medic({**env, **overrides}, "reconcile", *args)
    return run


def test_list_run_and_log(medic, shop):
    with ThreadPoolExecutor(3) as pool:
        listed, unknown, bad = pool.map(lambda args: medic(*args[0], **args[1]), [
            (("list", "--json"), {}), (("run", "nope"), {}),
            (("list",), {"MEDIC_RECONCILE__CHECKS": json.dumps([{**CHECKS[0], "database_url_env": "sqlite:///x"}])})])
    rows = json.loads(listed.stdout)
    assert [(r["check"], r["run_as"], r["fix"], r["last"]) for r in rows] == [
        ("medic:group-counts", "medic", "auto", None), ("medic:attempt-claims", "medic", "auto", None),
        ("medic:execution-states", "medic", "auto", None), ("negative-stock", "negative-stock", "auto", None),
        ("orphans", "orphans", "report", None)]
    assert unknown.returncode == 4 and "checks: medic, negative-stock, orphans" in unknown.stderr
    assert bad.returncode == 3 and "check 'negative-stock': database_url_env" in bad.stderr

    dry = medic("run", "negative-stock", "--dry-run", "--json")
    assert dry.returncode == 1, dry.stderr
    assert [e["action"] for e in json.loads(dry.stdout)["entries"]] == ["dry_run"] and stock(shop) == [4, -2]

    fixed = medic("run", "negative-stock", "--json")
    assert fixed.returncode == 0, fixed.stderr
    data = json.loads(fixed.stdout)
    assert data["status"] == "succeeded" and data["counts"]["fixed"] == 1
    assert [(e["subject"], e["before"]["stock"]) for e in data["entries"]] == [("id=2", -2)] and stock(shop) == [4, 0]

    reported = medic("run", "orphans")
    assert reported.returncode == 1 and "orphans: 1 found, 1 reported" in reported.stdout
    own = medic("run", "medic", "--json")
    assert own.returncode == 0 and json.loads(own.stdout)["counts"]["found"] == 0

    with ThreadPoolExecutor(3) as pool:
        listed, log, log_run = pool.map(lambda args: medic(*args), [
            ("list", "--json"), ("log", "--check", "negative-stock", "--json"), ("log", "--run", str(data["id"]))])
    last = {r["check"]: r["last"] for r in json.loads(listed.stdout)}
    assert (last["negative-stock"]["found"], last["negative-stock"]["fixed"]) == (1, 1)
    assert (last["orphans"]["reported"], last["medic:group-counts"]["found"]) == (1, 0)
    assert [e["action"] for e in json.loads(log.stdout)] == ["fixed", "dry_run"]
    assert "id=2" in log_run.stdout and "fixed" in log_run.stdout and "dry_run" not in log_run.stdout


def test_a_run_while_another_holds_the_lock_is_skipped(medic, sqlite_url):
    with session_factory(sqlite_url)() as session:
        assert leases.acquire(session, lease_name("reconcile"), "someone-else", now=datetime.now(UTC), ttl_s=600)
    skipped = medic("run", "medic", "--json")
    assert skipped.returncode == 1 and json.loads(skipped.stdout)["status"] == "skipped"
