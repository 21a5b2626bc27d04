"""Masking, classification and fingerprint patterns cost time linear in the text, whatever the text.

Every pattern runs over 256 KB of adversarial text made from the pattern itself: for each of its
alternatives, a string it matches; prefixes of that string repeated, and the string with its
unbounded repeat run on to the end. Generic units ("-eyJ", "a=", "://"...) are added. A pattern
that rescans what it already scanned takes seconds there; each run must take under 50 ms, or, on a
machine too slow for that budget, grow linearly (half the text, about half the time; under 1 s).

Masking is timed through mask_text (what callers run), the others as their callers use them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from re import _constants as sre
from re import _parser as sre_parse

import pytest

from medic_client.masking.text import SHAPES
from tests.unit.classification.test_rule_families import CASES as FAMILY_CASES
from workers.classification import Classifier
from workers.classification.engine import _message_regex
from workers.classification.rules import builtin_rule_paths, load_rules
from workers.intake.fingerprint import _VARIABLE_PART
from workers.masking import is_secret_key, mask_text, mask_value

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "classify_cases.jsonl"
SIZE = 256 * 1024
BUDGET_S = 0.050
GENERIC_UNITS = ["-eyJ", "a=", "dd=", "AKIA", "://", "x://a:", " Bearer ", "0-", "0", "4111 ", "1.", " ", "'", '"',
                 '\\"', "aA", "a_", "a ", "c ", "<", "%3D", "a\u00a0", "\uff14", "-----BEGIN "]
# For classification and fingerprint patterns: the units that cost regexes of many alternatives most.
WORD_UNITS = [" ", "a ", "c ", "0-", "aA"]
_RUN_ON = "\x00"  # marks, in an example, where an unbounded repeat may run on


# --------------------------------------------------------------------------- examples of a pattern


def examples(pattern: str, flags: int = 0) -> list[str]:
    """Strings matching each alternative of the pattern (lookarounds and backreferences ignored)."""
    return _sequence(sre_parse.parse(pattern, flags))


def _sequence(items) -> list[str]:
    options = [_node(op, argument) for op, argument in items]
    first = [option[0] for option in options]
    found = ["".join(first)]
    for index, option in enumerate(options):
        found += ["".join([*first[:index], variant, *first[index + 1:]]) for variant in option[1:]]
    return list(dict.fromkeys(found))


def _node(op, argument) -> list[str]:
    if op is sre.LITERAL:
        return [chr(argument)]
    if op is sre.NOT_LITERAL:
        return ["b" if argument == ord("a") else "a"]
    if op is sre.ANY:
        return ["a"]
    if op is sre.IN:
        return [_member(argument)]
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        low, high, sub = argument
        variants = [variant * max(low, 1) for variant in _sequence(sub)]
        if low == 0:
            variants.append("")
        if high is sre.MAXREPEAT:
            variants.append(_RUN_ON + _sequence(sub)[0])
        return variants
    if op is sre.SUBPATTERN:
        return _sequence(argument[3])
    if op is sre.ATOMIC_GROUP:
        return _sequence(argument)
    if op is sre.BRANCH:
        return [example for branch in argument[1] for example in _sequence(branch)]
    return [""]  # anchors, lookarounds, backreferences


_CANDIDATES = "a0 -_.:/=@\"'x\nA"
_CATEGORIES = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_NOT_DIGIT: r"\D", sre.CATEGORY_SPACE: r"\s",
               sre.CATEGORY_NOT_SPACE: r"\S", sre.CATEGORY_WORD: r"\w", sre.CATEGORY_NOT_WORD: r"\W"}


def _member(items) -> str:
    """A character of a class."""
    for candidate in _CANDIDATES if any(op is sre.NEGATE for op, _ in items) else ():
        if not _in_class(items, candidate):
            return candidate
    for op, argument in items:
        if op is sre.LITERAL:
            return chr(argument)
        if op is sre.RANGE:
            return chr(argument[0])
        if op is sre.CATEGORY:
            return next(char for char in _CANDIDATES if re.fullmatch(_CATEGORIES[argument], char))
    return "?"


def _in_class(items, char: str) -> bool:
    for op, argument in items:
        if op is sre.LITERAL and ord(char) == argument:
            return True
        if op is sre.RANGE and argument[0] <= ord(char) <= argument[1]:
            return True
        if op is sre.CATEGORY and re.fullmatch(_CATEGORIES[argument], char):
            return True
    return False


def adversarial_texts(pattern: str, flags: int = 0, *, after: str = "") -> list[str]:
    """256 KB texts: each example less its last character, repeated (after `after`, which may be
    what the pattern needs before it), and each example with its first unbounded repeat run on to
    the end."""
    texts = set()
    for example in examples(pattern, flags):
        head, marker, rest = example.partition(_RUN_ON)
        if marker and rest:
            texts.add(after + head + rest[0] * (SIZE - len(head)))
        whole = head + rest.replace(_RUN_ON, "")
        if len(whole) > 2:
            texts.add(_repeated(after + whole[:-1]))
    return sorted(texts)


def _repeated(unit: str) -> str:
    return (unit * (SIZE // len(unit) + 1))[:SIZE]


TRIES = 5  # a quadratic pattern is slow every time; a busy machine is not


def _best_s(run: Callable[[str], object], text: str, tries: int = TRIES) -> float:
    """Best CPU time of up to `tries` runs: CPU time, so other processes on the machine do not count."""
    best = float("inf")
    for _ in range(tries):
        started = time.process_time()
        run(text)
        best = min(best, time.process_time() - started)
        if best < BUDGET_S:  # one quick run settles it; a slow one is tried again, the machine may be busy
            break
    return best


# Over budget, a run is judged by its growth: the same text cut to half its length (its structure,
# a unit repeated or a run, kept) takes half the time if the pattern is linear, a quarter if it is
# quadratic. So a machine slower than the one the budget was set on does not fail a linear pattern.
LINEAR_GROWTH_MAX = 3.0
HOPELESS_S = 20 * BUDGET_S  # linear or not, this much on 256 KB is too slow


def _grows_too_fast(run: Callable[[str], object], text: str, seconds: float, tries: int) -> bool:
    half_s = _best_s(run, text[:len(text) // 2], tries)
    return seconds >= LINEAR_GROWTH_MAX * max(half_s, 1e-6)


def _slow_s(run: Callable[[str], object], text: str, tries: int) -> float | None:
    seconds = _best_s(run, text, tries)
    if seconds >= HOPELESS_S:
        return seconds
    if seconds < BUDGET_S or not _grows_too_fast(run, text, seconds, tries):
        return None
    return seconds


def _cost_s(run: Callable[[str], object], text: str) -> float | None:
    """The CPU time of a run judged too slow, else None. One run of each size settles most texts;
    only a run that looks non-linear is measured again (best of TRIES), as the budget alone was."""
    first = _slow_s(run, text, 1)
    if first is None or first >= HOPELESS_S:
        return first
    return _slow_s(run, text, TRIES)


def slow_runs(run: Callable[[str], object], texts: list[str]) -> list[str]:
    timed = ((_cost_s(run, text), text) for text in texts)
    return [f"{seconds * 1000:.0f} ms on {text[:40]!r}..." for seconds, text in timed if seconds is not None]


def test_the_judge_tells_a_quadratic_pattern_from_a_linear_slow_one():
    rescanning = re.compile(r"a[^b]*b").search  # from every "a", scans to the end: quadratic
    assert slow_runs(rescanning, ["a" * (SIZE // 4)])
    assert not slow_runs(re.compile(r"c(?:onnection)", re.IGNORECASE).search, [_repeated("c ")])


def test_examples_cover_every_alternative():
    assert examples(r"a(?:b|c[0-9])d?") == ["abd", "ac0d", "ab"]
    assert examples(r"x[^a-z]+y") == ["x0y", f"x{_RUN_ON}0y"]


# --------------------------------------------------------------------------- masking


@pytest.mark.parametrize("kind", list(SHAPES))
def test_every_masking_shape_costs_linear_time(kind):
    # A shape starts after a character that is not a letter or digit (a URL's after its scheme's colon).
    texts = adversarial_texts(SHAPES[kind], after=":" if kind == "url" else " ")
    assert not slow_runs(mask_text, texts)


def test_masking_generic_texts_costs_linear_time():
    assert not slow_runs(mask_text, [_repeated(unit) for unit in GENERIC_UNITS])


def test_masking_data_costs_linear_time():
    def run(_: str) -> None:
        is_secret_key("aA" * (SIZE // 2) + "_token")
        mask_value({"aA" * (SIZE // 4) + "_password": "x", "list": ["--password", "x"] * (SIZE // 16)})

    assert _best_s(run, "") < 4 * BUDGET_S


# --------------------------------------------------------------------------- classification, fingerprint


def _classification_patterns() -> Iterator[tuple[str, re.Pattern, str]]:
    for rule in Classifier.from_files().rules:
        for condition in ("message", "types", "code", "service", "source", "operation"):
            pattern = getattr(rule, condition)
            if pattern is not None:
                yield f"{rule.id}.{condition}", pattern, "search" if condition == "message" else "match"


CLASSIFICATION = list(_classification_patterns())


@pytest.mark.parametrize("pattern, use", [(pattern, use) for _, pattern, use in CLASSIFICATION],
                         ids=[name for name, _, _ in CLASSIFICATION])
def test_every_classification_pattern_costs_linear_time(pattern, use):
    texts = adversarial_texts(pattern.pattern, pattern.flags) + [_repeated(unit) for unit in WORD_UNITS]
    assert not slow_runs(getattr(pattern, use), texts)


def test_the_fingerprint_pattern_costs_linear_time():
    def every_match(text: str) -> None:
        for _ in _VARIABLE_PART.finditer(text):
            pass

    texts = adversarial_texts(_VARIABLE_PART.pattern) + [_repeated(unit) for unit in GENERIC_UNITS]
    assert not slow_runs(every_match, texts)


def test_the_message_lookahead_never_changes_a_verdict():
    samples = [json.loads(line)["event"]["message"] for line in SAMPLES.read_text().splitlines()]
    samples += [case.values[0]["message"] for case in FAMILY_CASES]
    for loaded in load_rules(builtin_rule_paths()).rules:
        source = loaded.spec.when.message if loaded.spec.when else None
        if source:
            texts = samples + [example.replace(_RUN_ON, "") for example in examples(source, re.IGNORECASE)]
            with_lookahead, plain = _message_regex(source), re.compile(source, re.IGNORECASE)
            assert [bool(with_lookahead.search(text)) for text in texts] == [bool(plain.search(text)) for text in texts]
