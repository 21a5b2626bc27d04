"""Reconciliation: medic's own consistency (counters, claims, executions) and declarative checks against app databases."""
