"""The guess for errors no rule understands: naive Bayes over the words of an event.

Rules say what they know; an event none of them matches would be `unknown`. Its words still say
much ("denied", "quota", "expired", `*Forbidden*`), so a multinomial naive Bayes model, trained on
medic's labelled real errors (config/guess/model.json, built by tests/data/train_guess.py), names
the likeliest category. When the model's own belief is under `MIN_PROBABILITY` (a vague "something
went wrong"), or it knows none of the event's words, the event stays `unknown`.

Measured on the four held-out sets at their first measurement (the events the rules of the day
left `unknown`, the model trained only on the sets built before each), the guess was right 40
times in 77, about evenly across the probabilities it gave itself: a guess carries one honest
confidence, `GUESS_CONFIDENCE`, and names itself in its rule, `guess.<category>`.

Features are the words of the type names (CamelCase split, module dropped), of the first
`MESSAGE_PREFIX_CHARS` of each message, and the code, status and errno: a bounded amount of work
for any event, however large.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from workers.intake.contract import ErrorEvent

GUESS_CONFIDENCE = 0.5
MIN_PROBABILITY = 0.3
GUESS_RULE_PREFIX = "guess."
MESSAGE_PREFIX_CHARS = 400
_CAMEL_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_MESSAGE_WORD = re.compile(r"[a-z][a-z_']{1,30}")
_SILENT_NAMES = frozenset({"Exception", "BaseException", "object"})
_SILENT_NAME_WORDS = frozenset({"error", "exception"})
_STOP_WORDS = frozenset("the a an of to in for on is it be was and or not at by with as this that from are has have "
                        "had no".split())


def event_features(event: ErrorEvent) -> set[str]:
    """What the model reads of an event: `T:` type names, `t:` their words, `w:` message words,
    `C:` code, `S:` HTTP status and its class, `E:` errno."""
    features: set[str] = set()
    for name in (event.error_type, *event.error_mro, *(cause.error_type for cause in event.causes)):
        if name in _SILENT_NAMES:
            continue
        last = name.rsplit(".", 1)[-1]
        features.add("T:" + last.lower())
        features.update("t:" + word for word in map(str.lower, _CAMEL_WORD.findall(last))
                        if word not in _SILENT_NAME_WORDS)
    for message in (event.message, *(cause.message for cause in event.causes)):
        features.update("w:" + word for word in _MESSAGE_WORD.findall(message[:MESSAGE_PREFIX_CHARS].lower())
                        if word not in _STOP_WORDS)
    if event.code is not None:
        features.add("C:" + event.code.lower())
    if event.http_status is not None:
        features.update((f"S:{event.http_status}", f"S:{event.http_status // 100}xx"))
    if event.errno is not None:
        features.add(f"E:{event.errno}")
    return features


@dataclass(frozen=True)
class Guess:
    category: str
    probability: float  # the model's own belief; not calibrated (GUESS_CONFIDENCE is)


class GuessModel:
    """A trained model: per category, a log prior and the log likelihood of each feature."""

    def __init__(self, trained: dict):
        categories: dict[str, dict] = trained["categories"]
        alpha = float(trained["alpha"])
        vocabulary_size = len(trained["features"])
        total_cases = sum(entry["cases"] for entry in categories.values())
        self.categories = tuple(sorted(categories))
        self._log_prior = {name: math.log((entry["cases"] + 1) / (total_cases + len(categories)))
                           for name, entry in categories.items()}
        denominators = {name: entry["feature_count"] + alpha * vocabulary_size for name, entry in categories.items()}
        # An unseen (feature, category) pair scores log(alpha / denominator); a seen one adds its
        # difference to that, so a guess sums only what the event's features were seen with.
        self._log_unseen = {name: math.log(alpha / denominators[name]) for name in categories}
        self._log_seen_gain = {
            feature: {name: math.log((count + alpha) / alpha) for name, count in counts.items()}
            for feature, counts in trained["features"].items()}

    @classmethod
    def load(cls, path: Path) -> GuessModel:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def guess(self, event: ErrorEvent) -> Guess | None:
        """The likeliest category, or None when the model has seen none of the event's features or
        believes its best category less than MIN_PROBABILITY."""
        known = [self._log_seen_gain[feature] for feature in event_features(event) if feature in self._log_seen_gain]
        if not known:
            return None
        scores = {name: prior + len(known) * self._log_unseen[name] for name, prior in self._log_prior.items()}
        for gains in known:
            for name, gain in gains.items():
                scores[name] += gain
        best = max(self.categories, key=scores.__getitem__)
        top = scores[best]
        probability = 1.0 / sum(math.exp(score - top) for score in scores.values())
        return Guess(best, probability) if probability >= MIN_PROBABILITY else None


def builtin_model_path() -> Path:
    return Path(str(resources.files("config") / "guess" / "model.json"))


def train(labelled: Iterable[tuple[ErrorEvent, list[str]]], *, alpha: float = 0.1, labels_per_case: int = 2) -> dict:
    """The model (JSON-ready) from labelled events: each event counts once for each of its first
    `labels_per_case` accepted categories (the second is often as right as the first)."""
    categories: dict[str, dict[str, int]] = {}
    counts: dict[str, dict[str, int]] = {}
    for event, accept in labelled:
        features = event_features(event)
        for label in accept[:labels_per_case]:
            entry = categories.setdefault(label, {"cases": 0, "feature_count": 0})
            entry["cases"] += 1
            entry["feature_count"] += len(features)
            for feature in features:
                per_category = counts.setdefault(feature, {})
                per_category[label] = per_category.get(label, 0) + 1
    return {"version": 1, "alpha": alpha,
            "categories": {name: categories[name] for name in sorted(categories)},
            "features": {feature: dict(sorted(counts[feature].items())) for feature in sorted(counts)}}
