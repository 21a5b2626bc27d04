"""Health snapshots and alerts: measure medic, judge the measurements, open and resolve alerts.

metrics: what a snapshot measures, collected from the broker, the database and the breakers.
queries: the database's part of a snapshot, index-backed and bounded.
queues: messages waiting in medic's queues, by a passive declaration.
status: the status the metrics amount to, and the reasons (pure).
rules: which alerts fire, given a status's reasons (pure).
snapshots: the health_snapshots table: take, store, read the latest.
history: error rates per category per hour, from the stored snapshots (the console's chart).
alerts: the alerts table: open, refresh, resolve, acknowledge, notify.
job: the health job. See docs/maintenance/health.md.
"""
