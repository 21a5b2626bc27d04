"""medic's Prometheus metrics, read at scrape time from the database, the broker and the breaker store.

Every medic process on every host writes to the one database, so one `medic serve` exposes the
totals of all of them: nothing to aggregate per process. A read is reused for
MEDIC_SERVE__METRICS_CACHE_S; a source that cannot be read drops its metrics and sets
medic_source_up{source=...} to 0, so the scrape itself still succeeds.

A label whose values senders choose (service) names at most MEDIC_SERVE__METRICS_MAX_SERVICES of
them and sums the rest under "other": a sender cannot grow the number of series. The other labels
come from medic's own vocabularies (categories and severities of the rules, states, queues, jobs).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from config.errors import ConfigError, StorageUnavailable
from config.serve import DEFAULT_METRICS_MAX_SERVICES
from config.settings import Settings
from workers.api import metric_queries as mq
from workers.breakers import Breakers
from workers.breakers.policy import StateName
from workers.clock import utcnow
from workers.maintenance.health import queries
from workers.maintenance.health.metrics import (
    BREAKERS,
    BROKER,
    DATABASE,
    breaker_states,
    reading_breakers,
    success_rate,
)
from workers.maintenance.health.queues import queue_depths
from workers.maintenance.registry import JOBS
from workers.maintenance.stuck.detect import count_stuck
from workers.recovery.states import SUCCEEDED
from workers.storage.db import guarded_session

BREAKER_STATES: tuple[str, ...] = get_args(StateName)  # closed, open, half_open, forced_open
ACCEPTED, REJECTED = "accepted", "rejected"
CLOSED = "closed"
OTHER = "other"  # the label value of every sender-chosen value past the cap


class MedicCollector(Collector):
    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *, clock: Callable[[], datetime] = utcnow):
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self._lock = threading.Lock()
        self._read_at: float | None = None
        self._families: list[Metric] = []
        self._breakers: Breakers | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not read the database

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # concurrent scrapes share one read
            fresh = self._read_at is not None and time.monotonic() - self._read_at < self.settings.serve.metrics_cache_s
            if not fresh:
                self._families = self.read()
                self._read_at = time.monotonic()
            return list(self._families)

    def breakers(self) -> Breakers:
        """The breaker reader, made at the first read: the plan files are read once per process, not per scrape."""
        if self._breakers is None:
            self._breakers = reading_breakers(self.settings, self.sessions, clock=self.clock)
        return self._breakers

    def read(self) -> list[Metric]:
        started = time.monotonic()
        now = self.clock()
        up: dict[str, bool] = {}
        families: list[Metric] = []
        occurrences: dict[str, int] = {}  # by service: which services keep their names
        try:
            with guarded_session(self.sessions) as session:
                families += database_families(session, self.settings, now)
                occurrences = mq.occurrences_by_service(session)
            up[DATABASE] = True
        except StorageUnavailable:
            up[DATABASE] = False
        depths = queue_depths(self.settings.broker_url, timeout_s=self.settings.serve.probe_timeout_s)
        up[BROKER] = depths.problem is None
        if up[BROKER]:
            families.append(queue_family(depths.depths))
        try:
            families.append(breaker_family(breaker_states(self.breakers()), occurrences,
                                           limit=self.settings.serve.metrics_max_services))
            up[BREAKERS] = True
        except (StorageUnavailable, ConfigError):
            up[BREAKERS] = False
        source_up = GaugeMetricFamily("medic_source_up", "Whether this scrape could read the source (1) or not (0).",
                                      labels=["source"])
        for source, ok in sorted(up.items()):
            source_up.add_metric([source], 1 if ok else 0)
        took = GaugeMetricFamily("medic_metrics_read_duration_seconds", "How long reading the sources took.")
        took.add_metric([], time.monotonic() - started)
        return [*families, source_up, took]


def database_families(session: Session, settings: Settings, now: datetime) -> list[Metric]:
    by_triage = mq.occurrences_by_triage(session)
    received = CounterMetricFamily("medic_events_received", "Error events received: accepted (stored as occurrences) "
                                   "or rejected (invalid; see `medic rejected`).", labels=["outcome"])
    received.add_metric([ACCEPTED], sum(by_triage.values()))
    received.add_metric([REJECTED], mq.rejected_events(session))
    occurrences = CounterMetricFamily("medic_occurrences",
                                      "Occurrences accepted, by the category and severity of their error group.",
                                      labels=["category", "severity"])
    for (category, severity), total in sorted(by_triage.items()):
        occurrences.add_metric([category, severity], total)
    groups = labelled(GaugeMetricFamily("medic_error_groups", "Error groups by status.", labels=["status"]),
                      mq.groups_by_status(session))
    executions = labelled(GaugeMetricFamily("medic_executions", "Recovery executions by state.", labels=["state"]),
                          mq.executions_by_state(session))
    attempts = labelled(CounterMetricFamily("medic_attempts", "Finished recovery attempts by outcome.",
                                            labels=["outcome"]), mq.attempts_by_outcome(session))
    finished = queries.finished_by_state(session, since=queries.window_start(now, settings.health.window_s))
    rate = success_rate(finished.get(SUCCEEDED, 0), sum(finished.values()))
    success = GaugeMetricFamily("medic_recovery_success_ratio", "Share of the executions finished within the health "
                                "window (MEDIC_HEALTH__WINDOW_S) that succeeded; absent when none finished.")
    if rate is not None:
        success.add_metric([], rate)
    stuck = single("medic_stuck_executions", "Executions stuck by the rules of MEDIC_STUCK__*.",
                   count_stuck(session, settings.stuck, now))
    dead = single("medic_dead_letters",
                  "Tried recoveries (a call-step attempt) that ended dead, until replayed or purged.",
                  queries.dead_letters(session))
    last_runs = GaugeMetricFamily("medic_maintenance_last_success_timestamp_seconds",
                                  "When each maintenance job last finished successfully (Unix time).", labels=["job"])
    for job, finished_at in sorted(mq.last_success_by_job(session, JOBS).items()):
        last_runs.add_metric([job], finished_at.timestamp())
    families: list[Metric] = [received, occurrences, groups, executions, attempts, success, stuck, dead, last_runs]
    backup_at = queries.last_good_backup_at(session)
    if backup_at is not None:
        families.append(single("medic_backup_last_good_timestamp_seconds",
                               "When the newest verified backup was made (Unix time).", backup_at.timestamp()))
        families.append(single("medic_backup_last_good_age_seconds", "Age of the newest verified backup.",
                               (now - backup_at).total_seconds()))
    return families


def queue_family(depths: dict[str, int | None]) -> Metric:
    family = GaugeMetricFamily("medic_queue_depth", "Messages waiting in each of medic's queues.", labels=["queue"])
    for queue, depth in sorted(depths.items()):
        if depth is not None:
            family.add_metric([queue], depth)
    return family


def breaker_family(states: dict[str, str], occurrences: Mapping[str, int] | None = None, *,
                   limit: int = DEFAULT_METRICS_MAX_SERVICES) -> Metric:
    """One series per service and state, 1 for the state the breaker is in (the enum pattern).

    Past `limit` services (open breakers first, then the most occurrences), the rest are one service
    "other" whose series count its breakers in each state."""
    family = GaugeMetricFamily("medic_breaker_state", "Circuit breaker state per service: 1 for the current state; "
                               "for service=\"other\", how many of the services past the cap are in it.",
                               labels=["service", "state"])
    counts = occurrences or {}
    kept = top_labels({service: (int(state != CLOSED), counts.get(service, 0)) for service, state in states.items()},
                      limit)
    for service in sorted(kept):
        for state in BREAKER_STATES:
            family.add_metric([service, state], 1 if state == states[service] else 0)
    others = Counter(state for service, state in states.items() if service not in kept)
    if others:
        for state in BREAKER_STATES:
            family.add_metric([OTHER, state], others[state])
    return family


def top_labels(weights: Mapping[str, tuple[int, ...]], limit: int) -> set[str]:
    """The `limit` values of most weight (ties by name), which keep their names; a value that is OTHER never does,
    so it cannot collide with the sum of the rest."""
    ranked = sorted((value for value in weights if value != OTHER),
                    key=lambda value: (tuple(-w for w in weights[value]), value))
    return set(ranked[:limit])


def labelled(family: GaugeMetricFamily | CounterMetricFamily, values: dict[str, int]):
    for label, value in sorted(values.items()):
        family.add_metric([label], value)
    return family


def single(name: str, documentation: str, value: float) -> Metric:
    family = GaugeMetricFamily(name, documentation)
    family.add_metric([], value)
    return family
