"""Rendering groups and alerts from the built-in catalog: variants, fallbacks, coverage, no internals."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from workers.maintenance.health.rules import RULES
from workers.messages import Rendered
from workers.messages.loading import build_catalog
from workers.messages.schema import AUDIENCES, DEFAULT_KEY, SITUATIONS, recovery_situation
from workers.recovery.states import EXECUTION_STATES

CATEGORIES = ("network", "timeout", "rate_limit", "unavailable", "conflict", "auth", "validation", "not_found",
              "data", "resource", "configuration", "internal", "unknown")
ALERT_RULES = sorted({rule for rule, _ in RULES.values()})
CATALOG = build_catalog([], default_locale="en")
LOCALES = CATALOG.locales
STATE_OF_SITUATION = {"retrying": "waiting", "recovered": "succeeded", "gave_up": "dead", "none": None}
# Internals an end user must never see, each distinctive enough to spot in any language.
INTERNALS = {"error_type": "psycopg.errors.SerializationFailure", "message_template": "could not serialize access <n>",
             "service": "orders-db.internal.example", "operation": "reserve_stock", "rule_id": "pg-serialization-40001",
             "plan_name": "db-conflicts", "id": 918273, "confidence": 0.8712, "severity": "critical"}


def group(category: str, recovery_state: str | None = "waiting", **extra) -> dict:
    return {**INTERNALS, "category": category, "retryable": True, "status": "open", "occurrence_count": 4321,
            "first_seen": datetime(2026, 1, 1, 9, 0, tzinfo=UTC),
            "last_seen": datetime(2026, 1, 1, 11, 58, tzinfo=UTC), "recovery_state": recovery_state,
            "next_attempt_at": datetime(2026, 1, 1, 12, 5, tzinfo=UTC), **extra}


@pytest.mark.parametrize(("state", "situation"), [
    ("pending", "retrying"), ("running", "retrying"), ("waiting", "retrying"), ("succeeded", "recovered"),
    ("failed", "gave_up"), ("dead", "gave_up"), ("cancelled", "gave_up"), (None, "none"), ("exploded", "none"),
    (42, "none")])
def test_recovery_situation(state, situation):
    assert recovery_situation(state) == situation


def test_every_execution_state_has_a_situation():
    assert {recovery_situation(state) for state in EXECUTION_STATES} == {"retrying", "recovered", "gave_up"}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_locale_has_every_category_and_audience(locale, category):
    entries = CATALOG.texts(locale).entries["groups"]
    assert set(entries[category]) == set(AUDIENCES)
    assert set(entries[DEFAULT_KEY]) == set(AUDIENCES)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_locale_has_every_alert_rule_and_phrase(locale):
    texts = CATALOG.texts(locale)
    assert set(ALERT_RULES) | {DEFAULT_KEY} == set(texts.entries["alerts"])
    assert all("operator" in audiences for audiences in texts.entries["alerts"].values())
    assert set(texts.phrases["recovery"]) == set(SITUATIONS)
    assert set(texts.phrases["missing"]) == set(CATALOG.texts("en").phrases["missing"])


@pytest.mark.parametrize("locale", LOCALES)
def test_locales_have_the_same_variants_as_english(locale):
    def shape(texts):
        return {(section, key, audience): sorted(entry) for section, entries in texts.entries.items()
                for key, audiences in entries.items() for audience, entry in audiences.items()}
    assert shape(CATALOG.texts(locale)) == shape(CATALOG.texts("en"))


@pytest.mark.parametrize("situation", SITUATIONS)
@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("category", [*CATEGORIES, "made_up_category", None])
def test_end_user_texts_show_no_internals(category, locale, situation):
    rendered = CATALOG.render_group(group(category, STATE_OF_SITUATION[situation]), locale=locale)
    text = rendered.messages["end_user"]
    assert rendered.locale == locale
    for name, value in INTERNALS.items():
        assert str(value) not in text, f"{name} in the end_user text of {category}/{locale}/{situation}"
    assert category is None or "_" not in category or category not in text  # plain words like "data" may appear
    assert not re.search(r"[{}]|\b(None|unknown|unbekannt|inconnu)\b", text)
    assert "4321" not in text  # counts are for operators


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("category", CATEGORIES)
def test_operator_and_developer_texts_say_what_fails(category, locale):
    messages = CATALOG.render_group(group(category), locale=locale).messages
    assert "orders-db.internal.example (reserve_stock)" in messages["operator"]
    assert "4321" in messages["operator"] and "2026-01-01T11:58Z" in messages["operator"]
    assert "2026-01-01T12:05Z" in messages["operator"]  # the next attempt, from the recovery phrase
    for value in ("psycopg.errors.SerializationFailure", "orders-db.internal.example.reserve_stock",
                  "could not serialize access <n>", "pg-serialization-40001", "confidence=0.871", "retryable=true"):
        assert value in messages["developer"]


@pytest.mark.parametrize(("state", "start"), [
    ("waiting", "A service is very busy right now. Your request will be retried automatically"),
    ("succeeded", "A service was very busy, but your request has now gone through."),
    ("dead", "A service stayed too busy, and automatic retries did not succeed."),
    (None, "A service is receiving too many requests right now, so your request could not be completed."),
])
def test_end_user_text_follows_the_recovery_situation(state, start):
    assert CATALOG.render_group(group("rate_limit", state)).messages["end_user"].startswith(start)


def test_an_entry_without_a_variant_uses_its_text():
    text = CATALOG.render_group(group("auth", "dead")).messages["end_user"]
    assert text == CATALOG.texts("en").entries["groups"]["auth"]["end_user"]["text"]


@pytest.mark.parametrize(("state", "end"), [
    ("running", "medic is retrying automatically (plan db-conflicts, next attempt: 2026-01-01T12:05Z)."),
    ("succeeded", "medic's latest recovery (plan db-conflicts) succeeded."),
    ("cancelled", "Automatic recovery (plan db-conflicts) ended without success (cancelled); this needs attention."),
    (None, "No recovery is running for it."),
])
def test_operator_text_says_what_medic_does(state, end):
    assert CATALOG.render_group(group("network", state)).messages["operator"].endswith(end)


def test_none_values_read_as_the_locale_phrase():
    fields = group("network", "pending", next_attempt_at=None, operation=None, plan_name=None)
    assert CATALOG.render_group(fields).messages["operator"].startswith("orders-db.internal.example (unknown)")
    assert CATALOG.render_group(fields).messages["operator"].endswith("(plan none, next attempt: none scheduled).")
    assert "nächster Versuch: keiner geplant" in CATALOG.render_group(fields, locale="de").messages["operator"]
    assert "Reprise : pending, plan : aucun." in CATALOG.render_group(fields, locale="fr").messages["developer"]


def test_an_unknown_or_missing_category_uses_the_default_entry():
    assert "fails with made_up errors" in CATALOG.render_group(group("made_up")).messages["operator"]
    assert CATALOG.render_group({}).messages == {
        "end_user": "Something went wrong, so your request could not be completed. Please try again later.",
        "operator": "unknown (unknown) fails with unknown errors. Occurrences: unknown, last unknown, severity "
                    "unknown. "
                    "No recovery is running for it.",
        "developer": "unknown in unknown.unknown: “unknown”. Classified as unknown by rule unknown "
                     "(confidence=unknown, "
                     "severity=unknown, retryable=unknown). Recovery: none, plan none."}


def test_render_negotiates_the_locale():
    rendered = CATALOG.render_group(group("timeout"), accept_language="fr-CH, de;q=0.5")
    assert rendered == Rendered("fr", rendered.messages)
    assert rendered.messages["end_user"].startswith("Un service répond lentement.")
    assert CATALOG.render_group(group("timeout"), locale="de-AT", accept_language="fr").locale == "de"
    assert CATALOG.render_group(group("timeout"), accept_language="ja").locale == "en"


def test_untrusted_values_are_rendered_literally():
    fields = group("internal", error_type="{secret}", message_template="{0.__class__.__mro__}", service="{{x}}")
    developer = CATALOG.render_group(fields).messages["developer"]
    assert developer.startswith("{secret} in {{x}}.reserve_stock: “{0.__class__.__mro__}”.")


ALERT = {"id": 7, "subject": "medic.intake", "level": "warning", "state": "open", "summary": "1,200 messages waiting",
         "opened_at": datetime(2026, 1, 1, 11, 0, tzinfo=UTC),
         "last_seen_at": datetime(2026, 1, 1, 11, 59, tzinfo=UTC),
         "detail": {"metric": "queue_depth", "value": 1200, "threshold": 1000, "status_level": "degraded"}}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("rule", [*ALERT_RULES, "made_up_rule"])
@pytest.mark.parametrize("state", ["open", "acknowledged", "resolved"])
def test_alerts_render_an_operator_text(rule, locale, state):
    rendered = CATALOG.render_alert({**ALERT, "rule": rule, "state": state}, locale=locale)
    assert rendered.locale == locale
    assert set(rendered.messages) == {"operator", "developer"}
    assert "2026-01-01T11:00Z" in rendered.messages["operator"]
    assert not re.search(r"[{}]", rendered.messages["operator"])


def test_alert_texts():
    messages = CATALOG.render_alert({**ALERT, "rule": "queue_backlog"}).messages
    assert messages["operator"] == ("Queue medic.intake is backing up: 1200 messages waiting (threshold 1000). "
                                    "Level warning, state open, opened 2026-01-01T11:00Z.")
    resolved = CATALOG.render_alert({**ALERT, "rule": "queue_backlog", "state": "resolved"}, locale="de").messages
    assert resolved["operator"] == ("Behoben: die Queue medic.intake liegt wieder unter der Schwelle "
                                    "(Alarm geöffnet 2026-01-01T11:00Z).")


def test_alerts_tolerate_missing_detail_and_odd_states():
    messages = CATALOG.render_alert({"rule": "no_good_backup", "state": "text", "detail": "oops"}).messages
    assert messages["operator"].startswith("There is no recent verified backup of medic's database (age of the newest "
                                           "in hours: unknown; threshold unknown).")
