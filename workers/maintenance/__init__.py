"""Maintenance jobs run by beat (or by hand): each one single-flight, time-limited, recorded as a run row.

A job is `run(ctx: JobContext) -> JobResult` (docs/maintenance/README.md). Modules:
job: JobContext and JobResult, what a job receives and returns.
registry: the jobs by name: where each function lives, whether it has a dry run.
runner: runs one job: lease (single flight), run row, time limit, failure notification.
runs: the maintenance_runs table.
listing: jobs with their last run, past runs and backup archives as rows (CLI and console).
stuck/: executions that stopped making progress: detect, requeue, escalate.
health/: health snapshots, their status, and the alerts they open and resolve.
reconcile/: medic's own consistency, and declarative checks against application databases.
backup/: archives of the database and config files; verification, retention, restore.
cleanup: the cleanup job: delete what is past retention, prune the embedded broker.
cleanup_policy: the cutoff per kind of record, the time budget, the summary (pure).
cleanup_targets: which rows of which table are past retention, as SQL.
cleanup_batches: deleting in bounded batches, one short transaction each.
broker_prune: deleting delivered rows of the embedded broker (kombu's SQLAlchemy transport).
logrotate: the log-rotation job: rotate, gzip, apply retention per target.
logrotate_policy: what to do to one target's directory (pure).
logrotate_files: the filesystem side: list, rotate by rename or copy-and-truncate.
logrotate_names: the names rotated files get, and their order.
gzipfile: gzip a file so its final name only ever holds a complete archive.
dbmaint: the db-maintenance job: ANALYZE / VACUUM (PostgreSQL), integrity_check and optimize (SQLite).
"""
