"""The beat schedule: which maintenance job runs when.

Intake has no scheduled work; the maintenance jobs (retry sweeper, stuck-workflow detection,
reconciliation, backups, cleanup, health) register here as they are built. Beat uses Celery's
in-memory scheduler until then: Celery's default persists its state with shelve, i.e. pickle.
"""
