"""The classifier: compiled rules tried in order against a whole event; first match wins; when
none matches, the guess model (guess.py) may name a category, with a low confidence.

An event is seen as layers: the reported error (its type, MRO names and message), then each
error of its cause chain (type and message); a message that is the repr of another exception
(`KeyError('Z-9')`, as task queues carry a task's failure) adds that exception as the next
layer. A rule's `type` and `message` conditions must hold on one same layer, so `SyncFailed`
caused by a deadlock is classified by the deadlock. The other conditions (status, errno, code,
service, source, operation) are event-wide.
"""

from __future__ import annotations

import errno as errno_codes
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from workers.classification.guess import GUESS_CONFIDENCE, GUESS_RULE_PREFIX, GuessModel, builtin_model_path
from workers.classification.rules import LoadedRule, RuleSet, builtin_rule_paths, load_rules
from workers.classification.taxonomy import UNKNOWN, Category
from workers.intake.contract import ErrorEvent

NO_MATCH_RULE = "default.unknown"
NO_MATCH_CONFIDENCE = 0.1
# A regex pre-check with more alternatives than this costs more than it saves.
_MAX_ALTERNATIVES = 24
# The type-name cache is per classifier; error type names are few, but guard against floods.
_TYPE_CACHE_MAX = 50_000
# Candidate lists, one per distinct (type hits, code hits): each holds a few hundred rules.
_CANDIDATES_CACHE_MAX = 4_096
# The stdlib's regex parser and its opcodes: private modules, without type stubs.
_RE_PARSER: Any = getattr(re, "_parser", None)
_RE_OPCODES: Any = getattr(re, "_constants", None)


@dataclass(frozen=True, slots=True)
class Classification:
    category: str
    severity: str
    retryable: bool
    confidence: float
    rule: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Layer:
    names: tuple[str, ...]
    message: str
    folded: str  # casefolded message, for the literal pre-check


# An exception carried as text, the whole message its repr: huey's TaskException("KeyError('Z-9')"),
# a result backend or an RPC layer re-raising `Name('what happened')`. The name must read like an
# exception's; anchored at both ends and bounded, so the match costs one pass over the message.
_CARRIED_REPR = re.compile(r"([A-Za-z_][\w.]{0,200}?(?:Error|Exception|Exceeded|Timeout|Locked|Refused|Denied|Failed"
                           r"|Failure|Interrupt|Exit|Expired|Invalid|NotFound|DoesNotExist))\((.*)\)", re.DOTALL)
_QUOTED = re.compile(r"'(.*)'|\"(.*)\"", re.DOTALL)


def carried_exception(message: str) -> _Layer | None:
    """The layer of the exception a message is the repr of, or None."""
    if not message.endswith(")"):
        return None
    found = _CARRIED_REPR.fullmatch(message)
    if found is None:
        return None
    name, text = found.group(1), found.group(2)
    quoted = _QUOTED.fullmatch(text)
    if quoted is not None:
        text = quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
    return _Layer((name,), text, text.casefold())


def _globs(patterns: Iterable[str] | None) -> re.Pattern | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def _required_literals(pattern: str) -> tuple[tuple[str, ...], ...] | None:
    """What every match of the regex contains: one of the returned alternatives, each a set of
    literals (casefolded) that all appear. None when that cannot be worked out: the regex then
    always runs.

    A few `in` tests on these skip most searches: Python's re has no literal-prefix shortcut for
    patterns such as `\\b(?:a|b|c)`, so it tries every alternative at every position.
    """
    try:  # the stdlib's own parser; any surprise just disables the pre-check for this rule
        return _sequence_literals(_RE_PARSER.parse(pattern))
    except Exception:
        return None


def _sequence_literals(sequence) -> tuple[tuple[str, ...], ...] | None:
    runs, run = [], ""
    for opcode, argument in sequence:
        if opcode is _RE_OPCODES.LITERAL:
            run += chr(argument)
        else:
            runs.append(run)
            run = ""
    own = tuple(r.casefold() for r in (*runs, run) if len(r.strip()) >= 2 and r.isascii())
    nested = _first_mandatory_group(sequence)
    if nested and len(nested) <= _MAX_ALTERNATIVES:
        return tuple(own + alternative for alternative in nested)  # both are required
    return (own,) if own else nested


