"""The built-in rules against the labelled sample events (real errors from real libraries).

The samples file: $MEDIC_SAMPLES if set (to try another labelled set), else the repository's
tests/data/classify_cases.jsonl (its fields: tests/data/README.md).
Each case lists every category an expert would accept; `retryable: null` accepts either.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from workers.classification import Classifier
from workers.intake.contract import ErrorEvent

REPO = Path(__file__).resolve().parents[3]


def samples_path() -> Path:
    if os.environ.get("MEDIC_SAMPLES"):
        return Path(os.environ["MEDIC_SAMPLES"])
    return REPO / "tests" / "data" / "classify_cases.jsonl"


def load_cases() -> list[dict]:
    lines = samples_path().read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


CASES = load_cases()


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_files()


def test_samples_are_there():
    assert len(CASES) >= 30
    assert len({case["id"] for case in CASES}) == len(CASES), "sample ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_sample(classifier, case):
    result = classifier.classify(ErrorEvent.model_validate(case["event"]))

    assert result.category in case["accept"], f"{result.category} by rule {result.rule}"
    if case["retryable"] is not None:
        assert result.retryable is case["retryable"], f"retryable {result.retryable} by rule {result.rule}"
