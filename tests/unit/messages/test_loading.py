"""Loading the catalog: built-in files, override files, and every validation error."""

from __future__ import annotations

import pytest

from config.errors import ConfigError
from config.messages import MessageSettings
from workers.messages import Catalog, load_catalog
from workers.messages.loading import build_catalog, builtin_files, read_file

GROUP = {"category": "rate_limit", "service": "github", "operation": "create_issue", "recovery_state": "waiting"}


def test_builtin_locales_load():
    catalog = build_catalog([], default_locale="en")
    assert catalog.locales == ["de", "en", "fr"]
    assert [p.name for p in builtin_files()] == ["de.yaml", "en.yaml", "fr.yaml"]


def test_load_catalog_is_cached_per_files_and_default_locale(messages_file):
    path = messages_file("locale: en\n")
    assert load_catalog(MessageSettings()) is load_catalog(MessageSettings())
    assert load_catalog(MessageSettings(files=[path])) is not load_catalog(MessageSettings())
    assert isinstance(load_catalog(MessageSettings(default_locale="de")), Catalog)


def test_an_override_replaces_one_entry_and_keeps_the_rest(messages_file):
    path = messages_file("""
        locale: en
        groups:
          rate_limit:
            operator: "{service} is throttled."
    """)
    catalog = build_catalog([path], default_locale="en")
    messages = catalog.render_group(GROUP).messages
    assert messages["operator"] == "github is throttled."
    assert messages["end_user"].startswith("A service is very busy right now.")  # the built-in variant
    assert catalog.texts("en").files[-1] == path


def test_an_overridden_entry_loses_its_variants(messages_file):
    path = messages_file("""
        locale: en
        groups:
          rate_limit:
            end_user: "Busy; try later."
    """)
    assert build_catalog([path], default_locale="en").render_group(GROUP).messages["end_user"] == "Busy; try later."


def test_later_files_win(messages_file):
    first = messages_file('locale: en\ngroups: {rate_limit: {operator: "first"}}\n', "a.yaml")
    second = messages_file('locale: en\ngroups: {rate_limit: {operator: "second"}}\n', "b.yaml")
    assert build_catalog([first, second], default_locale="en").render_group(GROUP).messages["operator"] == "second"


def test_a_file_adds_a_locale_that_falls_back_to_the_default_locale(messages_file):
    path = messages_file("""
        locale: es
        groups:
          rate_limit:
            end_user: "El servicio está muy ocupado."
    """)
    catalog = build_catalog([path], default_locale="en")
    assert catalog.locales == ["de", "en", "es", "fr"]
    rendered = catalog.render_group(GROUP, locale="es-MX")
    assert rendered.locale == "es"
    assert rendered.messages["end_user"] == "El servicio está muy ocupado."
    assert rendered.messages["operator"].startswith("github (create_issue) is throttling requests")


def test_phrases_override_one_by_one(messages_file):
    path = messages_file("""
        locale: en
        phrases:
          recovery: {retrying: "medic retries."}
    """)
    catalog = build_catalog([path], default_locale="en")
    assert catalog.render_group(GROUP).messages["operator"].endswith("medic retries.")
    assert catalog.render_group({**GROUP, "recovery_state": None}).messages["operator"].endswith(
        "No recovery is running for it.")


def test_a_default_locale_without_files_is_refused():
    with pytest.raises(ConfigError, match=r"default_locale 'es' has no messages file \(locales: de, en, fr\)"):
        build_catalog([], default_locale="es")


def test_a_new_default_locale_must_cover_every_default_audience_and_recovery_phrase(messages_file):
    path = messages_file("""
        locale: es
        groups:
          default: {end_user: "Algo salió mal.", operator: "{service} falla."}
    """)
    with pytest.raises(ConfigError) as error:
        build_catalog([path], default_locale="es")
    text = str(error.value)
    assert f"default locale 'es' ({path}): incomplete" in text
    assert "groups.default.developer: missing" in text
    assert "alerts.default.operator: missing" in text
    assert "phrases.recovery.retrying: missing" in text
    assert "groups.default.end_user" not in text


def test_a_locale_missing_categories_is_fine(messages_file):
    path = messages_file('locale: it\ngroups: {default: {end_user: "Qualcosa è andato storto."}}\n')
    catalog = build_catalog([path], default_locale="en")
    assert catalog.render_group(GROUP, locale="it").messages["end_user"] == "Qualcosa è andato storto."


