"""Settings of the reconciliation job: checks validated at startup, errors naming the check and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.errors import ConfigError
from config.settings import load_settings

CHECK = {"name": "negative-stock", "database_url_env": "SHOP_DB_URL",
         "detect": "SELECT id, stock FROM products WHERE stock < 0;",
         "fix": "UPDATE products SET stock = 0 WHERE id = :id"}


def reconcile(*checks, **more):
    return load_settings(reconcile={"checks": list(checks), **more}).reconcile


def test_defaults_and_normalisation():
    (check,) = reconcile(CHECK).checks
    assert (check.key, check.auto_fix, check.max_rows) == ("id", False, 100)
    assert check.detect == "SELECT id, stock FROM products WHERE stock < 0"
    assert check.fix == ["UPDATE products SET stock = 0 WHERE id = :id"]  # one statement or a list
    assert reconcile().checks == [] and reconcile().fix_own is True


@pytest.mark.parametrize("change, message", [
    ({"database_url_env": "postgresql://shop:pw@db/shop"},
     "check 'negative-stock': database_url_env: must be the NAME"),
    ({"detect": " ; "}, "check 'negative-stock': detect: must not be empty"),
    ({"fix": None, "auto_fix": True}, "check 'negative-stock': auto_fix: is true but there is no fix statement"),
    ({"fix": []}, "check 'negative-stock': fix: must name at least one statement"),
    ({"key": "id; DROP"}, "check 'negative-stock': key: must be a column name"),
    ({"max_rows": 0}, "check 'negative-stock': max_rows: Input should be greater than or equal to 1"),
    ({"name": "medic"}, "check 'medic': name: 'medic' is reserved"),
    ({"name": "Bad Name"}, "check 'Bad Name': name: use 1-64 lowercase"),
    ({"autofix": True}, "check 'negative-stock': autofix: Extra inputs are not permitted"),
])
def test_a_bad_check_is_named_with_its_field(change, message):
    with pytest.raises(ConfigError) as caught:
        reconcile({**CHECK, **change})
    assert message in str(caught.value)
    assert "shop:pw" not in str(caught.value)  # a URL put where its variable belongs is not echoed


def test_a_check_without_a_required_field_is_named():
    with pytest.raises(ConfigError, match=r"check 'negative-stock': detect: Field required"):
        reconcile({key: value for key, value in CHECK.items() if key != "detect"})


def test_names_are_unique():
    with pytest.raises(ConfigError, match=r"check 'negative-stock': name: used by more than one check"):
        reconcile(CHECK, {**CHECK, "detect": "SELECT 1 AS id"})


def test_a_fix_without_auto_fix_is_reported_only():
    (check,) = reconcile({**CHECK, "auto_fix": False}).checks
    assert check.fix and not check.auto_fix


def test_checks_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("MEDIC_RECONCILE__CHECKS", '[{"name": "orphans", "database_url_env": "SHOP_DB_URL", '
                                                  '"detect": "SELECT 1 AS id"}]')
    monkeypatch.setenv("MEDIC_RECONCILE__FIX_OWN", "false")
    current = load_settings().reconcile
    assert [c.name for c in current.checks] == ["orphans"] and current.fix_own is False


def test_the_documented_example_is_valid(monkeypatch):
    example = Path(__file__).resolve().parents[3] / "docs" / "maintenance" / "reconcile-checks.example.yaml"
    monkeypatch.setenv("MEDIC_CONFIG_FILE", str(example))
    current = load_settings().reconcile
    assert [(c.name, c.auto_fix) for c in current.checks] == [("negative-stock", True),
                                                              ("orphaned-transactions", False)]
