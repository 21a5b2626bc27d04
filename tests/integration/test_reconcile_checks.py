"""Declarative checks against a real application database (PostgreSQL and SQLite), with the seed's
two cases: negative stock levels and orphaned transactions. medic's own database is SQLite or
PostgreSQL too (`database_url`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select, text

from config.settings import load_settings
from tests.support import services
from workers.maintenance.job import JobContext
from workers.maintenance.reconcile import job
from workers.storage.db import session_factory
from workers.storage.models import Notification, ReconciliationEntry

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NEGATIVE_STOCK = {"name": "negative-stock", "description": "stock below zero", "database_url_env": "SHOP_DB_URL",
                  "detect": "SELECT id, sku, stock FROM products WHERE stock < 0",
                  "fix": "UPDATE products SET stock = 0 WHERE id = :id"}
ORPHANS = {"name": "orphaned-transactions", "database_url_env": "SHOP_DB_URL",
           "detect": "SELECT t.id, t.product_id, t.amount FROM transactions t "
                     "LEFT JOIN products p ON p.id = t.product_id WHERE p.id IS NULL",
           "fix": ["INSERT INTO transactions_quarantine (id, product_id, amount) "
                   "SELECT id, product_id, amount FROM transactions WHERE id = :id",
                   "DELETE FROM transactions WHERE id = :id"]}
SCHEMA = ["CREATE TABLE products (id INTEGER PRIMARY KEY, sku VARCHAR(64) NOT NULL, stock INTEGER NOT NULL)",
          "CREATE TABLE transactions (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, amount NUMERIC(10, 2) NOT "
          "NULL)",
          "CREATE TABLE transactions_quarantine (id INTEGER PRIMARY KEY, product_id INTEGER, amount NUMERIC(10, 2))"]
PRODUCTS = [(1, "ok", 5), (2, "neg-a", -3), (3, "x'; DROP TABLE products; --", -1), (4, "zero", 0)]
TRANSACTIONS = [(10, 1, "9.99"), (11, 99, "5.00"), (12, 98, "1.50")]


class Shop:
    """The application's database, its tables made afresh."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_engine(url)
        with self.engine.begin() as connection:
            for table in ("transactions_quarantine", "transactions", "products"):
                connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
            for statement in SCHEMA:
                connection.execute(text(statement))
            connection.execute(text("INSERT INTO products VALUES (:id, :sku, :stock)"),
                               [dict(zip(("id", "sku", "stock"), row, strict=True)) for row in PRODUCTS])
            connection.execute(text("INSERT INTO transactions VALUES (:id, :product_id, :amount)"),
                               [dict(zip(("id", "product_id", "amount"), row, strict=True)) for row in TRANSACTIONS])

    def column(self, sql: str) -> list:
        with self.engine.connect() as connection:
            return [row[0] for row in connection.execute(text(sql))]


@pytest.fixture(scope="module")
def shop_pg():
    """One PostgreSQL application database for the module; each test makes its tables afresh."""
    name = services.create_pg_database()
    yield services.pg_url(name)
    services.drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def shop(request, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'shop.sqlite'}" if request.param == "sqlite" else request.getfixturevalue("shop_pg")
    monkeypatch.setenv("SHOP_DB_URL", url)
    shop = Shop(url)
    yield shop
    shop.engine.dispose()


def run(database_url, *checks, dry_run=False, check=None):
    settings = load_settings(database_url=database_url, reconcile={"checks": list(checks)})
    ctx = JobContext(settings=settings, sessions=session_factory(database_url), dry_run=dry_run,
                     params={"check": check} if check else {}, clock=lambda: NOW)
    return job.run(ctx)


def logged(database_url, check):
    with session_factory(database_url)() as session:
        return list(session.scalars(select(ReconciliationEntry).where(ReconciliationEntry.check_name == check)
                                    .order_by(ReconciliationEntry.id)))


def alerts(database_url):
    with session_factory(database_url)() as session:
        return list(session.scalars(select(Notification).where(Notification.kind == "reconcile")
                                    .order_by(Notification.id)))


def test_auto_fix_fixes_each_row_and_logs_before_and_after(shop, database_url):
    result = run(database_url, {**NEGATIVE_STOCK, "auto_fix": True}, {**ORPHANS, "auto_fix": True})
    assert not result.failed, result.summary
    assert shop.column("SELECT stock FROM products ORDER BY id") == [5, 0, 0, 0]
    assert shop.column("SELECT id FROM transactions") == [10]
    assert shop.column("SELECT id FROM transactions_quarantine ORDER BY id") == [11, 12]
    stock = logged(database_url, "negative-stock")
    assert [(e.subject, e.action, e.before) for e in stock] == [
        ("id=2", "fixed", {"id": 2, "sku": "neg-a", "stock": -3}),
        ("id=3", "fixed", {"id": 3, "sku": "x'; DROP TABLE products; --", "stock": -1})]
    assert stock[0].after == {"rows_affected": [1], "detected": False}
    orphans = logged(database_url, "orphaned-transactions")
    assert [(e.action, float(e.before["amount"]), e.after["rows_affected"]) for e in orphans] == [
        ("fixed", 5.0, [1, 1]), ("fixed", 1.5, [1, 1])]
    assert (result.counts["found"], result.counts["fixed"]) == (4, 4)
    assert not alerts(database_url)
    assert run(database_url, {**NEGATIVE_STOCK, "auto_fix": True}, check="negative-stock").counts["found"] == 0


