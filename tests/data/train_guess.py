"""Train the guess model (config/guess/model.json) on the labelled sets of real errors in this folder.

The guess names a category for events no rule matches (workers/classification/guess.py). It learns
from every labelled set that has been measured: a held-out set joins the list only after its one
measurement, as it joins the corpus gate, so the next held-out set still measures something unseen.

Run: python tests/data/train_guess.py          (writes the model)
     python tests/data/train_guess.py --check  (exit 1 if the committed model is not what the sets give)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workers.classification.guess import train  # noqa: E402  (the repository root is on sys.path first)
from workers.intake.contract import ErrorEvent  # noqa: E402

CASE_FILES = ("classify_cases.jsonl", "corpus/cases.jsonl", "holdout/cases.jsonl", "holdout2/cases.jsonl",
              "holdout3/cases.jsonl", "holdout4/cases.jsonl", "holdout5/cases.jsonl",
              "holdout6/cases.jsonl", "holdout7/cases.jsonl", "holdout8/cases.jsonl")
MODEL = ROOT / "config" / "guess" / "model.json"


def labelled_events() -> list[tuple[ErrorEvent, list[str]]]:
    labelled = []
    for name in CASE_FILES:
        for line in (HERE / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                labelled.append((ErrorEvent.model_validate(case["event"]), list(case["accept"])))
    return labelled


def model_text() -> str:
    trained = train(labelled_events())
    trained["trained_on"] = list(CASE_FILES)
    features = trained.pop("features")
    head = [f"{json.dumps(key)}: {json.dumps(value, sort_keys=True)}" for key, value in sorted(trained.items())]
    rows = [f"{json.dumps(feature)}: {json.dumps(counts, sort_keys=True)}" for feature, counts in features.items()]
    # One feature a line, so a retrained model reads as a diff of the features that changed.
    return "{\n" + ",\n".join(head) + ',\n"features": {\n' + ",\n".join(rows) + "\n}}\n"


def main(argv: list[str]) -> int:
    text = model_text()
    if "--check" in argv:
        if MODEL.read_text(encoding="utf-8") != text:
            print(f"{MODEL.relative_to(ROOT)} is stale: run python tests/data/train_guess.py", file=sys.stderr)
            return 1
        return 0
    MODEL.write_text(text, encoding="utf-8")
    print(f"wrote {MODEL.relative_to(ROOT)}: {len(json.loads(text)['features'])} features")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
