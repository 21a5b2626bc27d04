"""Stuck-workflow detection and recovery: find executions that stopped moving and move them again.

detect: one index-backed query per way an execution gets stuck.
policy: requeue, escalate or leave to an operator (pure, from the audit history).
escalate: one audit row per escalated execution, one critical notification per run.
job: the stuck job: detect, requeue, escalate. See docs/maintenance/stuck.md.
"""
