"""The catalog: every locale's templates and phrases, and rendering them for a group or an alert."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workers.messages.negotiate import negotiate
from workers.messages.schema import (
    ALERT_DETAIL_FIELDS,
    ALERT_FIELDS,
    ALERT_STATES,
    ALERTS,
    DEFAULT_KEY,
    GROUP_FIELDS,
    GROUPS,
    RECOVERY,
    TEXT_KEY,
    Section,
    recovery_situation,
)
from workers.messages.templates import render


@dataclass
class LocaleTexts:
    """One locale, as merged from its files. entries: section -> category or rule -> audience ->
    {"text": template, variant: template}; phrases: "recovery" | "missing" -> name -> text."""
    locale: str
    files: list[Path] = field(default_factory=list)
    entries: dict[str, dict[str, dict[str, dict[str, str]]]] = field(
        default_factory=lambda: {"groups": {}, "alerts": {}})
    phrases: dict[str, dict[str, str]] = field(default_factory=lambda: {"recovery": {}, "missing": {}})


@dataclass(frozen=True)
class Rendered:
    locale: str  # the negotiated locale
    messages: dict[str, str]  # audience -> text


class Catalog:
    """Immutable once built (by workers.messages.loading); safe to share between threads."""

    def __init__(self, texts: Mapping[str, LocaleTexts], default_locale: str):
        self._texts = dict(texts)
        self.default_locale = default_locale

    @property
    def locales(self) -> list[str]:
        return sorted(self._texts)

    def texts(self, locale: str) -> LocaleTexts:
        return self._texts[locale]

    def negotiate(self, *, locale: str | None = None, accept_language: str | None = None) -> str:
        return negotiate(self._texts, self.default_locale, locale=locale, accept_language=accept_language)

    def render_group(self, fields: Mapping[str, Any], *, locale: str | None = None,
                     accept_language: str | None = None) -> Rendered:
        chosen = self.negotiate(locale=locale, accept_language=accept_language)
        situation = recovery_situation(fields.get("recovery_state"))
        values: dict[str, Any] = {name: fields.get(name) for name in GROUP_FIELDS}
        values[RECOVERY] = self._recovery_phrase(chosen, situation, values)
        return Rendered(chosen, self._render(chosen, GROUPS, fields.get("category"), situation, values))

    def render_alert(self, fields: Mapping[str, Any], *, locale: str | None = None,
                     accept_language: str | None = None) -> Rendered:
        chosen = self.negotiate(locale=locale, accept_language=accept_language)
        values = {name: fields.get(name) for name in ALERT_FIELDS}
        detail = fields.get("detail")
        values.update({name: detail.get(name) if isinstance(detail, Mapping) else None for name in ALERT_DETAIL_FIELDS})
        state = fields.get("state")
        return Rendered(chosen, self._render(chosen, ALERTS, fields.get("rule"),
                                             state if state in ALERT_STATES else None, values))

    def template(self, locale: str, section: str, key: Any, audience: str, variant: str | None) -> str | None:
        """The template used: the locale's entry for key, else its `default`; then the same in the
        default locale. Within an entry, the variant when it has one, else its text."""
        keys = (key, DEFAULT_KEY) if isinstance(key, str) else (DEFAULT_KEY,)
        for texts in self._fallbacks(locale):
            for candidate in keys:
                entry = texts.entries[section].get(candidate, {}).get(audience)
                if entry is not None:
                    return entry.get(variant or TEXT_KEY, entry[TEXT_KEY])
        return None

    def _render(self, locale: str, section: Section, key: Any, variant: str | None,
                values: Mapping[str, Any]) -> dict[str, str]:
        messages = {}
        for audience in section.audiences:
            template = self.template(locale, section.name, key, audience, variant)
            if template is not None:
                messages[audience] = render(template, values, lambda name: self._missing(locale, name))
        return messages

    def _recovery_phrase(self, locale: str, situation: str, values: Mapping[str, Any]) -> str:
        phrase = self._phrase(locale, "recovery", (situation,))
        return render(phrase, values, lambda name: self._missing(locale, name)) if phrase else ""

    def _missing(self, locale: str, name: str) -> str:
        return self._phrase(locale, "missing", (name, DEFAULT_KEY)) or ""

    def _phrase(self, locale: str, kind: str, names: tuple[str, ...]) -> str | None:
        for texts in self._fallbacks(locale):
            for name in names:
                if name in texts.phrases[kind]:
                    return texts.phrases[kind][name]
        return None

    def _fallbacks(self, locale: str) -> list[LocaleTexts]:
        return [self._texts[name] for name in dict.fromkeys((locale, self.default_locale)) if name in self._texts]
