"""Classification rules as data: the YAML schema, loading and merging.

Rule files are read in order: the built-in files in config/rules/ (by file name), then the
user's files (MEDIC_RULES_FILES) in the order given. A rule whose `id` was already defined
replaces the earlier definition; `enabled: false` removes it. The merged rules are then
sorted by `priority` (higher first); at equal priority a later file's rules come first (so a
user's rule beats a built-in one), and within a file, file order holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from config.errors import ConfigError
from workers.classification.taxonomy import BUILTIN_CATEGORIES, Category, Severity
from workers.datafile import entry_field, load_model, packaged_files

DEFAULT_PRIORITY = 50
DEFAULT_CONFIDENCE = 0.8
_STATUS_RANGE = re.compile(r"^(\d{3})(?:-(\d{3}))?$|^([1-5])xx$")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, int)) and not isinstance(value, bool) else value


def _no_bools(values: Any) -> Any:
    if isinstance(values, list) and any(isinstance(v, bool) for v in values):
        raise ValueError("entries must be numbers or names, not booleans")
    return values


# An empty list would be a condition that constrains nothing: refuse it rather than match all.
Patterns = Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_as_list), Field(min_length=1)]
Numbers = Annotated[list[int | str], BeforeValidator(_no_bools), BeforeValidator(_as_list), Field(min_length=1)]


class When(BaseModel):
    """All given conditions must hold; a list means any of its entries."""

    model_config = ConfigDict(extra="forbid")

    type: Patterns | None = None  # globs on the error type, its MRO and cause types
    message: str | None = None  # regex, case-insensitive, searched in the message
    layer: Literal["any", "top"] = "any"  # top: only the reported error, not its causes
    http_status: Numbers | None = None
    errno: Numbers | None = None
    code: Patterns | None = None  # globs, case-sensitive: "08*", "40P01"
    service: Patterns | None = None
    source: Patterns | None = None
    operation: Patterns | None = None

    @field_validator("message")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return value

    @field_validator("http_status")
    @classmethod
    def _valid_status(cls, values: list[int | str] | None) -> list[int | str] | None:
        for value in values or ():
            if isinstance(value, int) and 100 <= value <= 599:
                continue
            match = _STATUS_RANGE.match(value) if isinstance(value, str) else None
            if match and (match[2] is None or int(match[1]) <= int(match[2])):
                continue
            raise ValueError(f"{value!r} is not a status (429), a rising range (500-599) or a class (5xx)")
        return values


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")]
    when: When | None = None
    category: str | None = None
    severity: Severity | None = None
    retryable: bool | None = None
    confidence: float = Field(DEFAULT_CONFIDENCE, ge=0, le=1)
    priority: int = Field(DEFAULT_PRIORITY, ge=0, le=1000)
    enabled: bool = True


class CategorySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    retryable: bool
    severity: Severity = "medium"


class RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    categories: list[CategorySpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class LoadedRule:
    spec: RuleSpec
    origin: Path  # the file, for error messages
    entry: int  # 1-based position in its file
    file_rank: int  # position of the file in load order


@dataclass(frozen=True)
class RuleSet:
    rules: list[LoadedRule]  # sorted: the order in which they are tried
    categories: dict[str, Category]

    def category_of(self, loaded: LoadedRule) -> Category:
        assert loaded.spec.category is not None, "load_rules refuses a rule without a category"
        return self.categories[loaded.spec.category]


def builtin_rule_paths() -> list[Path]:
    return packaged_files("rules")


def load_rule_file(path: Path) -> RuleFile:
    return load_model(path, RuleFile, what="rules file", locate=_locate)


def _locate(data: Any, loc: list) -> str | None:
    found = entry_field(data, loc, section="rules", key="id")
    if found is None:
        return None
    entry, rest = found
    return f"{entry}, field {'.'.join(str(part) for part in rest) or '(the entry)'}"


def load_rules(paths: list[Path]) -> RuleSet:
    """Read, merge and order rule files; every problem names the file and the rule."""
    categories = dict(BUILTIN_CATEGORIES)
    merged: dict[str, LoadedRule] = {}
    for rank, path in enumerate(paths):
        parsed = load_rule_file(path)
        for category in parsed.categories:
            categories[category.name] = Category(category.name, category.retryable, category.severity)
        for entry, spec in enumerate(parsed.rules, start=1):
            merged.pop(spec.id, None)
            if spec.enabled:
                merged[spec.id] = LoadedRule(spec, path, entry, rank)
    for loaded in merged.values():
        _check_complete(loaded, categories)
    ordered = sorted(merged.values(), key=lambda r: (-r.spec.priority, -r.file_rank))
    return RuleSet(ordered, categories)


def _check_complete(loaded: LoadedRule, categories: dict[str, Category]) -> None:
    spec = loaded.spec
    where = f"rules file {loaded.origin}: rule {spec.id!r} (entry {loaded.entry})"
    if spec.when is None or not spec.when.model_dump(exclude_none=True, exclude={"layer"}):
        raise ConfigError(f"{where}: field when: needs at least one condition")
    if spec.category is None:
        raise ConfigError(f"{where}: field category: missing")
    if spec.category not in categories:
        known = ", ".join(sorted(categories))
        raise ConfigError(f"{where}: field category: {spec.category!r} is not a known category ({known})")
