"""The --check summary: accuracy per family and per confidence band (workers/classification/accuracy.py)."""

from __future__ import annotations

import pytest

from workers.classification.accuracy import NO_FAMILY, Outcome, band_label, summarize, summary_lines


def outcome(category="auth", *, accept=("auth",), retryable=False, expected=False, confidence=0.85, family="amqp"):
    return Outcome(category, retryable, confidence, tuple(accept), expected, family)


@pytest.mark.parametrize("confidence, band", [
    (0.0, "[0.0,0.3)"), (0.1, "[0.0,0.3)"), (0.3, "[0.3,0.6)"), (0.59, "[0.3,0.6)"), (0.6, "[0.6,0.8)"),
    (0.8, "[0.8,0.9)"), (0.9, "[0.9,1.0]"), (1.0, "[0.9,1.0]"),
])
def test_band_label(confidence, band):
    assert band_label(confidence) == band


def test_summary_counts_per_family_and_band():
    summary = summarize([
        outcome(),
        outcome("network", retryable=True, confidence=0.6),  # wrong category and retryable
        outcome("unknown", retryable=True, expected=None, confidence=0.1, family="nats"),  # retryable: either
        outcome("timeout", accept=("timeout",), retryable=True, expected=True, confidence=0.95, family="nats"),
    ])

    assert summary.overall.cases == 4
    assert summary.overall.category_ok == 2
    assert summary.overall.retryable_ok == 3
    assert summary.overall.unknown_share == 0.25
    assert summary.families["amqp"].category_accuracy == 0.5
    assert summary.families["nats"].unknown == 1
    assert summary.bands["[0.0,0.3)"].cases == 1
    assert summary.bands["[0.6,0.8)"].category_ok == 0
    assert summary.bands["[0.9,1.0]"].category_accuracy == 1.0
    assert summary.as_dict()["families"]["amqp"] == {
        "cases": 2, "category_accuracy": 0.5, "retryable_accuracy": 0.5, "unknown_share": 0.0, "guessed": 0,
        "guessed_right": 0}


def test_lines_without_family_show_only_overall_and_bands():
    summary = summarize([outcome(family=None)])
    lines = summary_lines(summary)

    assert set(summary.families) == {NO_FAMILY}
    assert lines[1].split()[0] == "overall"
    assert any(line.startswith("[0.8,0.9)") and "100.0%" in line for line in lines)
    assert any(line.startswith("[0.0,0.3)") and line.split()[1] == "0" for line in lines)


def test_empty_summary_has_zero_rates():
    summary = summarize([])
    assert summary.overall.category_accuracy == 0.0
    assert summary.as_dict()["overall"]["cases"] == 0


def test_guesses_are_counted_and_reported():
    guessed_right = Outcome("auth", False, 0.5, ("auth",), False, "amqp", "guess.auth")
    guessed_wrong = Outcome("data", False, 0.5, ("auth",), False, "amqp", "guess.data")
    summary = summarize([outcome(), guessed_right, guessed_wrong])

    assert (summary.overall.guessed, summary.overall.guessed_ok) == (2, 1)
    assert summary.as_dict()["overall"]["guessed_right"] == 1
    assert summary_lines(summary)[-1] == "guessed (no rule matched; rule guess.*): 2 of 3, 1 right"


def test_no_guess_line_without_guesses():
    assert not any(line.startswith("guessed") for line in summary_lines(summarize([outcome()])))
