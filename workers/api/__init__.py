"""`medic serve`: Prometheus metrics, health probes and a token-protected JSON API over medic's database.

app: the FastAPI application, built from settings.
auth: bearer tokens from MEDIC_SERVE__TOKENS, read or write access.
session: a database session per request; database trouble becomes a 503.
pages: ?limit= / ?offset= paging of lists.
ids: row ids, offsets and limits PostgreSQL's bigint holds (else 422).
bodies: request bodies capped, and authenticated before they are read (an ASGI middleware).
routes_probes: /healthz, /readyz, /metrics (no authentication).
routes_groups: /api/groups, with triage, recovery state and messages per audience.
routes_recovery: /api/executions and /api/dead; operator actions when writes are allowed.
routes_alerts: /api/alerts and /api/health.
readiness: can this process reach the database and the broker now.
prometheus: the metrics, read at scrape time from the database, the broker and the breakers.
metric_queries: the database reads behind /metrics.
"""
