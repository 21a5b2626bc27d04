"""The data set of benchmarks.maintenance_scale, seeded in PostgreSQL with INSERT ... SELECT FROM generate_series.

Two parts, each in id order = time order, as intake writes them:
- the base (`seed_base`), all of it within the cleanup job's default retention, so cleanup keeps
  it: occurrences over the last `days` days in `groups` groups (skewed: a few groups take most
  occurrences; a share of the groups resolved, their occurrences older than a week), executions
  on the occurrences of the last 29 days (most finished; the newest waiting, running or pending,
  some of those stuck), 1-4 attempts each, an audit row per execution and per finished attempt,
  a notification per dead execution, rejected events, 13 days of health snapshots (one a minute)
  and 89 days of run rows (two a minute: stuck and health).
- the expired set (`seed_expired`), each kind past its default retention: resolved groups with
  their occurrences (91-150 days old), finished executions with attempts, audit rows and
  notifications (31-90 days old, on the base's occurrences of that age), rejected events, health
  snapshots and run rows. Its groups, occurrences and executions have ids below the base's
  (reserved), as old rows do, so it can be seeded again after cleanup deleted it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

# Category weights of the seeded groups (network errors are the most common in life).
CATEGORY_WEIGHTS = {"network": 25, "timeout": 15, "unavailable": 12, "rate_limit": 8, "validation": 8,
                    "internal": 8, "not_found": 6, "conflict": 5, "auth": 4, "data": 3, "resource": 2,
                    "configuration": 2, "unknown": 2}
ERROR_TYPES = {
    "network": "requests.exceptions.ConnectionError", "timeout": "requests.exceptions.ReadTimeout",
    "unavailable": "requests.exceptions.HTTPError", "rate_limit": "stripe.error.RateLimitError",
    "validation": "pydantic.ValidationError", "internal": "KeyError", "not_found": "botocore.exceptions.NoSuchKey",
    "conflict": "psycopg.errors.DeadlockDetected", "auth": "requests.exceptions.HTTPError",
    "data": "psycopg.errors.UniqueViolation", "resource": "OSError", "configuration": "ImproperlyConfigured",
    "unknown": "app.errors.SyncFailed",
}
SERVICES = 40
SEVERITIES = ("low", "medium", "high", "critical")
TRACEBACK = ("Traceback (most recent call last):\n  File \"/srv/app/jobs.py\", line 120, in run\n"
             "    result = handler(payload)\n  File \"/srv/app/handlers.py\", line 88, in sync_order\n"
             "    response = client.call(order_id=order_id)\n")


@dataclass(frozen=True)
class Active:
    """Executions not finished, and how many of each kind are stuck (by the stuck job's default thresholds)."""

    waiting: int = 3000
    running: int = 300
    pending: int = 50
    overdue: int = 40        # waiting: attempt sent 10-60 min ago, never claimed
    undispatched: int = 30   # waiting: attempt due 5-30 min ago, its message never sent
    past_deadline: int = 30  # running: deadline passed 10-50 min ago
    old_pending: int = 5     # pending for an hour

    @property
    def total(self) -> int:
        return self.waiting + self.running + self.pending

    @property
    def stuck(self) -> int:
        return self.overdue + self.undispatched + self.past_deadline + self.old_pending


def _params(now: datetime, plans: dict[str, Any]) -> dict[str, Any]:
    slots = [c for c, w in CATEGORY_WEIGHTS.items() for _ in range(w)]
    return {"now": now, "slots": slots, "types": json.dumps(ERROR_TYPES), "plans": json.dumps(plans)}


def _run(conn: Connection, sql: str, params: dict[str, Any]) -> int:
    return conn.execute(text(sql), params).rowcount


# ----------------------------------------------------------------------------- statements

GROUPS = """
INSERT INTO error_groups (id, fingerprint, error_type, message_template, service, operation, status, occurrence_count,
                          first_seen, last_seen, category, severity, retryable, confidence, rule_id)
SELECT g, md5(:tag || g), CAST(:types AS json) ->> c, 'Connection to <host> failed after <n> ms (' || c || ')',
       'svc-' || lpad((g % 40)::text, 2, '0'), (ARRAY['sync_order','send_invoice','fetch_commits','charge'])[1 + g % 4],
       CASE WHEN g >= :first_resolved THEN 'resolved' ELSE 'open' END, 0, :now, :now, c,
       (ARRAY['low','medium','high','critical'])[1 + (g * 7) % 4],
       c IN ('network','timeout','rate_limit','unavailable','conflict'), 0.9, c || '.bench'
FROM (SELECT g, (CAST(:slots AS text[]))[1 + (g * 37) % cardinality(CAST(:slots AS text[]))] AS c
      FROM generate_series(CAST(:first AS bigint), :last) g) s
"""

# Occurrence s of n: at `newest - span * (n - s) / n` (id order = time order). Groups are picked
# skewed (power 2.5: the lowest ids get most); in the last week only open groups are picked.
OCCURRENCES = """
INSERT INTO occurrences (id, group_id, delivery_id, idempotency_key, received_at, occurred_at, source, message,
                         event, category, severity, retryable, confidence, rule_id)
SELECT o.id, g.id, :tag || '-' || o.id, CASE WHEN o.id % 3 = 0 THEN :tag || '-key-' || o.id END,
       o.at, o.at - interval '40 ms', 'billing-api',
       'Connection to db-' || (o.id % 7) || ' failed after ' || (o.id % 9000) || ' ms',
       json_build_object('error_type', g.error_type, 'message', 'Connection to db-' || (o.id % 7) || ' failed after '
                         || (o.id % 9000) || ' ms', 'service', g.service, 'operation', g.operation,
                         'source', 'billing-api',
                         'context', json_build_object('order_id', o.id * 7919 % 100000000, 'attempt', 1 + o.id % 5,
                                                      'api_key', '***', 'region', 'eu-west-1'),
                         'traceback', CASE WHEN o.id % 3 = 1 THEN :traceback || g.error_type || ': failed' END),
       g.category, g.severity, g.retryable, g.confidence, g.rule_id
FROM (SELECT :first + s - 1 AS id, at,
             :group_first + floor(power(random(), 2.5) *
                 CASE WHEN at > :now - interval '7 days' THEN :open_groups ELSE :groups END)::bigint AS gid
      FROM (SELECT s, :newest - (:span_s * (:n - s) / :n + random() * 5) * interval '1 second' AS at
            FROM generate_series(1, CAST(:n AS bigint)) s) t) o
JOIN error_groups g ON g.id = o.gid
"""

GROUP_COUNTERS = """
UPDATE error_groups g SET occurrence_count = a.n, first_seen = a.first_seen, last_seen = a.last_seen
FROM (SELECT group_id, count(*) AS n, min(received_at) AS first_seen, max(received_at) AS last_seen
      FROM occurrences WHERE id BETWEEN :first AND :last GROUP BY group_id) a
WHERE g.id = a.group_id
"""

# Execution j of n is started by occurrence `occ_first + (j - 1) * occ_n / n` (spread over the
# occurrences), except the last `active` ones, which take the newest occurrences one each.
EXECUTIONS = """
INSERT INTO executions (id, group_id, occurrence_id, replay_of, plan_name, plan, service, category, state, run,
                        step_index, next_attempt_at, created_at, updated_at, finished_at, last_error, reason, queue,
                        version)
SELECT e.id, o.group_id, o.id, NULL, p.value ->> 'name', p.value -> 'plan',
       o.event ->> 'service', o.category, e.state, 1, 0, NULL, o.received_at,
       o.received_at + e.took,
       CASE WHEN e.state IN ('succeeded','dead','failed','cancelled') THEN o.received_at + e.took END,
       CASE WHEN e.state <> 'succeeded' THEN 'the replayed task failed: ConnectionError' END,
       CASE e.state WHEN 'dead' THEN 'retries exhausted; dead-lettered' WHEN 'succeeded' THEN 'replay succeeded' END,
       NULL, 3
FROM (SELECT :first + j - 1 AS id,
             CASE WHEN j > :n - :active THEN :occ_first + :occ_n - 1 - (:n - j)
                  ELSE :occ_first + floor((j - 1) * (:occ_n - :active)::float8 / (:n - :active))::bigint END AS occ,
             CASE WHEN j > :n - :active THEN
                      CASE WHEN j > :n - :pending THEN 'pending' WHEN j > :n - :pending - :running THEN 'running'
                           ELSE 'waiting' END
                  ELSE (ARRAY['succeeded','dead','failed','cancelled'])[
                      CASE WHEN r < 0.72 THEN 1 WHEN r < 0.90 THEN 2 WHEN r < 0.94 THEN 3 ELSE 4 END] END AS state,
             (30 + random() * 1800) * interval '1 second' AS took
      FROM (SELECT j, random() AS r FROM generate_series(1, CAST(:n AS bigint)) j) x) e
JOIN occurrences o ON o.id = e.occ
JOIN json_each(CAST(:plans AS json)) p ON p.key = o.category
"""

# 1-4 attempts per finished execution (mean 2.5): earlier ones failed or timed out, the last as the
# execution ended. Waiting and running executions get 0-2 failed attempts before the open one.
FINISHED_ATTEMPTS = """
INSERT INTO attempts (execution_id, run, step_index, step_kind, number, state, scheduled_for, dispatched_at,
                      dispatch_count, claimed_at, claimed_by, deadline_at, finished_at, outcome, error, detail)
SELECT e.id, 1, 0, 'retry', k, st, at, at, 1, at + interval '5 ms', 'worker:bench-1:4242', at + interval '600 s',
       at + interval '800 ms',
       CASE st WHEN 'succeeded' THEN 'success' WHEN 'timed_out' THEN 'timeout' ELSE 'retryable' END,
       CASE WHEN st <> 'succeeded' THEN 'ConnectionError: Connection refused' END, NULL
FROM (SELECT e.id, e.state, e.created_at, 1 + floor(random() * 4)::int AS n FROM executions e
      WHERE e.id BETWEEN :first AND :last AND e.state IN ('succeeded','dead','failed','cancelled')) e,
     LATERAL (SELECT k, e.created_at + (k * 2 ^ k) * interval '1 second' AS at,
                     CASE WHEN k = e.n AND e.state = 'succeeded' THEN 'succeeded'
                          WHEN random() < 0.15 THEN 'timed_out' ELSE 'failed' END AS st
              FROM generate_series(1, e.n) k) a
"""

EARLIER_ATTEMPTS = """
INSERT INTO attempts (execution_id, run, step_index, step_kind, number, state, scheduled_for, dispatched_at,
                      dispatch_count, claimed_at, claimed_by, deadline_at, finished_at, outcome, error, detail)
SELECT e.id, 1, 0, 'retry', k, 'failed', at, at, 1, at + interval '5 ms', 'worker:bench-1:4242', at + interval '600 s',
       at + interval '800 ms', 'retryable', 'ConnectionError: Connection refused', NULL
FROM (SELECT id, created_at, (id % 3)::int AS n FROM executions
      WHERE id BETWEEN :first AND :last AND state IN ('waiting','running')) e,
     LATERAL (SELECT k, e.created_at + (k * 2 ^ k) * interval '1 second' AS at FROM generate_series(1, e.n) k) a
"""

# The open attempt of each waiting execution (numbered after its earlier ones). By rank among the
# waiting: the first `overdue` were sent 10-60 min ago and never claimed, the next `undispatched`
# were due 5-30 min ago and never sent, 5 % are due now (sent with a countdown), the rest wait
# up to 15 minutes.
WAITING_ATTEMPTS = """
INSERT INTO attempts (execution_id, run, step_index, step_kind, number, state, scheduled_for, dispatched_at,
                      dispatch_count)
SELECT id, 1, 0, 'retry', id % 3 + 1, 'scheduled', at, CASE WHEN rank > :overdue AND rank <= :overdue + :undispatched
       THEN NULL ELSE at END, CASE WHEN rank > :overdue AND rank <= :overdue + :undispatched THEN 0 ELSE 1 END
FROM (SELECT id, rank, CASE WHEN rank <= :overdue THEN :now - (600 + random() * 3000) * interval '1 second'
                            WHEN rank <= :overdue + :undispatched
                                THEN :now - (300 + random() * 1500) * interval '1 second'
                            WHEN random() < 0.05 THEN :now - random() * 20 * interval '1 second'
                            ELSE :now + (1 + random() * 900) * interval '1 second' END AS at
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM executions
            WHERE id BETWEEN :first AND :last AND state = 'waiting') w) a
"""

RUNNING_ATTEMPTS = """
INSERT INTO attempts (execution_id, run, step_index, step_kind, number, state, scheduled_for, dispatched_at,
                      dispatch_count, claimed_at, claimed_by, deadline_at)
SELECT id, 1, 0, 'retry', id % 3 + 1, 'running', claimed - interval '5 ms', claimed - interval '5 ms', 1, claimed,
       'worker:bench-2:' || (id % 4), claimed + interval '600 s'
FROM (SELECT id, CASE WHEN rank <= :past_deadline THEN :now - (1320 + random() * 2400) * interval '1 second'
                      ELSE :now - random() * 300 * interval '1 second' END AS claimed
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM executions
            WHERE id BETWEEN :first AND :last AND state = 'running') r) a
"""

ACTIVE_EXECUTIONS = """
UPDATE executions e SET next_attempt_at = a.scheduled_for,
       updated_at = least(:now - interval '1 s', greatest(e.created_at, a.scheduled_for - interval '60 s')),
       step_index = 0, reason = 'retry ' || a.number || ' of 6'
FROM attempts a WHERE e.id BETWEEN :first AND :last AND e.state IN ('waiting','running') AND a.execution_id = e.id
  AND a.state IN ('scheduled','running')
"""

PENDING = """
UPDATE executions e SET created_at = t, updated_at = t
FROM (SELECT id, CASE WHEN rank <= :old_pending THEN :now - (3600 + random() * 600) * interval '1 second'
                      ELSE :now - random() * 30 * interval '1 second' END AS t
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS rank FROM executions
            WHERE id BETWEEN :first AND :last AND state = 'pending') p) x
WHERE e.id = x.id
"""

AUDIT = """
INSERT INTO execution_audit (execution_id, attempt_id, at, actor, action, from_state, to_state, reason, detail)
SELECT id, NULL, created_at, 'worker:bench-1', 'created', NULL, 'waiting', 'plan ' || plan_name, NULL
FROM executions WHERE id BETWEEN :first AND :last
UNION ALL
SELECT a.execution_id, a.id, a.finished_at, 'worker:bench-1', 'attempt_' || a.state, 'running',
       CASE WHEN a.state = 'succeeded' THEN 'succeeded' ELSE 'waiting' END, a.error,
       json_build_object('attempt', a.number)
FROM attempts a WHERE a.execution_id BETWEEN :first AND :last AND a.finished_at IS NOT NULL
"""

NOTIFICATIONS = """
INSERT INTO notifications (created_at, channel, level, kind, group_id, execution_id, dedup_key, subject, body, state,
                           attempts, next_attempt_at, last_error, sent_at)
SELECT finished_at, 'log', 'error', 'escalate', group_id, id, 'escalate:' || group_id || ':log:error',
       'execution ' || id || ' is dead',
       json_build_object('subject', 'execution ' || id || ' is dead', 'level', 'error'),
       CASE WHEN id % 4 = 0 THEN 'sent' ELSE 'suppressed' END, 1, NULL, NULL, finished_at
FROM executions WHERE id BETWEEN :first AND :last AND state = 'dead'
"""

REJECTED = """
INSERT INTO rejected_events (delivery_id, received_at, reason, payload, payload_bytes)
SELECT :tag || '-rejected-' || s, :newest - (:span_s * (:n - s) / :n) * interval '1 second',
       'error_type: field required', '{"message": "boom", "service": "billing"}', 42
FROM generate_series(1, CAST(:n AS bigint)) s
"""

SNAPSHOTS = """
INSERT INTO health_snapshots (taken_at, status, metrics, reasons)
SELECT :newest - (:n - s) * interval '1 minute', CASE WHEN s % 50 = 0 THEN 'degraded' ELSE 'healthy' END,
       json_build_object('window_s', 300,
                         'queue_depths', json_build_object('medic.errors', s % 13, 'medic.recovery', s % 5),
                         'errors_in_window', json_build_object('network', 10, 'timeout', 5, 'internal', 5),
                         'error_rate_per_min', json_build_object('network', 2, 'timeout', 1, 'internal', 1),
                         'recovery_success_rate', 0.93, 'open_breakers', json_build_object(),
                         'stuck_executions', s % 3, 'dead_letters', 1234,
                         'last_good_backup_age_h', 1 + (s % 1440) / 60.0, 'database_size_bytes', 2147483648),
       json_build_object('items', json_build_array())
FROM generate_series(1, CAST(:n AS bigint)) s
"""

# Two run rows a minute (stuck and health), as beat writes them.
RUNS = """
INSERT INTO maintenance_runs (id, job, trigger, host, status, started_at, finished_at, counts, summary, error)
SELECT :first + s - 1, CASE WHEN s % 2 = 0 THEN 'stuck' ELSE 'health' END, 'beat', 'worker-1:4242', 'succeeded',
       :newest - (:n - s) * interval '30 s', :newest - (:n - s) * interval '30 s' + interval '180 ms',
       json_build_object('found', 0), 'nothing stuck', NULL
FROM generate_series(1, CAST(:n AS bigint)) s
"""

SEQUENCES = ("error_groups", "occurrences", "executions", "maintenance_runs")


# ----------------------------------------------------------------------------- seeding


def _executions(conn: Connection, p: dict[str, Any], first: int, n: int, occ_first: int, occ_n: int,
                active: Active) -> None:
    span = {"first": first, "last": first + n - 1}
    _run(conn, EXECUTIONS, {**p, "first": first, "n": n, "occ_first": occ_first, "occ_n": occ_n,
                            "active": active.total, "pending": active.pending, "running": active.running})
    _run(conn, FINISHED_ATTEMPTS, span)
    if active.total:
        _run(conn, EARLIER_ATTEMPTS, span)
        _run(conn, WAITING_ATTEMPTS, {**p, **span, "overdue": active.overdue, "undispatched": active.undispatched})
        _run(conn, RUNNING_ATTEMPTS, {**p, **span, "past_deadline": active.past_deadline})
        _run(conn, ACTIVE_EXECUTIONS, {**p, **span})
        _run(conn, PENDING, {**p, **span, "old_pending": active.old_pending})
    _run(conn, AUDIT, span)
    _run(conn, NOTIFICATIONS, span)


def _move_sequences(conn: Connection) -> None:
    for name in SEQUENCES:
        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))


