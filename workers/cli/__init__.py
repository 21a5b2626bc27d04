"""The `medic` command line: one module per command group, each imported only when its command runs.

main: the entry point, the command table, and the mapping of errors to exit codes.
exit_codes: what each exit code means (docs/contract.md, "CLI exit codes").
context: what commands share: settings, a checked database, parsing of times.
output: aligned tables for people, JSON for programs (--json).
processes: `medic run`, `worker`, `beat`: validate the configuration, then become Celery.
celery_entry: how medic becomes Celery: its own modules loaded first, wherever it is started.
serve: `medic serve`, the HTTP endpoint.
flower: `medic flower`, Flower behind basic auth.
probe: `medic probe http|worker|beat`, healthchecks for containers.
report: `medic report`, events from files, stdin or options.
spool: the file report_exception spools to while the broker is down, taken whole by `medic report --spool`.
broker: the embedded (SQLite) broker: initialised by `medic db upgrade`, required by `medic report`.
inspect: `medic errors`, `rejected`, `stats`.
classify: `medic classify`, the rules dry-run on events (`--check` against labelled samples).
recovery: `medic executions`: see and steer recovery executions.
dead: `medic dead`: dead letters; list, show, replay, purge.
plans: `medic plans`: the plans in force, a check, what they would do to an event.
breakers: `medic breakers` and `medic notifications`.
stuck: `medic stuck`: stuck executions and the operator's ways to move them.
reconcile: `medic reconcile`: the checks, a run, the log.
backup: `medic backup`: create, list, verify, restore.
health: `medic health` and `medic alerts`.
maintenance: `medic maintenance`: the jobs, their runs, running one now.
messages: `medic messages check|preview`, the user-facing message templates.
setup: `medic db` (migrations) and `medic config` (show, check, docs).
"""