def test_without_auto_fix_nothing_changes_and_one_alert_goes_out(shop, database_url):
    result = run(database_url, NEGATIVE_STOCK)
    assert not result.failed
    assert shop.column("SELECT stock FROM products ORDER BY id") == [5, -3, -1, 0]
    assert [e.action for e in logged(database_url, "negative-stock")] == ["reported", "reported"]
    (alert,) = alerts(database_url)
    assert (alert.level, alert.channel, alert.state) == ("warning", "log", "pending")
    assert alert.body["fields"]["check"] == "negative-stock" and "id=2" in alert.body["fields"]["some"]
    run(database_url, NEGATIVE_STOCK)  # within the cooldown: stored, not sent again
    assert [a.state for a in alerts(database_url)] == ["pending", "suppressed"]


def test_dry_run_changes_nothing_and_alerts_nobody(shop, database_url):
    result = run(database_url, {**NEGATIVE_STOCK, "auto_fix": True}, {**ORPHANS, "auto_fix": True}, dry_run=True)
    assert (result.counts["dry_run"], result.counts["fixed"]) == (4, 0)
    assert shop.column("SELECT stock FROM products ORDER BY id") == [5, -3, -1, 0]
    assert shop.column("SELECT count(*) FROM transactions") == [3]
    assert {e.detail for e in logged(database_url, "negative-stock")} == {"would be fixed"}
    assert not alerts(database_url)


def test_at_most_max_rows_a_run(shop, database_url):
    limited = {**NEGATIVE_STOCK, "auto_fix": True, "max_rows": 1}
    first = run(database_url, limited)
    assert (first.counts["fixed"], first.counts["truncated"]) == (1, 1)
    assert shop.column("SELECT stock FROM products ORDER BY id") == [5, 0, -1, 0]
    assert len(alerts(database_url)) == 1  # more are waiting than a run handles
    second = run(database_url, limited)
    assert (second.counts["fixed"], second.counts["truncated"]) == (1, 0)


def test_a_broken_check_fails_alone_with_a_clear_message(shop, database_url, monkeypatch):
    monkeypatch.setenv("BROKEN_DB_URL", "postgresql://shop:s3cret@127.0.0.1:1/shop")
    result = run(database_url,
                 {**NEGATIVE_STOCK, "name": "bad-sql", "detect": "SELEC id FROM products"},
                 {**NEGATIVE_STOCK, "name": "no-variable", "database_url_env": "NOT_SET_DB_URL"},
                 {**NEGATIVE_STOCK, "name": "unreachable", "database_url_env": "BROKEN_DB_URL"},
                 {**NEGATIVE_STOCK, "name": "no-key", "key": "product_id"},
                 {**NEGATIVE_STOCK, "auto_fix": True})
    assert result.failed
    assert shop.column("SELECT stock FROM products ORDER BY id") == [5, 0, 0, 0]
    errors = {name: logged(database_url, name)[0].detail for name in ("bad-sql", "no-variable", "unreachable",
                                                                      "no-key")}
    assert "detect failed" in errors["bad-sql"] and "syntax error" in errors["bad-sql"]
    assert errors["no-variable"] == "environment variable NOT_SET_DB_URL (database_url_env) is not set"
    assert "127.0.0.1" in errors["unreachable"] and "s3cret" not in errors["unreachable"]
    assert errors["no-key"].startswith("detect returns no column 'product_id' (key)")
    assert "s3cret" not in result.summary and "no-variable: failed: environment variable" in result.summary
    assert result.counts["errors"] == 4 and result.counts["negative-stock.fixed"] == 2


def test_a_fix_that_leaves_the_row_detected_is_rolled_back(shop, database_url):
    useless = {**NEGATIVE_STOCK, "auto_fix": True, "fix": ["UPDATE products SET sku = 'touched' WHERE id = :id"]}
    result = run(database_url, useless)
    assert result.failed and result.counts["fix_failed"] == 2
    assert shop.column("SELECT sku FROM products WHERE stock < 0 ORDER BY id") == ["neg-a",
                                                                                   "x'; DROP TABLE products; --"]
    entry = logged(database_url, "negative-stock")[0]
    assert entry.after == {"id": 2, "sku": "touched", "stock": -3} and "rolled back" in entry.detail


def test_a_fix_naming_a_column_detect_lacks_fails_the_check(shop, database_url):
    result = run(database_url,
                 {**NEGATIVE_STOCK, "auto_fix": True, "fix": "UPDATE products SET stock = 0 WHERE sku = :code"})
    assert result.failed
    assert "fix uses :code, which detect does not return (it returns id, sku, stock)" in result.summary
    assert shop.column("SELECT stock FROM products ORDER BY id") == [5, -3, -1, 0]
