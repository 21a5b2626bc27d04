"""How well the rules do on a labelled set: accuracy overall, per library family, per confidence band.

Pure functions over outcomes (what the classifier said beside what the label accepts), used by
`medic classify --check` and the corpus gate test. A confidence band should mean what it says:
of the answers given with confidence 0.8-0.9, about 80-90 % should be right.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from workers.classification.guess import GUESS_RULE_PREFIX

# Lower bounds, inclusive; each band runs to the next bound (the last one includes 1.0).
CONFIDENCE_BAND_STARTS: tuple[float, ...] = (0.0, 0.3, 0.6, 0.8, 0.9)
NO_FAMILY = "(none)"


@dataclass(frozen=True)
class Outcome:
    category: str
    retryable: bool
    confidence: float
    accept: tuple[str, ...]
    expected_retryable: bool | None  # None: either answer is right
    family: str | None = None
    rule: str = ""

    @property
    def guessed(self) -> bool:
        return self.rule.startswith(GUESS_RULE_PREFIX)

    @property
    def category_ok(self) -> bool:
        return self.category in self.accept

    @property
    def retryable_ok(self) -> bool:
        return self.expected_retryable is None or self.retryable is self.expected_retryable


@dataclass
class Tally:
    cases: int = 0
    category_ok: int = 0
    retryable_ok: int = 0
    unknown: int = 0
    guessed: int = 0
    guessed_ok: int = 0

    def add(self, outcome: Outcome) -> None:
        self.cases += 1
        self.category_ok += outcome.category_ok
        self.retryable_ok += outcome.retryable_ok
        self.unknown += outcome.category == "unknown"
        self.guessed += outcome.guessed
        self.guessed_ok += outcome.guessed and outcome.category_ok

    @property
    def category_accuracy(self) -> float:
        return self.category_ok / self.cases if self.cases else 0.0

    @property
    def retryable_accuracy(self) -> float:
        return self.retryable_ok / self.cases if self.cases else 0.0

    @property
    def unknown_share(self) -> float:
        return self.unknown / self.cases if self.cases else 0.0

    def as_dict(self) -> dict:
        return {"cases": self.cases, "category_accuracy": round(self.category_accuracy, 4),
                "retryable_accuracy": round(self.retryable_accuracy, 4), "unknown_share": round(self.unknown_share, 4),
                "guessed": self.guessed, "guessed_right": self.guessed_ok}


@dataclass
class Summary:
    overall: Tally = field(default_factory=Tally)
    families: dict[str, Tally] = field(default_factory=dict)
    bands: dict[str, Tally] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"overall": self.overall.as_dict(),
                "families": {name: tally.as_dict() for name, tally in sorted(self.families.items())},
                "confidence_bands": {band: tally.as_dict() for band, tally in self.bands.items()}}


def band_label(confidence: float) -> str:
    starts = CONFIDENCE_BAND_STARTS
    for position in range(len(starts) - 1, -1, -1):
        if confidence >= starts[position]:
            break
    else:
        position = 0
    low = starts[position]
    if position + 1 < len(starts):
        return f"[{low:.1f},{starts[position + 1]:.1f})"
    return f"[{low:.1f},1.0]"


def summarize(outcomes: Iterable[Outcome]) -> Summary:
    summary = Summary()
    summary.bands = {band_label(start): Tally() for start in CONFIDENCE_BAND_STARTS}
    for outcome in outcomes:
        summary.overall.add(outcome)
        summary.families.setdefault(outcome.family or NO_FAMILY, Tally()).add(outcome)
        summary.bands[band_label(outcome.confidence)].add(outcome)
    return summary


def summary_lines(summary: Summary) -> list[str]:
    """The summary as an aligned table for people: per family (when the lines carry one), then per band."""
    lines = []
    rows = sorted(summary.families.items()) if set(summary.families) != {NO_FAMILY} else []
    width = max([len(name) for name, _ in rows] + [len("overall"), len("confidence")])
    header = f"{'family':<{width}}  {'cases':>5}  {'category':>8}  {'retryable':>9}  {'unknown':>7}"
    lines.append(header)
    for name, tally in [*rows, ("overall", summary.overall)]:
        lines.append(_row(name, tally, width))
    lines.append("")
    lines.append(f"{'confidence':<{width}}  {'cases':>5}  {'category':>8}  {'retryable':>9}  {'unknown':>7}")
    for band, tally in summary.bands.items():
        lines.append(_row(band, tally, width))
    overall = summary.overall
    if overall.guessed:
        lines.append("")
        lines.append(f"guessed (no rule matched; rule guess.*): {overall.guessed} of {overall.cases}, "
                     f"{overall.guessed_ok} right")
    return lines


def _row(name: str, tally: Tally, width: int) -> str:
    if not tally.cases:
        return f"{name:<{width}}  {0:>5}  {'-':>8}  {'-':>9}  {'-':>7}"
    return (f"{name:<{width}}  {tally.cases:>5}  {tally.category_accuracy:>8.1%}  {tally.retryable_accuracy:>9.1%}"
            f"  {tally.unknown_share:>7.1%}")