def _first_mandatory_group(sequence) -> tuple[tuple[str, ...], ...] | None:
    for opcode, argument in sequence:
        if opcode is _RE_OPCODES.SUBPATTERN:
            found = _sequence_literals(argument[3])
        elif opcode is _RE_OPCODES.BRANCH:
            found = _alternatives_literals(argument[1])
        else:
            continue
        if found:
            return found
    return None


def _alternatives_literals(branches) -> tuple[tuple[str, ...], ...] | None:
    alternatives: list[tuple[str, ...]] = []
    for branch in branches:
        found = _sequence_literals(branch)
        if found is None:
            return None
        alternatives.extend(found)
    return tuple(alternatives)


def _message_regex(pattern: str) -> re.Pattern:
    """A rule's message regex, case-insensitive, behind a lookahead for what a match can start with.

    Python's re tries every alternative of `\\bfoo\\b|\\bbar\\b|...` at every position of a message;
    one class test first skips the positions where none can start (a long message of "0-0-0-"
    cost the network rules ten times more without it).
    """
    first = _first_characters(pattern)
    if first is not None:
        try:
            return re.compile(f"(?=[{first}])(?:{pattern})", re.IGNORECASE)
        except re.error:  # a global inline flag, say, must open the pattern
            pass
    return re.compile(pattern, re.IGNORECASE)


class _AnyCharacter(Exception):
    """A match may start with any character (or with none): no lookahead helps."""


_CATEGORY_ESCAPES: dict[Any, str] = {} if _RE_OPCODES is None else {
    _RE_OPCODES.CATEGORY_DIGIT: r"\d", _RE_OPCODES.CATEGORY_NOT_DIGIT: r"\D",
    _RE_OPCODES.CATEGORY_SPACE: r"\s", _RE_OPCODES.CATEGORY_NOT_SPACE: r"\S",
    _RE_OPCODES.CATEGORY_WORD: r"\w", _RE_OPCODES.CATEGORY_NOT_WORD: r"\W",
}


def _first_characters(pattern: str) -> str | None:
    """The body of a character class holding every character a match can start with, or None."""
    first: list[str] = []
    try:  # the stdlib's own parser; any surprise just means no lookahead
        if _can_match_empty(_RE_PARSER.parse(pattern), first):
            return None
    except Exception:
        return None
    return "".join(dict.fromkeys(first))


def _can_match_empty(sequence, first: list[str]) -> bool:
    """Adds to `first` what a match of the sequence can start with; True when it can match nothing."""
    return all(_item_can_match_empty(opcode, argument, first) for opcode, argument in sequence)


def _item_can_match_empty(opcode, argument, first: list[str]) -> bool:
    ops = _RE_OPCODES
    if opcode in (ops.AT, ops.ASSERT, ops.ASSERT_NOT):  # they take no character
        return True
    if opcode is ops.LITERAL:
        first.append(re.escape(chr(argument)))
        return False
    if opcode is ops.IN:
        first.extend(_class_items(argument))
        return False
    if opcode in (ops.MAX_REPEAT, ops.MIN_REPEAT, ops.POSSESSIVE_REPEAT):
        low, _, item = argument
        return _can_match_empty(item, first) or low == 0
    if opcode is ops.SUBPATTERN:
        return _can_match_empty(argument[3], first)
    if opcode is ops.ATOMIC_GROUP:
        return _can_match_empty(argument, first)
    if opcode is ops.BRANCH:
        return any([_can_match_empty(branch, first) for branch in argument[1]])  # every branch adds to first
    raise _AnyCharacter


def _class_items(items) -> list[str]:
    found = []
    for opcode, argument in items:
        if opcode is _RE_OPCODES.LITERAL:
            found.append(re.escape(chr(argument)))
        elif opcode is _RE_OPCODES.RANGE:
            found.append(f"{re.escape(chr(argument[0]))}-{re.escape(chr(argument[1]))}")
        elif opcode is _RE_OPCODES.CATEGORY and argument in _CATEGORY_ESCAPES:
            found.append(_CATEGORY_ESCAPES[argument])
        else:  # a negated class, say
            raise _AnyCharacter
    return found


def _may_match(alternatives: tuple[tuple[str, ...], ...], folded: str) -> bool:
    for alternative in alternatives:  # plain loops: far cheaper than any()/all() generators here
        for literal in alternative:
            if literal not in folded:
                break
        else:
            return True
    return False


