"""Reconciliation: medic's own consistency (counters, claims, executions) and declarative checks against app databases.

verdicts: medic's invariants as pure decisions: what is wrong, what would fix it.
counters: every group's occurrence_count equals its stored occurrences.
claims: an attempt is claimed exactly when it runs.
executions: no execution in a state its attempts contradict.
declarative: the operator's checks: detect rows, then fix each in its own transaction or report.
appdb: an application's database as a check sees it (URL from the environment, bound parameters).
journal: the reconciliation_log table: each discrepancy, what was done, before and after.
job: the reconcile job. See docs/maintenance/reconcile.md.
"""
