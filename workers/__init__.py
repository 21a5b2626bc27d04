"""What medic's workers do, as plain Python (Celery only where it must be): the map of the service.

How the parts fit together: docs/architecture.md; the public contract: docs/contract.md.


Subpackages:
intake/: `medic.report` events validated, masked, classified, stored; unprocessable messages kept.
masking/: secret masking of values and free text, applied before anything is stored or logged.
classification/: triage rules (YAML), the taxonomy, the classifier.
storage/: the database: models, migrations, sessions, leases.
recovery/: plans, the pure engine, the execution state machine, replays, plugin actions, operator actions.
breakers/: circuit breakers per service, shared through Redis or the database.
notify/: notifications: rendering, channels, the persistent delivery queue.
maintenance/: the maintenance jobs beat runs (stuck, health, reconcile, log rotation, cleanup, backup, db).
messages/: user-facing messages per audience and locale, from templates.
api/: `medic serve`: /healthz, /readyz, /metrics and the JSON API.
console/: the operator console at /ui (server-rendered pages, served by `medic serve`).
cli/: the `medic` command line.

Shared pieces:
backoff: exponential backoff with jitter (pure; the random source is passed in).
retry_after: parsing Retry-After into seconds.
clock: the default clock (aware UTC), UTC normalisation, times relative to now ("3m ago").
datafile: YAML data files (rules, plans, messages) validated with errors naming file, entry, field.
durable: fsync of a directory, so a rename or unlink survives a crash.
records: rows as the dicts both `--json` and the API return.
task_reprs: masked task arguments and results in task events and Flower; medic's Task base class.
beat_file: beat's JSON-file scheduler (embedded mode; no pickle).
beat_redbeat: RedBeat with medic's heartbeat, for an active and a standby beat.
beat_heartbeat: the file beat touches every tick, read by `medic probe beat`.
orphans: the embedded beat (`medic run`) stops when its worker is gone, even killed outright.
worker_heartbeat: the file a worker touches on the embedded broker (no ping there), read by `medic probe worker`.
broker_transport: the embedded broker's kombu transport, at least once (visibility timeout, rows deleted on ack).
broker_redis: the Redis transport medic consumes with: a fetch pops and records a message as unacknowledged in one step.
broker_persistence: whether the Redis broker keeps its messages across a restart (AOF), warned at startup.
"""