def _errno_keys(value: int | str) -> set[str]:
    """An errno as every spelling it has: 111, "111", "ECONNREFUSED" all meet."""
    text = str(value).strip()
    keys = {text.upper()}
    if text.lstrip("-").isdigit():
        keys.add(errno_codes.errorcode.get(int(text), text))
    elif hasattr(errno_codes, text.upper()):
        keys.add(str(getattr(errno_codes, text.upper())))
    return keys


def _status_ranges(values: list[int | str] | None) -> tuple[tuple[int, int], ...] | None:
    if not values:
        return None
    ranges = []
    for value in values:
        text = str(value)
        if text.endswith("xx"):
            ranges.append((int(text[0]) * 100, int(text[0]) * 100 + 99))
        elif "-" in text:
            low, high = text.split("-")
            ranges.append((int(low), int(high)))
        else:
            ranges.append((int(text), int(text)))
    return tuple(ranges)


class _CompiledRule:
    __slots__ = ("index", "id", "result", "types", "message", "literals", "top_only", "statuses", "errnos",
                 "code", "service", "source", "operation", "has_layer_condition", "has_event_condition")

    def __init__(self, index: int, loaded: LoadedRule, category: Category):
        spec, when = loaded.spec, loaded.spec.when
        assert when is not None, "load_rules refuses a rule without conditions"
        self.index = index
        self.id = spec.id
        self.result = Classification(
            category=category.name,
            severity=spec.severity or category.severity,
            retryable=category.retryable if spec.retryable is None else spec.retryable,
            confidence=spec.confidence,
            rule=spec.id,
        )
        self.types = _globs(when.type)
        self.message = _message_regex(when.message) if when.message else None
        self.literals = _required_literals(when.message) if when.message else None
        self.top_only = when.layer == "top"
        self.statuses = _status_ranges(when.http_status)
        self.errnos = set().union(*map(_errno_keys, when.errno)) if when.errno else None
        self.code = _globs(when.code)
        self.service, self.source, self.operation = _globs(when.service), _globs(when.source), _globs(when.operation)
        self.has_layer_condition = self.types is not None or self.message is not None
        self.has_event_condition = any(condition is not None for condition in (
            self.statuses, self.errnos, self.code, self.service, self.source, self.operation))


def _field_matches(pattern: re.Pattern | None, value: str | None) -> bool:
    return pattern is None or (value is not None and pattern.match(value) is not None)


class ClassifierSettings(Protocol):
    """What the classifier reads of medic's settings (config.settings.Settings)."""

    rules_files: list[Path]
    guess_unknown: bool


