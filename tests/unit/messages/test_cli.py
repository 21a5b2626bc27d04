"""`medic messages check` and `medic messages preview`, in-process."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from config.errors import ConfigError
from config.settings import get_settings
from workers.cli.messages import messages


@pytest.fixture(autouse=True)
def fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(*args: str):
    return CliRunner().invoke(messages, list(args))


def test_check_lists_the_locales():
    result = run("check")
    assert result.exit_code == 0, result.output
    assert "ok: 3 locales" in result.output
    assert [line.split()[0] for line in result.output.splitlines() if line[:3] in ("de ", "en ", "fr ")] == ["de", "en",
                                                                                                             "fr"]


def test_check_includes_the_files_of_the_setting(monkeypatch, messages_file):
    path = messages_file('locale: es\ngroups: {rate_limit: {end_user: "Ocupado."}}\n')
    monkeypatch.setenv("MEDIC_MESSAGES__FILES", str(path))
    result = run("check", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["files"][-1] == str(path)
    spanish = next(row for row in data["locales"] if row["locale"] == "es")
    assert spanish["categories"] == 1 and spanish["templates"] == 1
    assert "groups.network" in spanish["falls_back"] and "alerts.default" in spanish["falls_back"]
    assert next(row for row in data["locales"] if row["locale"] == "en")["falls_back"] == []


def test_check_raises_the_config_error(monkeypatch, messages_file):
    path = messages_file('locale: en\ngroups: {rate_limit: {end_user: "{error_type}"}}\n')
    monkeypatch.setenv("MEDIC_MESSAGES__FILES", str(path))
    result = run("check")
    assert isinstance(result.exception, ConfigError)
    assert "groups.rate_limit.end_user: unknown placeholder {error_type}" in str(result.exception)


def test_check_exits_3_through_main(monkeypatch, messages_file):
    from workers.cli.main import main
    monkeypatch.setenv("MEDIC_MESSAGES__FILES", str(messages_file("locale: 12\n")))
    monkeypatch.setattr("sys.argv", ["medic", "messages", "check"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 3


def test_preview_a_category():
    result = run("preview", "--category", "timeout", "--locale", "de-CH", "--recovery-state", "succeeded")
    assert result.exit_code == 0, result.output
    assert "situation       recovered" in result.output
    assert ("end_user   Ein Dienst hat langsam geantwortet, Ihre Anfrage wurde inzwischen aber erfolgreich "
            "ausgeführt.") in result.output
    assert "note: no templates for locale 'de-CH'; 'de' is the best match" in result.output


def test_preview_json_and_fallback_note():
    result = run("preview", "--category", "cosmic_rays", "--recovery-state", "none", "--json")
    data = json.loads(result.output)
    assert data["locale"] == "en" and data["situation"] == "none" and data["recovery_state"] is None
    assert set(data["messages"]) == {"end_user", "operator", "developer"}
    assert data["notes"] == ["locale 'en' has no groups.cosmic_rays: the groups.default texts are used"]


def test_preview_an_alert():
    result = run("preview", "--alert", "breaker_open", "--alert-state", "resolved", "--locale", "fr", "--json")
    data = json.loads(result.output)
    assert data["messages"]["operator"].startswith("Résolue : le disjoncteur de medic.intake est refermé")


@pytest.mark.parametrize("args", [[], ["--category", "network", "--alert", "breaker_open"]])
def test_preview_needs_one_subject(args):
    result = run("preview", *args)
    assert result.exit_code == 2 and "give exactly one of --category and --alert" in result.output
