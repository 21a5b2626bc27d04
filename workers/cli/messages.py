"""`medic messages`: validate the message templates, and preview what they render to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from workers.cli.context import json_option, settings
from workers.cli.output import emit_fields, emit_json, emit_table
from workers.messages.catalog import Catalog
from workers.messages.loading import build_catalog, builtin_files
from workers.messages.schema import ALERT_STATES, DEFAULT_KEY, recovery_situation
from workers.recovery.states import EXECUTION_STATES, WAITING

NO_EXECUTION = "none"
SAMPLE_GROUP = {"id": 42, "severity": "high", "retryable": True, "confidence": 0.92, "rule_id": "sample-rule",
                "service": "payments-api", "operation": "charge", "error_type": "requests.exceptions.HTTPError",
                "message_template": "503 Server Error for url <url>", "status": "open", "occurrence_count": 17,
                "first_seen": datetime(2026, 1, 1, 9, 30, tzinfo=UTC),
                "last_seen": datetime(2026, 1, 1, 11, 58, tzinfo=UTC), "plan_name": "default"}
SAMPLE_NEXT_ATTEMPT_AT = datetime(2026, 1, 1, 12, 5, tzinfo=UTC)
SAMPLE_ALERT = {"id": 7, "subject": "medic.intake", "level": "warning",
                "summary": "1,200 messages waiting in medic.intake",
                "opened_at": datetime(2026, 1, 1, 11, 0, tzinfo=UTC),
                "last_seen_at": datetime(2026, 1, 1, 11, 59, tzinfo=UTC),
                "detail": {"metric": "queue_depth", "value": 1200, "threshold": 1000}}


@click.group()
def messages() -> None:
    """The user-facing messages of error groups and alerts, per audience and locale.

    Templates come from the built-in files in config/locales/, then the files named by
    MEDIC_MESSAGES__FILES (comma-separated) in order. See docs/messages.md.
    """


@messages.command("check")
@json_option
def check(as_json: bool) -> None:
    """Load and validate every messages file; print the locales and what each covers.

    Exit codes: 0 valid; 3 a file is invalid (the error names the file, the key and what is wrong).
    """
    current = settings().messages
    catalog = build_catalog(current.files, default_locale=current.default_locale)
    rows = [_coverage(catalog, locale) for locale in catalog.locales]
    files = [str(p) for p in [*builtin_files(), *current.files]]
    if as_json:
        emit_json({"default_locale": catalog.default_locale, "files": files, "locales": rows})
        return
    emit_fields([("default locale", catalog.default_locale), ("files", ", ".join(files))])
    click.echo()
    emit_table(([r["locale"], r["categories"], r["alert_rules"], r["templates"], len(r["falls_back"])] for r in rows),
               ["locale", "categories", "alert rules", "templates", "fallbacks"])
    click.echo(f"\nfallbacks: entries of the default locale {catalog.default_locale!r} that a locale lacks; "
               f"it uses its `{DEFAULT_KEY}` entry, or the default locale's (--json lists them)")
    click.echo(f"\nok: {len(rows)} locales")


def _coverage(catalog: Catalog, locale: str) -> dict[str, Any]:
    """Counts of one locale, and the categories and rules of the default locale it has no entry for."""
    entries = catalog.texts(locale).entries
    reference = catalog.texts(catalog.default_locale).entries
    return {"locale": locale, "files": [str(p) for p in catalog.texts(locale).files],
            "categories": len(entries["groups"].keys() - {DEFAULT_KEY}),
            "alert_rules": len(entries["alerts"].keys() - {DEFAULT_KEY}),
            "templates": sum(len(entry) for section in entries.values() for audiences in section.values()
                             for entry in audiences.values()),
            "falls_back": sorted(f"{section}.{key}" for section in reference
                                 for key in reference[section].keys() - entries[section].keys())}


@messages.command("preview")
@click.option("--category", help="Render the texts of an error group of this category.")
@click.option("--alert", "rule", help="Render the texts of an alert of this rule instead.")
@click.option("--locale", help="A locale tag, negotiated as the API does (de-CH gets de).")
@click.option("--recovery-state", default=WAITING, show_default=True,
              type=click.Choice([*EXECUTION_STATES, NO_EXECUTION]),
              help="State of the group's newest execution; none: it has none.")
@click.option("--alert-state", default="open", show_default=True, type=click.Choice(ALERT_STATES))
@json_option
def preview(category: str | None, rule: str | None, locale: str | None, recovery_state: str,
            alert_state: str, as_json: bool) -> None:
    """Render the templates of a category (or alert rule) with sample values.

    For template authors: shows every audience's text as the API would return it, after the
    locale's fallbacks. Give exactly one of --category and --alert.
    """
    if (category is None) == (rule is None):
        raise click.UsageError("give exactly one of --category and --alert")
    current = settings().messages
    catalog = build_catalog(current.files, default_locale=current.default_locale)
    if category is not None:
        state = None if recovery_state == NO_EXECUTION else recovery_state
        fields = {**SAMPLE_GROUP, "category": category, "recovery_state": state,
                  "next_attempt_at": SAMPLE_NEXT_ATTEMPT_AT if state == WAITING else None}
        rendered = catalog.render_group(fields, locale=locale)
        data: dict[str, Any] = {"locale": rendered.locale, "category": category, "recovery_state": state,
                                "situation": recovery_situation(state), "messages": rendered.messages}
        section, key = "groups", category
    else:
        assert rule is not None, "exactly one of --category and --alert, checked above"
        rendered = catalog.render_alert({**SAMPLE_ALERT, "rule": rule, "state": alert_state}, locale=locale)
        data = {"locale": rendered.locale, "rule": rule, "state": alert_state, "messages": rendered.messages}
        section, key = "alerts", rule
    data["notes"] = _notes(catalog, locale, rendered.locale, section, key)
    if as_json:
        emit_json(data)
        return
    emit_fields([(name, value) for name, value in data.items() if name not in ("messages", "notes")])
    click.echo()
    emit_fields(list(rendered.messages.items()))
    if data["notes"]:
        click.echo()
    for note in data["notes"]:
        click.echo(f"note: {note}")


def _notes(catalog: Catalog, asked: str | None, chosen: str, section: str, key: str) -> list[str]:
    notes = []
    if asked and chosen.lower() != asked.lower().replace("_", "-"):
        notes.append(f"no templates for locale {asked!r}; {chosen!r} is the best match "
                     f"(locales: {', '.join(catalog.locales)})")
    if key not in catalog.texts(chosen).entries[section]:
        notes.append(f"locale {chosen!r} has no {section}.{key}: the {section}.{DEFAULT_KEY} texts are used")
    return notes
