"""Settings of each maintenance job, one module a job; `config.settings.Settings` nests them.

schedule: when each job runs (interval or crontab, UTC) and its time limits; the defaults.
stuck: thresholds for executions that stopped moving, and how often to requeue before escalating.
health: the measuring window, the thresholds of each status, staleness, the alert channel.
reconcile: fixing medic's own inconsistencies, and declarative checks against application databases.
log_rotation: targets (directory and pattern), rotation by size and age, retention, compression.
cleanup: retention per kind of record, batch size and pause, the embedded broker's retention.
backup: where archives go, retention (last, daily, weekly, monthly), PostgreSQL tools, restore checks.
"""
