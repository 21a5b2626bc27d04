"""Triage: which kind of failure an event is, how bad, and whether retrying can help.

taxonomy: the built-in categories with their default retryability and severity (docs/contract.md).
rules: the YAML rule schema, loading and merging of rule files (config/rules/, MEDIC_RULES_FILES).
engine: `Classifier`, the compiled rules tried against an event's layers; first match wins.
guess: a naive Bayes model over an event's words that names a category when no rule matches.
accuracy: accuracy of the rules on a labelled set, per library family and per confidence band.
"""

from workers.classification.engine import Classification, Classifier

__all__ = ["Classification", "Classifier"]
