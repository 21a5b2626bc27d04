"""Reading messages files: each is validated on its own, then applied over the ones before it.

The built-in files (config/locales/) come first, then `settings.messages.files` in order. An
entry (locale, section, category or rule, audience) of a later file replaces the same entry as a
whole, variants included; a phrase replaces the same phrase. A file for a new locale adds it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.messages import MessageSettings
from workers.datafile import packaged_files, read_yaml
from workers.messages.catalog import Catalog, LocaleTexts
from workers.messages.schema import (
    DEFAULT_KEY,
    GROUPS,
    MISSING_KEYS,
    OPERATOR,
    RECOVERY_PHRASE_FIELDS,
    SECTIONS,
    SITUATIONS,
    TEXT_KEY,
    Section,
)
from workers.messages.templates import template_problems

_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")  # as MessageSettings.default_locale
_TOP_KEYS = ("locale", *SECTIONS, "phrases")
# audiences the default locale must have a `default` text for, so that every render has them
REQUIRED_DEFAULTS = {"groups": GROUPS.audiences, "alerts": (OPERATOR,)}
_PHRASE_NAMES = {"recovery": ("situation", SITUATIONS), "missing": ("placeholder", tuple(sorted(MISSING_KEYS)))}


def load_catalog(settings: MessageSettings) -> Catalog:
    """The catalog of the built-in files and settings.files; cached, so a changed file needs a restart."""
    return _cached_catalog(tuple(settings.files), settings.default_locale)


@lru_cache(maxsize=8)
def _cached_catalog(files: tuple[Path, ...], default_locale: str) -> Catalog:
    return build_catalog(files, default_locale=default_locale)


def build_catalog(files: Iterable[Path], *, default_locale: str) -> Catalog:
    texts: dict[str, LocaleTexts] = {}
    for path in [*builtin_files(), *files]:
        merge(texts, read_file(Path(path)))
    check_default_locale(texts, default_locale)
    return Catalog(texts, default_locale)


def builtin_files() -> list[Path]:
    return packaged_files("locales")


def read_file(path: Path) -> LocaleTexts:
    """One messages file, validated; ConfigError names the file, each key path and what is wrong."""
    data = read_yaml(path, what="messages file")
    problems: list[str] = []
    texts = _file_texts(data, path, problems)
    if problems:
        raise ConfigError("\n".join([f"messages file {path}: invalid:", *(f"  {p}" for p in problems)]))
    return texts


def merge(texts: dict[str, LocaleTexts], update: LocaleTexts) -> None:
    current = texts.setdefault(update.locale, LocaleTexts(update.locale))
    current.files.extend(update.files)
    for section, entries in update.entries.items():
        for key, audiences in entries.items():
            current.entries[section].setdefault(key, {}).update(audiences)
    for kind, phrases in update.phrases.items():
        current.phrases[kind].update(phrases)


def check_default_locale(texts: dict[str, LocaleTexts], default_locale: str) -> None:
    """The default locale is the last resort of every lookup, so it must answer every one."""
    if default_locale not in texts:
        raise ConfigError(f"messages: default_locale {default_locale!r} has no messages file (locales: "
                          f"{', '.join(sorted(texts))}): add a file with `locale: {default_locale}` to "
                          f"MEDIC_MESSAGES__FILES or choose another MEDIC_MESSAGES__DEFAULT_LOCALE")
    default = texts[default_locale]
    problems = [f"{section}.{DEFAULT_KEY}.{audience}: missing; the default locale must have it, every lookup "
                f"ends there"
                for section, audiences in REQUIRED_DEFAULTS.items() for audience in audiences
                if audience not in default.entries[section].get(DEFAULT_KEY, {})]
    problems += [f"phrases.recovery.{situation}: missing; the default locale must have every recovery phrase"
                 for situation in SITUATIONS if situation not in default.phrases["recovery"]]
    if problems:
        files = ", ".join(str(path) for path in default.files)
        raise ConfigError("\n".join([f"messages: default locale {default_locale!r} ({files}): incomplete:",
                                     *(f"  {p}" for p in problems)]))


def _file_texts(data: Any, path: Path, problems: list[str]) -> LocaleTexts:
    if not isinstance(data, dict):
        problems.append("(the file): expected a mapping with `locale` and any of `groups`, `alerts`, `phrases`")
        return LocaleTexts("?")
    problems += [f"{key}: unknown key; expected one of {', '.join(_TOP_KEYS)}" for key in data if key not in _TOP_KEYS]
    locale = data.get("locale")
    if not isinstance(locale, str) or not _LOCALE.match(locale):
        problems.append(f"locale: {'missing' if locale is None else f'{locale!r} is not a locale tag'}; "
                        f"write e.g. `locale: de` or `locale: de-CH`")
    texts = LocaleTexts(locale if isinstance(locale, str) else "?", files=[path])
    for section in SECTIONS.values():
        texts.entries[section.name] = _section_entries(data.get(section.name), section, problems)
    texts.phrases = _phrases(data.get("phrases"), problems)
    return texts


def _section_entries(value: Any, section: Section, problems: list[str]) -> dict[str, dict[str, dict[str, str]]]:
    if value is None:
        return {}
    what = "category" if section is GROUPS else "alert rule"
    if not isinstance(value, dict):
        problems.append(f"{section.name}: expected a mapping of {what} (or `{DEFAULT_KEY}`) to audiences")
        return {}
    entries: dict[str, dict[str, dict[str, str]]] = {}
    for key, audiences in value.items():
        where = f"{section.name}.{key}"
        if not isinstance(key, str) or not key:
            problems.append(f"{where}: a {what} name must be a non-empty string")
        elif not isinstance(audiences, dict):
            problems.append(f"{where}: expected a mapping of audience ({', '.join(section.audiences)}) to text")
        else:
            entries[key] = {}
            for audience, entry in audiences.items():
                if audience not in section.audiences:
                    problems.append(f"{where}.{audience}: unknown audience; expected one of "
                                    f"{', '.join(section.audiences)}")
                elif (checked := _entry(entry, f"{where}.{audience}", section, audience, problems)) is not None:
                    entries[key][audience] = checked
    return entries


def _entry(entry: Any, where: str, section: Section, audience: str, problems: list[str]) -> dict[str, str] | None:
    """An audience's texts as {"text": ..., variant: ...}; a plain string is {"text": it}."""
    found = len(problems)
    plain = isinstance(entry, str)
    if plain:
        entry = {TEXT_KEY: entry}
    elif not isinstance(entry, dict):
        problems.append(f"{where}: not a string, nor a mapping of `{TEXT_KEY}` and variants "
                        f"({', '.join(section.variants)})")
        return None
    elif TEXT_KEY not in entry:
        problems.append(f"{where}.{TEXT_KEY}: missing; variants need a `{TEXT_KEY}` for the other cases")
    allowed = section.placeholders[audience]
    for key, template in entry.items():
        if key != TEXT_KEY and key not in section.variants:
            problems.append(f"{where}.{key}: unknown variant; expected `{TEXT_KEY}` or one of "
                            f"{', '.join(section.variants)}")
        else:
            problems += [f"{where if plain else f'{where}.{key}'}: {p}"
                         for p in _template_problems(template, allowed)]
    return entry if len(problems) == found else None