@dataclass(frozen=True)
class Layout:
    """Sizes, and where each part's ids start: the expired set's groups, occurrences, executions and
    run rows have the lowest ids (they are the oldest rows), the base's come after them."""

    occurrences: int
    executions: int
    groups: int
    days: float
    expired_groups: int
    expired_occurrences: int
    expired_executions: int
    expired_runs: int

    @property
    def base_group(self) -> int:
        return self.expired_groups + 1

    @property
    def base_occurrence(self) -> int:
        return self.expired_occurrences + 1

    @property
    def base_execution(self) -> int:
        return self.expired_executions + 1

    def base_occurrences_aged(self, newest_days: float, oldest_days: float) -> tuple[int, int]:
        """(first id, count) of the base occurrences received between oldest_days and newest_days ago."""
        def index(days_ago: float) -> int:
            return int(self.occurrences * max(0.0, self.days - days_ago) / self.days)
        first, last = index(min(oldest_days, self.days)), index(newest_days)
        return self.base_occurrence + first, last - first


def seed_base(engine: Engine, *, now: datetime, plans: dict[str, Any], layout: Layout, resolved_share: float,
              active: Active) -> dict[str, float]:
    """The data cleanup keeps; returns the seconds each part took.

    Occurrences over the last `days`; executions on the occurrences of the last KEPT_EXECUTION_DAYS
    (finished executions are kept 30 days by default); rejected events, notifications (of the dead
    executions), health snapshots and run rows within their default retention.
    """
    p = _params(now, plans)
    timings: dict[str, float] = {}
    g0, o0 = layout.base_group, layout.base_occurrence
    open_groups = layout.groups - int(layout.groups * resolved_share)
    occ_first, occ_n = layout.base_occurrences_aged(0, KEPT_EXECUTION_DAYS)
    span = {"newest": now, "span_s": min(layout.days, KEPT_RUN_DAYS) * 86_400}
    steps = [
        ("groups", lambda c: _run(c, GROUPS, {**p, "tag": "base", "first": g0, "last": g0 + layout.groups - 1,
                                              "first_resolved": g0 + open_groups})),
        ("occurrences", lambda c: _run(c, OCCURRENCES, {
            **p, "tag": "base", "first": o0, "n": layout.occurrences, "newest": now, "span_s": layout.days * 86_400,
            "group_first": g0, "groups": layout.groups, "open_groups": open_groups, "traceback": TRACEBACK})),
        ("group counters", lambda c: _run(c, GROUP_COUNTERS, {"first": o0, "last": o0 + layout.occurrences - 1})),
        ("executions, attempts, audit, notifications", lambda c: _executions(
            c, p, layout.base_execution, layout.executions, occ_first, occ_n, active)),
        ("rejected events, health snapshots, run rows", lambda c: (
            _run(c, REJECTED, {"tag": "base", "n": BASE_REJECTED, "newest": now,
                               "span_s": KEPT_REJECTED_DAYS * 86_400}),
            _run(c, SNAPSHOTS, {"newest": now, "n": int(KEPT_SNAPSHOT_DAYS * 1440)}),
            _run(c, RUNS, {"newest": now, "n": int(span["span_s"] / 30), "first": layout.expired_runs + 1}))),
        ("sequences", _move_sequences),
    ]
    with engine.begin() as conn:
        for name, step in steps:
            started = time.perf_counter()
            step(conn)
            timings[name] = time.perf_counter() - started
    return timings


