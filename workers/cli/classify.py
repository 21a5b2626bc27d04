"""`medic classify`: dry-run the rules on events, for rule authors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from pydantic import ValidationError

from workers.classification import Classifier
from workers.classification.accuracy import Outcome, summarize, summary_lines
from workers.cli import exit_codes
from workers.cli.context import settings
from workers.intake.contract import ErrorEvent
from workers.intake.triage import describe_invalid


@click.command()
@click.option("--rules", "extra_rules", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Rule file to apply over the built-in and configured ones (repeatable).")
@click.option("--check", is_flag=True, help="Lines carry `accept` (and `retryable`) as in the sample set: "
                                             "report mismatches and exit 1 if any; a summary per `family` "
                                             "and per confidence band goes to stderr.")
@click.option("--summary-json", "summary_json", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="With --check: also write the summary (overall, per family, per confidence band) to this "
                   "file as JSON.")
@click.option("--no-guess", "no_guess", is_flag=True,
              help="Leave what no rule matches `unknown`: see what the rules alone say (MEDIC_GUESS_UNKNOWN).")
def classify(extra_rules: tuple[Path, ...], check: bool, summary_json: Path | None, no_guess: bool) -> None:
    """Read events as JSON lines on stdin, write one JSON line per event:
    {"category", "severity", "retryable", "confidence", "rule"}.

    A line may be an event, or an object with the event under "event" (the sample format, with
    an optional "family" that groups the --check summary).
    An invalid line yields {"error": ...} and exit code 2 at the end.
    """
    current = settings()
    classifier = Classifier.from_files([*current.rules_files, *extra_rules],
                                       guess=current.guess_unknown and not no_guess)
    invalid = mismatched = 0
    outcomes: list[Outcome] = []
    for number, line in enumerate(sys.stdin, start=1):
        if not line.strip():
            continue
        result, expected = _classify_line(classifier, line, number)
        if "error" in result:
            invalid += 1
        elif check and expected is not None:
            outcomes.append(_outcome(result, expected))
            problem = _mismatch(result, expected)
            if problem:
                mismatched += 1
                result["mismatch"] = problem
        click.echo(json.dumps(result))
    if check:
        summary = summarize(outcomes)
        if outcomes:
            for text in summary_lines(summary):
                click.echo(text, err=True)
        if summary_json is not None:
            summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"checked: {mismatched} mismatched, {invalid} invalid", err=True)
    if invalid:
        raise SystemExit(exit_codes.USAGE)
    if mismatched:
        raise SystemExit(exit_codes.FAILED)


def _classify_line(classifier: Classifier, line: str, number: int) -> tuple[dict, dict | None]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"line": number, "error": f"not JSON: {exc.msg} at column {exc.colno}"}, None
    wrapped = isinstance(data, dict) and isinstance(data.get("event"), dict) and "error_type" not in data
    try:
        event = ErrorEvent.model_validate(data["event"] if wrapped else data)
    except ValidationError as exc:
        return {"line": number, "error": describe_invalid(exc)}, None
    result = classifier.classify(event).as_dict()
    if wrapped and "id" in data:
        result = {"id": data["id"], **result}
    return result, data if wrapped and "accept" in data else None


def _outcome(result: dict, expected: dict) -> Outcome:
    family = expected.get("family")
    return Outcome(category=result["category"], retryable=result["retryable"], confidence=result["confidence"],
                   accept=tuple(expected["accept"]), expected_retryable=expected.get("retryable"),
                   family=family if isinstance(family, str) else None, rule=result["rule"])


def _mismatch(result: dict, expected: dict) -> str | None:
    if result["category"] not in expected["accept"]:
        return f"category {result['category']} not in {expected['accept']}"
    if expected.get("retryable") is not None and result["retryable"] != expected["retryable"]:
        return f"retryable {result['retryable']} != {expected['retryable']}"
    return None
