"""The Celery tasks: decode a message, call workers, retry on database trouble. Thin.

intake: `medic.report` (an application's event) and `medic.reject` (a message the consumer could not process).
recovery: `medic.recovery.run`, the replay callbacks `replay_succeeded` / `replay_failed`, `sweep`, `deliver`.
maintenance: `medic.maintenance.run`, one maintenance job by name.
retrying: a retry after database trouble that keeps the message when the retry cannot be published.
"""
