"""Recovery: plans, the execution state machine, replays, and what drives them. See docs/recovery.md.

plans: recovery plans as data: the YAML schema, loading, merging, selection by event.
engine: what happens next, given a plan, an execution's place and an outcome (pure).
outcomes: what one attempt came to, in the engine's terms.
states: the states of executions and attempts, and which are final.
service: `RecoveryService`: start executions, run and record attempts, sweep what is due.
factory: `build_recovery_service`, the one way processes build the service on their settings' broker.
store: recovery's SQL: executions, attempts, audit rows; callers own the transaction.
start_sql: an execution's start in one statement on PostgreSQL (intake's path).
record_sql: a success that ends its execution, recorded in one statement on PostgreSQL.
replay_errors: what a failed Celery replay comes to, when the app's medic_client reported its exception.
perform: doing one step's work: a replay (Celery, HTTP, action) or queueing a notification.
dispatch: sending recovery's messages with Celery: attempts, replays with callbacks, deliveries.
http_replay: replaying an HTTP target once, and what its response means.
destinations: whether an HTTP replay may go to its URL, and to which checked address (pure).
pinned_transport: an httpx client connected only to the address checked, TLS still for the name.
actions: plugin actions from the `medic.actions` entry point group (docs/contract.md).
target_policy: which Celery tasks, queues and actions a replay may call (allowlists, medic's own refused; pure).
callback_signing: the HMAC that makes a Celery replay's link/link_error callbacks medic's own (pure).
callback_key: the key of that HMAC: the setting, else one generated once in medic's database.
builtin_actions: the `log` and `noop` actions.
operator: what operators (and the stuck job) do to executions, audited.
dead_filters: which dead letters a bulk replay or retarget takes, and why one is skipped (pure).
dead_listing: dead letters a page at a time (and counted), selected as the bulk operations select them.
"""