class Classifier:
    """Classifies validated events. Build once; `classify` is cheap and thread-safe."""

    def __init__(self, rule_set: RuleSet, guesser: GuessModel | None = None):
        self.categories = rule_set.categories
        self.guesser = guesser
        self.rules = [_CompiledRule(i, r, rule_set.category_of(r)) for i, r in enumerate(rule_set.rules)]
        self._type_patterns = [(r.index, r.types) for r in self.rules if r.types is not None]
        self._type_hits: dict[str, frozenset[int]] = {}
        # Code tables are many rules on one field: which of them a code meets is worked out once
        # per code value, so a rule whose code does not match costs a set lookup, not a call.
        self._code_patterns = [(r.index, r.code) for r in self.rules if r.code is not None]
        self._code_hits: dict[str | None, frozenset[int]] = {None: frozenset()}
        # Most rules name a type or a code, and most events meet few of them: the rules an event
        # can match (the rules without either, and the typed or coded ones it hits) are listed once
        # per combination of hits, so classify walks those instead of skipping hundreds.
        self._free = tuple(r for r in self.rules if r.types is None and r.code is None)
        self._candidates: dict[tuple[frozenset[int], frozenset[int]], tuple[_CompiledRule, ...]] = {}
        self._no_match = Classification(UNKNOWN.name, UNKNOWN.severity, UNKNOWN.retryable, NO_MATCH_CONFIDENCE,
                                        NO_MATCH_RULE)
        self._guessed = {name: Classification(category.name, category.severity, category.retryable,
                                              GUESS_CONFIDENCE, GUESS_RULE_PREFIX + name)
                         for name, category in self.categories.items() if name != UNKNOWN.name}

    @classmethod
    def from_settings(cls, current: ClassifierSettings) -> Classifier:
        return cls.from_files(current.rules_files, guess=current.guess_unknown)

    @classmethod
    def from_files(cls, extra_paths: Iterable[Path] = (), *, guess: bool = True) -> Classifier:
        """The built-in rules, then extra_paths over them; with guess, the built-in guess model
        names a category for what no rule matches (MEDIC_GUESS_UNKNOWN)."""
        return cls(load_rules([*builtin_rule_paths(), *extra_paths]),
                   GuessModel.load(builtin_model_path()) if guess else None)

    def classify(self, event: ErrorEvent) -> Classification:
        layers = self._layers(event)
        layer_hits = [self._hits_of(layer.names) for layer in layers]
        any_hit = frozenset().union(*layer_hits)
        code_hit = self._code_hits_of(event.code)
        errnos = _errno_keys(event.errno) if event.errno is not None else None
        for rule in self._candidates_for(any_hit, code_hit):
            if rule.has_event_condition and not self._event_matches(rule, event, errnos):
                continue
            if not rule.has_layer_condition or self._some_layer_matches(rule, layers, layer_hits):
                return rule.result
        return self._guess(event)

    def _guess(self, event: ErrorEvent) -> Classification:
        guessed = self.guesser.guess(event) if self.guesser is not None else None
        if guessed is None:
            return self._no_match
        return self._guessed.get(guessed.category, self._no_match)

    def _candidates_for(self, type_hit: frozenset[int], code_hit: frozenset[int]) -> tuple[_CompiledRule, ...]:
        """The rules, in order, whose type and code conditions these hits meet."""
        key = (type_hit, code_hit)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= _CANDIDATES_CACHE_MAX:
                self._candidates.clear()
            hit = [self.rules[index] for index in type_hit | code_hit
                   if (self.rules[index].types is None or index in type_hit)
                   and (self.rules[index].code is None or index in code_hit)]
            found = tuple(sorted((*self._free, *hit), key=lambda rule: rule.index))
            self._candidates[key] = found
        return found

    @staticmethod
    def _layers(event: ErrorEvent) -> list[_Layer]:
        layers = [_Layer((event.error_type, *event.error_mro), event.message, event.message.casefold())]
        carried = carried_exception(event.message)
        if carried is not None:
            layers.append(carried)
        seen = {(event.error_type, event.message)}
        for cause in event.causes:
            if (cause.error_type, cause.message) not in seen:
                seen.add((cause.error_type, cause.message))
                layers.append(_Layer((cause.error_type,), cause.message, cause.message.casefold()))
                carried = carried_exception(cause.message)
                if carried is not None:
                    layers.append(carried)
        return layers

    def _hits_of(self, names: tuple[str, ...]) -> frozenset[int]:
        hits: frozenset[int] = frozenset()
        for name in names:
            found = self._type_hits.get(name)
            if found is None:
                if len(self._type_hits) >= _TYPE_CACHE_MAX:
                    self._type_hits.clear()
                found = frozenset(index for index, types in self._type_patterns if types.match(name))
                self._type_hits[name] = found
            hits = hits | found if found else hits
        return hits

    def _code_hits_of(self, code: str | None) -> frozenset[int]:
        found = self._code_hits.get(code)
        if found is None:
            if len(self._code_hits) >= _TYPE_CACHE_MAX:
                self._code_hits.clear()
                self._code_hits[None] = frozenset()
            found = frozenset(index for index, pattern in self._code_patterns if pattern.match(code))
            self._code_hits[code] = found
        return found

    @staticmethod
    def _event_matches(rule: _CompiledRule, event: ErrorEvent, errnos: set[str] | None) -> bool:
        if rule.statuses is not None:
            status = event.http_status
            if status is None or not any(low <= status <= high for low, high in rule.statuses):
                return False
        if rule.errnos is not None and (errnos is None or rule.errnos.isdisjoint(errnos)):
            return False
        return (  # the code is settled before (Classifier._code_hits_of)
            _field_matches(rule.service, event.service)
            and _field_matches(rule.source, event.source)
            and _field_matches(rule.operation, event.operation)
        )

    @staticmethod
    def _some_layer_matches(rule: _CompiledRule, layers: list[_Layer], layer_hits: list[frozenset[int]]) -> bool:
        for position, layer in enumerate(layers[:1] if rule.top_only else layers):
            if rule.types is not None and rule.index not in layer_hits[position]:
                continue
            if rule.message is not None:
                if rule.literals is not None and not _may_match(rule.literals, layer.folded):
                    continue
                if rule.message.search(layer.message) is None:
                    continue
            return True
        return False
