"""Triage: which kind of failure an event is, how bad, and whether retrying can help."""

from workers.classification.engine import Classification, Classifier

__all__ = ["Classification", "Classifier"]