@pytest.mark.parametrize(("text", "where", "what"), [
    ('locale: en\ngroups: {rate_limit: {operator: "{servce} fails"}}', "groups.rate_limit.operator",
     "unknown placeholder {servce}; allowed here: category, confidence"),
    ('locale: en\ngroups: {rate_limit: {operator: "{0.__class__}"}}', "groups.rate_limit.operator",
     "unknown placeholder {0.__class__}"),
    ('locale: en\ngroups: {rate_limit: {operator: "{service!r:>10}"}}', "groups.rate_limit.operator",
     "unknown placeholder {service!r:>10}"),
    ('locale: en\ngroups: {rate_limit: {end_user: "{error_type} failed"}}', "groups.rate_limit.end_user",
     "unknown placeholder {error_type}; allowed here: first_seen, last_seen, next_attempt_at"),
    ('locale: en\ngroups: {rate_limit: {end_user: {text: "x", retrying: "{service} is retried"}}}',
     "groups.rate_limit.end_user.retrying", "unknown placeholder {service}"),
    ('locale: en\ngroups: {rate_limit: {operator: "a { b"}}', "groups.rate_limit.operator",
     "unmatched '{' at character 3 (write {{ for a literal brace)"),
    ('locale: en\ngroups: {rate_limit: {enduser: "x"}}', "groups.rate_limit.enduser",
     "unknown audience; expected one of end_user, operator, developer"),
    ('locale: en\nalerts: {queue_backlog: {end_user: "x"}}', "alerts.queue_backlog.end_user",
     "unknown audience; expected one of operator, developer"),
    ('locale: en\ngroups: {rate_limit: {operator: {text: 42}}}', "groups.rate_limit.operator.text",
     "not a string but int 42 (quote it)"),
    ('locale: en\ngroups: {rate_limit: {operator: {text: "x", gave_up: no}}}', "groups.rate_limit.operator.gave_up",
     "not a string but bool False (quote it)"),
    ('locale: en\ngroups: {rate_limit: {operator: 42}}', "groups.rate_limit.operator",
     "not a string, nor a mapping of `text` and variants (retrying, recovered, gave_up, none)"),
    ('locale: en\ngroups: {rate_limit: {operator: {retrying: "x"}}}', "groups.rate_limit.operator.text",
     "missing; variants need a `text` for the other cases"),
    ('locale: en\ngroups: {rate_limit: {operator: {text: "x", waiting: "y"}}}', "groups.rate_limit.operator.waiting",
     "unknown variant; expected `text` or one of retrying, recovered, gave_up, none"),
    ('locale: en\nalerts: {queue_backlog: {operator: {text: "x", retrying: "y"}}}',
     "alerts.queue_backlog.operator.retrying",
     "unknown variant; expected `text` or one of open, acknowledged, resolved"),
    ('locale: en\ngroups: {rate_limit: {operator: "  "}}', "groups.rate_limit.operator",
     "empty; write the text, or leave the key out to fall back"),
    ('locale: en\ngroups: {rate_limit: "x"}', "groups.rate_limit",
     "expected a mapping of audience (end_user, operator, developer) to text"),
    ('locale: en\ngroups: [rate_limit]', "groups", "expected a mapping of category (or `default`) to audiences"),
    ('locale: en\ntemplates: {}', "templates", "unknown key; expected one of locale, groups, alerts, phrases"),
    ('groups: {}', "locale", "missing; write e.g. `locale: de` or `locale: de-CH`"),
    ('locale: German', "locale", "'German' is not a locale tag"),
    ('locale: no', "locale", "False is not a locale tag"),
    ('locale: en\nphrases: {recovery: {waiting: "x"}}', "phrases.recovery.waiting",
     "unknown situation; expected one of retrying, recovered, gave_up, none"),
    ('locale: en\nphrases: {recovery: {retrying: "next at {next_attempt}"}}', "phrases.recovery.retrying",
     "unknown placeholder {next_attempt}"),
    ('locale: en\nphrases: {recovery: {retrying: "{recovery}"}}', "phrases.recovery.retrying",
     "unknown placeholder {recovery}"),
    ('locale: en\nphrases: {missing: {servce: "?"}}', "phrases.missing.servce", "unknown placeholder; expected one of"),
    ('locale: en\nphrases: {missing: {default: 0}}', "phrases.missing.default", "not a string (quote it)"),
    ('locale: en\nphrases: {labels: {}}', "phrases.labels", "unknown key; expected recovery or missing"),
    ('- locale: en', "(the file)", "expected a mapping with `locale`"),
])
def test_validation_errors_name_the_file_the_key_and_the_problem(messages_file, text, where, what):
    path = messages_file(text + "\n")
    with pytest.raises(ConfigError) as error:
        build_catalog([path], default_locale="en")
    message = str(error.value)
    assert message.startswith(f"messages file {path}: invalid:")
    assert f"  {where}: {what}" in message


def test_every_problem_of_a_file_is_reported_at_once(messages_file):
    path = messages_file('locale: en\ngroups: {a: {operator: "{x}", developer: 1}}\n')
    with pytest.raises(ConfigError) as error:
        read_file(path)
    assert len(str(error.value).splitlines()) == 3


def test_unreadable_and_malformed_files(messages_file, tmp_path):
    with pytest.raises(ConfigError, match=r"messages file .*absent.yaml: cannot read: No such file"):
        build_catalog([tmp_path / "absent.yaml"], default_locale="en")
    with pytest.raises(ConfigError, match=r"messages file .*bad.yaml: not valid YAML"):
        build_catalog([messages_file("locale: [en\n", "bad.yaml")], default_locale="en")


def test_literal_braces_are_allowed(messages_file):
    path = messages_file('locale: en\ngroups: {rate_limit: {developer: "{{literal}} {service}"}}\n')
    assert build_catalog([path], default_locale="en").render_group(GROUP).messages["developer"] == "{literal} github"