def seed_burst(engine: Engine, *, now: datetime, plans: dict[str, Any], layout: Layout, resolved_share: float,
               count: int, seconds: float) -> float:
    """`count` more occurrences received over the last `seconds` (an incident), in the base's open groups."""
    p = _params(now, plans)
    started = time.perf_counter()
    open_groups = layout.groups - int(layout.groups * resolved_share)
    with engine.begin() as conn:
        first = conn.execute(text("SELECT max(id) + 1 FROM occurrences")).scalar_one()
        _run(conn, OCCURRENCES, {**p, "tag": "burst", "first": first, "n": count, "newest": now, "span_s": seconds,
                                 "group_first": layout.base_group, "groups": open_groups, "open_groups": open_groups,
                                 "traceback": TRACEBACK})
        _move_sequences(conn)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Expired:
    """How many rows of the kinds whose ids are not reserved (see Layout) the expired set has."""

    rejected: int
    snapshots: int


# Ages (days) of the expired set, each past its kind's default retention (config/jobs/cleanup.py),
# and of the base's newest kept rows, each within it.
EXPIRED_GROUP_DAYS = (91, 150)       # resolved groups: 90 days after last seen
EXPIRED_EXECUTION_DAYS = (31, 90)    # finished executions (and their notifications): 30 days
EXPIRED_REJECTED_DAYS = (31, 90)     # rejected events: 30 days
EXPIRED_SNAPSHOT_DAYS = (15, 28)     # health snapshots: 14 days
EXPIRED_RUN_DAYS = (91, 120)         # run rows: 90 days
KEPT_EXECUTION_DAYS = 29
KEPT_REJECTED_DAYS = 29
KEPT_SNAPSHOT_DAYS = 13
KEPT_RUN_DAYS = 89
BASE_REJECTED = 5000


