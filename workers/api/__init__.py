"""`medic serve`: Prometheus metrics, health probes and a token-protected JSON API over medic's database.

app: the FastAPI application, built from settings.
auth: bearer tokens from MEDIC_SERVE__TOKENS, read, write or ingest access.
session: a database session per request; database trouble becomes a 503.
pages: ?limit= / ?offset= paging of lists.
ids: row ids, offsets and limits PostgreSQL's bigint holds (else 422).
bodies: request bodies capped, and authenticated before they are read (an ASGI middleware).
routes_probes: /healthz, /readyz, /metrics (no authentication).
routes_groups: /api/groups, searched, with triage, recovery state and messages per audience; resolve / reopen.
routes_recovery: /api/executions and /api/dead; operator actions when writes are allowed.
routes_alerts: /api/alerts and /api/health.
routes_breakers: /api/breakers, circuit breakers per service; open / close / reset when writes are allowed.
routes_events: POST /api/events, errors reported over HTTP (an ingest or write token).
events_body: pure: the body of POST /api/events read into raw events, or why it cannot be (400, 413, 415).
ingest: pure: each decided event published to the broker or stored directly; 503 when it can go nowhere.
ingestion: the broker and database behind ingest, and the per-token rate limiter, of one `medic serve`.
rate_limit: a token bucket per API token: events per second with a burst (429 with Retry-After).
readiness: can this process reach the database and the broker now.
prometheus: the metrics, read at scrape time from the database, the broker and the breakers.
metric_queries: the database reads behind /metrics.
"""
