"""Configuration: settings, the Celery app, and the data files medic ships (rules, plans, locales).

Imports nothing of medic's other packages; what it must name there (task modules, the beat
schedule, the log redactor) it names as strings. See docs/architecture.md, "Folders".

settings: `Settings`, every MEDIC_* variable and the optional config file, validated.
environment: which MEDIC_* variables are settings; a misspelt one with the setting it may mean.
celery_app: the Celery app built from settings (serializers, acks, time limits, queues, beat).
queues: medic's queue names (medic.errors, medic.recovery, medic.maintenance).
channels: the notification channels an operator configures (log, webhook, Slack, email).
serve: the settings of `medic serve` (address, API tokens, writes, metrics cache).
flower: the settings of `medic flower` (basic auth, address).
messages: the settings of the user-facing messages (default locale, extra files).
replay_targets: which Celery tasks, queues and actions events may name; the replay callbacks' key.
replay_http: where HTTP replays may go (the allowlist of destinations) and credentials by origin.
jobs/: each maintenance job's settings, and the default schedules and time limits.
logging: one event per line (JSON or text), secrets masked by the redactor celery_app names.
errors: MedicError and the errors medic raises on purpose (configuration, not found, unavailable).
urls: what kind of database or broker a URL names, by its scheme.
validation: pydantic's validation errors worded as medic's (where, then what is wrong).
rules/, plans/, locales/: the built-in classification rules, recovery plans and message templates (YAML).
guess/: the model that guesses a category where no rule matches (trained by tests/data/train_guess.py).
"""