def seed_expired(engine: Engine, *, now: datetime, plans: dict[str, Any], layout: Layout, expired: Expired,
                 tag: str) -> float:
    """The rows past retention; returns the seconds it took.

    Resolved groups (ids below the base's) with their occurrences, 91-150 days old; finished
    executions (ids below the base's) with attempts, audit rows and notifications, on the base's
    occurrences 31-90 days old; rejected events, health snapshots and run rows past retention.
    """
    p = _params(now, plans)
    started = time.perf_counter()

    def aged(days: tuple[int, int]) -> dict[str, Any]:
        return {"newest": now - timedelta(days=days[0]), "span_s": (days[1] - days[0]) * 86_400}

    groups, occurrences = layout.expired_groups, layout.expired_occurrences
    occ_first, occ_n = layout.base_occurrences_aged(*EXPIRED_EXECUTION_DAYS)
    with engine.begin() as conn:
        _run(conn, GROUPS, {**p, "tag": tag, "first": 1, "last": groups, "first_resolved": 1})
        _run(conn, OCCURRENCES, {**p, **aged(EXPIRED_GROUP_DAYS), "tag": tag, "first": 1, "n": occurrences,
                                 "group_first": 1, "groups": groups, "open_groups": groups, "traceback": TRACEBACK})
        _run(conn, GROUP_COUNTERS, {"first": 1, "last": occurrences})
        _executions(conn, p, 1, layout.expired_executions, occ_first, occ_n, Active(0, 0, 0, 0, 0, 0, 0))
        _run(conn, REJECTED, {**aged(EXPIRED_REJECTED_DAYS), "tag": tag, "n": expired.rejected})
        newest_snapshot = aged(EXPIRED_SNAPSHOT_DAYS)["newest"]
        _run(conn, SNAPSHOTS, {"newest": newest_snapshot, "n": expired.snapshots})
        _run(conn, RUNS, {"newest": aged(EXPIRED_RUN_DAYS)["newest"], "n": layout.expired_runs, "first": 1})
    return time.perf_counter() - started


