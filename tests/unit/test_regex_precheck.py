"""The literal pre-check may only skip regex searches that could not have matched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.classification.test_rule_families import CASES
from workers.classification import Classifier
from workers.classification.engine import _may_match, _required_literals

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "classify_cases.jsonl"


@pytest.mark.parametrize("pattern, literals", [
    (r"connection refused", (("connection refused",),)),
    (r"\b(?:408|504) Server Error\b", ((" server error", "408"), (" server error", "504"))),
    (r"^(WRONGTYPE|EXECABORT)\b|\bsyntax error\b", (("wrongtype",), ("execabort",), ("syntax error",))),
    (r"timed? ?out", (("time", "out"),)),
    (r"\d+", None),  # nothing literal: the regex always runs
    (r"(a|b)c", None),
])
def test_required_literals(pattern, literals):
    assert _required_literals(pattern) == literals


def _messages() -> list[str]:
    messages = []
    for line in SAMPLES.read_text().splitlines():
        event = json.loads(line)["event"]
        messages += [event["message"], *(c["message"] for c in event.get("causes", []))]
    for param in CASES:
        event = param.values[0]
        messages += [event["message"], *(c["message"] for c in event.get("causes", []))]
    return messages


def test_no_builtin_rule_is_skipped_when_its_regex_matches():
    messages = _messages()
    assert len(messages) > 300
    for rule in Classifier.from_files().rules:
        if rule.message is None or rule.literals is None:
            continue
        for message in messages:
            if rule.message.search(message):
                assert _may_match(rule.literals, message.casefold()), (rule.id, message)