def _phrases(value: Any, problems: list[str]) -> dict[str, dict[str, str]]:
    phrases: dict[str, dict[str, str]] = {kind: {} for kind in _PHRASE_NAMES}
    if value is None:
        return phrases
    if not isinstance(value, dict):
        problems.append("phrases: expected a mapping with `recovery` and/or `missing`")
        return phrases
    for kind, entries in value.items():
        if kind not in _PHRASE_NAMES:
            problems.append(f"phrases.{kind}: unknown key; expected recovery or missing")
            continue
        label, names = _PHRASE_NAMES[kind]
        if not isinstance(entries, dict):
            problems.append(f"phrases.{kind}: expected a mapping of {label} to text")
            continue
        for name, phrase in entries.items():
            where = f"phrases.{kind}.{name}"
            if name not in names:
                problems.append(f"{where}: unknown {label}; expected one of {', '.join(names)}")
            elif found := _phrase_problems(kind, phrase):
                problems += [f"{where}: {p}" for p in found]
            else:
                phrases[kind][name] = phrase
    return phrases


def _phrase_problems(kind: str, phrase: Any) -> list[str]:
    if kind == "recovery":
        return _template_problems(phrase, RECOVERY_PHRASE_FIELDS)
    return [] if isinstance(phrase, str) else ["not a string (quote it)"]  # "" is fine: None reads as nothing


def _template_problems(template: Any, allowed: frozenset[str]) -> list[str]:
    if not isinstance(template, str):
        return [f"not a string but {type(template).__name__} {template!r} (quote it)"]
    if not template.strip():
        return ["empty; write the text, or leave the key out to fall back"]
    return template_problems(template, allowed)