def expired_rows(engine: Engine, layout: Layout, expired: Expired) -> dict[str, int]:
    """The expired set as it is in the database now (what cleanup should delete), by kind."""
    e = layout.expired_executions
    queries = {
        "groups": f"SELECT count(*) FROM error_groups WHERE id <= {layout.expired_groups}",
        "occurrences": f"SELECT count(*) FROM occurrences WHERE id <= {layout.expired_occurrences}",
        "executions": f"SELECT count(*) FROM executions WHERE id <= {e}",
        "attempts": f"SELECT count(*) FROM attempts WHERE execution_id <= {e}",
        # By age: deleting their executions set their execution_id to NULL first.
        "notifications": "SELECT count(*) FROM notifications WHERE created_at < now() - interval '30 days'",
        "rejected_events": "SELECT count(*) FROM rejected_events WHERE received_at < now() - interval '30 days'",
        "health_snapshots": "SELECT count(*) FROM health_snapshots WHERE taken_at < now() - interval '14 days'",
        "maintenance_runs": "SELECT count(*) FROM maintenance_runs WHERE started_at < now() - interval '90 days'",
    }
    with engine.connect() as conn:
        return {kind: conn.execute(text(sql)).scalar_one() for kind, sql in queries.items()}


def vacuum_analyze(engine: Engine, tables: tuple[str, ...] = ()) -> float:
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE " + ", ".join(tables)))
    return time.perf_counter() - started


def plan_snapshots(settings: Any) -> dict[str, Any]:
    """{category: {"name", "plan"}}: the plan each category's executions carry, as medic stores it."""
    from workers.recovery.plans import builtin_plan_paths, load_plans

    plans = load_plans([*builtin_plan_paths(), *settings.plans_files])
    out = {}
    for category in CATEGORY_WEIGHTS:
        event = {"error_type": ERROR_TYPES[category], "message": "failed", "service": "svc-01"}
        plan = plans.select(event, category, "high")
        out[category] = {"name": plan.name, "plan": plan.model_dump(mode="json")}
    return out


def table_counts(engine: Engine, tables: tuple[str, ...]) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
