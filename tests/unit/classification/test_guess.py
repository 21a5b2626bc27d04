"""The guess for what no rule matches (workers/classification/guess.py) and its place in the classifier."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from config.settings import load_settings
from workers.classification import Classifier
from workers.classification.engine import NO_MATCH_RULE
from workers.classification.guess import (
    GUESS_CONFIDENCE,
    MESSAGE_PREFIX_CHARS,
    MIN_PROBABILITY,
    GuessModel,
    event_features,
    train,
)
from workers.classification.rules import load_rules
from workers.intake.contract import ErrorEvent

TRAIN_SCRIPT = Path(__file__).resolve().parents[2] / "data" / "train_guess.py"


def event(error_type: str = "acme.Failure", message: str = "", **fields) -> ErrorEvent:
    return ErrorEvent.model_validate({"error_type": error_type, "message": message, "service": "billing", **fields})


# A small world: three categories, each with its own words, and words every category shares.
LABELLED = [
    (event("shop.QuotaExceeded", "daily quota spent for account"), ["rate_limit"]),
    (event("shop.TooManyCalls", "quota reached, slow down"), ["rate_limit"]),
    (event("shop.PermissionDenied", "account lacks permission"), ["auth"]),
    (event("shop.CredentialsRejected", "credentials rejected for account"), ["auth", "configuration"]),
    (event("shop.SettingMissing", "setting PAYMENT_URL missing"), ["configuration"]),
    (event("shop.SettingInvalid", "setting PAYMENT_URL invalid"), ["configuration"]),
]


@pytest.fixture(scope="module")
def model() -> GuessModel:
    return GuessModel(train(LABELLED))


def test_features_are_type_words_message_words_and_the_codes():
    features = event_features(event("vendor.client.errors.AccessDeniedError", "The partner DENIED it: 42",
                                    error_mro=["vendor.client.errors.ClientError", "Exception"], code="E42",
                                    http_status=403, errno=13, causes=[{"error_type": "OSError", "message": "io"}]))

    assert features == {"T:accessdeniederror", "t:access", "t:denied", "T:clienterror", "t:client", "T:oserror",
                        "t:os", "w:partner", "w:denied", "w:io", "C:e42", "S:403", "S:4xx", "E:13"}


def test_only_the_start_of_a_huge_message_is_read():
    head = "connection pool exhausted " * 20
    huge = event(message=head[:MESSAGE_PREFIX_CHARS] + " quota" * 200_000)

    assert event_features(huge) == event_features(event(message=head[:MESSAGE_PREFIX_CHARS]))


def test_the_guess_follows_the_words(model):
    guessed = model.guess(event("billing.Refused", "quota spent, slow down"))

    assert guessed is not None and guessed.category == "rate_limit" and guessed.probability > 0.9


def test_a_second_accepted_category_is_learnt_too():
    counts = train(LABELLED)["features"]["t:credentials"]

    assert counts == {"auth": 1, "configuration": 1}


def test_no_guess_for_words_never_seen(model):
    assert model.guess(event("acme.Mystery", "the frobnicator declined")) is None


def test_no_guess_when_the_words_point_everywhere():
    # "ledger" was seen once in each of four categories: none leads (1/4 < MIN_PROBABILITY).
    shared = [(event("acme.Failure", "ledger"), [category]) for category in ("auth", "data", "internal", "conflict")]

    assert MIN_PROBABILITY > 1 / 4
    assert GuessModel(train(shared)).guess(event("acme.Odd", "ledger")) is None


def _classifier(tmp_path: Path, model: GuessModel | None) -> Classifier:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"version": 1, "rules": [
        {"id": "timeouts", "category": "timeout", "confidence": 0.9, "when": {"type": "*Timeout*"}}]}),
        encoding="utf-8")
    return Classifier(load_rules([rules]), model)


def test_a_rule_wins_over_the_guess(tmp_path, model):
    result = _classifier(tmp_path, model).classify(event("shop.ReadTimeout", "quota spent"))

    assert (result.category, result.rule) == ("timeout", "timeouts")


def test_what_no_rule_matches_is_guessed_with_the_guess_confidence(tmp_path, model):
    result = _classifier(tmp_path, model).classify(event("billing.Refused", "quota spent, slow down"))

    assert result.as_dict() == {"category": "rate_limit", "severity": "low", "retryable": True,
                                "confidence": GUESS_CONFIDENCE, "rule": "guess.rate_limit"}


def test_without_a_model_or_a_guess_it_stays_unknown(tmp_path, model):
    assert _classifier(tmp_path, None).classify(event("billing.Refused", "quota spent")).rule == NO_MATCH_RULE
    assert _classifier(tmp_path, model).classify(event("acme.Mystery", "frobnicated")).rule == NO_MATCH_RULE


def test_a_guess_of_unknown_is_the_default_answer(tmp_path):
    model = GuessModel(train([(event("acme.Weird", "odd thing"), ["unknown"]), *LABELLED]))

    result = _classifier(tmp_path, model).classify(event("acme.Weird", "odd thing"))

    assert (result.category, result.rule) == ("unknown", NO_MATCH_RULE)


def test_the_setting_turns_the_guess_off(monkeypatch):
    subject = event("partner.Oops", "permission denied for this account, credentials rejected")
    monkeypatch.setenv("MEDIC_GUESS_UNKNOWN", "false")
    assert Classifier.from_settings(load_settings()).guesser is None
    monkeypatch.setenv("MEDIC_GUESS_UNKNOWN", "true")
    assert Classifier.from_settings(load_settings()).guesser is not None
    assert Classifier.from_files(guess=False).classify(subject).rule != "guess.auth"


def test_the_shipped_model_is_the_one_the_labelled_sets_train():
    spec = importlib.util.spec_from_file_location("train_guess", TRAIN_SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    assert script.main(["--check"]) == 0, "config/guess/model.json is stale: run python tests/data/train_guess.py"


def test_the_shipped_model_guesses_a_plain_denial():
    result = Classifier.from_files().classify(event("partner.sdk.Oops", "user is not permitted to read this ledger"))

    assert result.category == "auth" and result.rule.startswith(("guess.", "phrase.", "family."))
