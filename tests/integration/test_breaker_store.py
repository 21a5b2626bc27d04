"""One contract for every breaker store, run on Redis, SQLite, PostgreSQL and memory, with real threads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import redis

from config.settings import Settings
from tests.support import redisdb
from tests.support.clock import ManualClock
from workers.breakers import (
    BreakerConfig,
    Breakers,
    BreakerState,
    MemoryBreakerStore,
    Permit,
    RedisBreakerStore,
    SqlBreakerStore,
    Transition,
    breakers_from_settings,
)
from workers.storage.db import session_factory

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
THREADS, CALLS_PER_THREAD = 8, 50


@dataclass
class Recorder:
    seen: list[tuple[str, Transition, str]] = field(default_factory=list)

    def __call__(self, service: str, transition: Transition, actor: str) -> None:
        self.seen.append((service, transition, actor))

    def edges(self) -> list[tuple[str, str, str]]:
        return [(t.from_state, t.to_state, actor) for _, t, actor in self.seen]


def in_parallel(count: int, work) -> list:
    """Run work(i) on `count` threads released together."""
    start = threading.Barrier(count)

    def run(i):
        start.wait()
        return work(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


class StoreContract:
    """What every store must do; subclasses provide `store` (a fresh handle on shared state each call)."""

    @pytest.fixture
    def store(self):
        raise NotImplementedError

    def breakers(self, store, config: BreakerConfig, clock: ManualClock, recorder: Recorder | None = None) -> Breakers:
        return Breakers(store, lambda _service: config, clock=clock, on_transition=recorder)

    # --- the store itself ------------------------------------------------------------------

    def test_unknown_service_loads_closed_without_version(self, store):
        assert store.load("nobody") == (BreakerState(), None)

    def test_first_write_wins_once(self, store):
        opened = BreakerState(state="open", opened_at=1.0)
        assert store.compare_and_set("search", None, opened, T0)
        assert not store.compare_and_set("search", None, BreakerState(), T0)
        assert store.load("search")[0] == opened

    def test_current_version_wins_and_stale_version_loses(self, store):
        store.compare_and_set("search", None, BreakerState(failures=(1.0,)), T0)
        _, first = store.load("search")
        assert store.compare_and_set("search", first, BreakerState(failures=(1.0, 2.0)), T0)
        state, second = store.load("search")
        assert second != first and state == BreakerState(failures=(1.0, 2.0))
        assert not store.compare_and_set("search", first, BreakerState(state="open", opened_at=3.0), T0)
        assert store.load("search") == (state, second)

    def test_compare_and_set_on_a_missing_record_loses(self, store):
        assert not store.compare_and_set("search", 1, BreakerState(), T0)
        assert store.load("search") == (BreakerState(), None)

    def test_all_lists_every_service_and_delete_forgets_one(self, store):
        services = {"search": BreakerState(), "pay:v2*": BreakerState(state="forced_open", opened_at=2.0),
                    "mail[eu]": BreakerState(failures=(1.0,))}
        for service, state in services.items():
            store.compare_and_set(service, None, state, T0)
        assert store.all() == services
        store.delete("pay:v2*")
        store.delete("never-stored")
        assert store.all() == {k: v for k, v in services.items() if k != "pay:v2*"}
        assert store.load("pay:v2*") == (BreakerState(), None)

    def test_deleted_record_can_be_created_again(self, store):
        store.compare_and_set("search", None, BreakerState(state="open", opened_at=1.0), T0)
        store.delete("search")
        assert store.compare_and_set("search", None, BreakerState(failures=(5.0,)), T0)
        assert store.load("search")[0] == BreakerState(failures=(5.0,))

    # --- breakers on the store, from many threads ------------------------------------------

    def test_concurrent_failures_are_all_counted(self, store):
        config = BreakerConfig(mode="count", failure_threshold=THREADS * CALLS_PER_THREAD + 1, window_s=3600)
        breakers = self.breakers(store, config, ManualClock(T0))

        def fail(_):
            for _ in range(CALLS_PER_THREAD):
                assert breakers.acquire("search").allowed
                breakers.record_failure("search", probe=False)

        in_parallel(THREADS, fail)
        state = breakers.status("search")
        assert state.state == "closed" and len(state.failures) == THREADS * CALLS_PER_THREAD

    def test_concurrent_failures_open_it_exactly_once(self, store):
        recorder = Recorder()
        breakers = self.breakers(store, BreakerConfig(mode="count", failure_threshold=100, window_s=3600),
                                 ManualClock(T0), recorder)
        in_parallel(THREADS,
                    lambda _: [breakers.record_failure("search", probe=False) for _ in range(CALLS_PER_THREAD)])
        assert breakers.status("search") == BreakerState(state="open", opened_at=T0.timestamp())
        assert recorder.edges() == [("closed", "open", "breaker")]

    def test_concurrent_successes_and_failures_are_all_counted_in_rate_mode(self, store):
        calls = THREADS * CALLS_PER_THREAD
        config = BreakerConfig(mode="rate", minimum_calls=calls, window_calls=calls, failure_rate_threshold=100,
                               window_s=3600)
        breakers = self.breakers(store, config, ManualClock(T0))
        breakers.record_failure("search", probe=False)  # on record: successes count from here

        def call(i):
            for n in range(CALLS_PER_THREAD - (1 if i == 0 else 0)):
                assert breakers.acquire("search").allowed
                if (i + n) % 2:
                    breakers.record_failure("search", probe=False)
                else:
                    breakers.record_success("search", probe=False)

        in_parallel(THREADS, call)
        state = breakers.status("search")
        assert state.state == "closed" and len(state.calls) == calls
        assert sum(1 for _, failed in state.calls if failed) == 1 + sum(
            1 for i in range(THREADS) for n in range(CALLS_PER_THREAD - (1 if i == 0 else 0)) if (i + n) % 2)

    def test_concurrent_rate_failures_open_it_exactly_once(self, store):
        recorder = Recorder()
        config = BreakerConfig(mode="rate", minimum_calls=50, window_calls=100, failure_rate_threshold=50)
        breakers = self.breakers(store, config, ManualClock(T0), recorder)
        in_parallel(THREADS, lambda _: [breakers.record_failure("search", probe=False)
                                        for _ in range(CALLS_PER_THREAD)])
        assert breakers.status("search") == BreakerState(state="open", opened_at=T0.timestamp())
        assert recorder.edges() == [("closed", "open", "breaker")]

    @pytest.mark.parametrize("max_probes", [1, 3])
    def test_half_open_permits_exactly_max_probes_at_once(self, store, max_probes):
        clock, recorder = ManualClock(T0), Recorder()
        config = BreakerConfig(mode="count", failure_threshold=1, recovery_timeout_s=30, half_open_max_calls=max_probes)
        breakers = self.breakers(store, config, clock, recorder)
        breakers.record_failure("search", probe=False)
        clock.advance(30)
        permits = in_parallel(THREADS * 2, lambda _: breakers.acquire("search"))
        lease_end_s = T0.timestamp() + 60
        assert sorted(permits, key=lambda p: p.allowed) == [Permit(False, lease_end_s)] * (THREADS * 2 - max_probes) + \
            [Permit(True, probe=True)] * max_probes
        assert breakers.status("search").half_open_calls == max_probes
        assert recorder.edges() == [("closed", "open", "breaker"), ("open", "half_open", "breaker")]

    # --- a breaker's life through the service ----------------------------------------------

    def test_open_refuses_until_timeout_then_probes_close_it(self, store):
        clock, recorder = ManualClock(T0), Recorder()
        config = BreakerConfig(mode="count", failure_threshold=2, recovery_timeout_s=30, success_threshold=2)
        breakers = self.breakers(store, config, clock, recorder)
        breakers.record_failure("search", probe=False)
        breakers.record_failure("search", probe=False)
        assert breakers.acquire("search") == Permit(False, T0.timestamp() + 30)
        clock.advance(30)
        assert breakers.status("search").state == "half_open"
        for _ in range(2):
            permit = breakers.acquire("search")
            assert permit == Permit(True, probe=True)
            breakers.record_success("search", probe=permit.probe)
        assert breakers.status("search") == BreakerState()
        assert recorder.edges() == [("closed", "open", "breaker"), ("open", "half_open", "breaker"),
                                    ("half_open", "closed", "breaker")]

    def test_released_probe_frees_its_slot(self, store):
        clock = ManualClock(T0)
        breakers = self.breakers(store, BreakerConfig(mode="count", failure_threshold=1, recovery_timeout_s=1), clock)
        breakers.record_failure("search", probe=False)
        clock.advance(1)
        assert breakers.acquire("search").probe
        assert not breakers.acquire("search").allowed
        breakers.release("search", probe=True)
        assert breakers.acquire("search").probe

    def test_probe_slots_of_dead_workers_are_reclaimed_after_a_lease(self, store):
        clock = ManualClock(T0)
        breakers = self.breakers(store, BreakerConfig(mode="count", failure_threshold=1, recovery_timeout_s=30), clock)
        breakers.record_failure("search", probe=False)
        clock.advance(30)
        assert breakers.acquire("search").probe  # its worker dies: no outcome, no release
        clock.advance(29)
        assert breakers.acquire("search") == Permit(False, T0.timestamp() + 60)
        clock.advance(1)
        assert breakers.acquire("search") == Permit(True, probe=True)
        breakers.record_success("search", probe=True)
        assert breakers.status("search") == BreakerState()

    def test_operators_force_open_close_and_reset(self, store):
        recorder = Recorder()
        breakers = self.breakers(store, BreakerConfig(), ManualClock(T0), recorder)
        breakers.force_open("search", actor="ops:ann")
        breakers.force_open("search", actor="ops:ann")
        assert breakers.acquire("search") == Permit(False)
        breakers.close("search", actor="ops:bob")
        assert breakers.acquire("search") == Permit(True)
        breakers.force_open("search", actor="ops:ann")
        breakers.reset("search", actor="ops:cid")
        breakers.reset("search", actor="ops:cid")
        assert store.load("search") == (BreakerState(), None)
        assert recorder.edges() == [("closed", "forced_open", "ops:ann"), ("forced_open", "closed", "ops:bob"),
                                    ("closed", "forced_open", "ops:ann"), ("forced_open", "closed", "ops:cid")]

    def test_closed_calls_write_nothing(self, store):
        breakers = self.breakers(store, BreakerConfig(), ManualClock(T0))
        assert breakers.acquire("search") == Permit(True)
        breakers.record_success("search", probe=False)
        assert store.load("search") == (BreakerState(), None)

    def test_snapshot_shows_every_breaker_as_of_now(self, store):
        clock = ManualClock(T0)
        config = BreakerConfig(mode="count", failure_threshold=1, window_s=10, recovery_timeout_s=30)
        breakers = self.breakers(store, config, clock)
        breakers.record_failure("search", probe=False)
        breakers.force_open("pay", actor="ops")
        clock.advance(30)
        assert {service: state.state for service, state in breakers.snapshot().items()} == {
            "pay": "forced_open", "search": "half_open"}

    def test_failing_listener_does_not_undo_the_transition(self, store):
        def broken(*_):
            raise RuntimeError("listener down")

        breakers = Breakers(store, lambda _: BreakerConfig(mode="count", failure_threshold=1), clock=ManualClock(T0),
                            on_transition=broken)
        breakers.record_failure("search", probe=False)
        assert breakers.status("search").state == "open"


class TestRedisStore(StoreContract):
    @pytest.fixture
    def store(self, redis_url):
        client = redis.Redis.from_url(redis_url)
        yield RedisBreakerStore(client)
        client.close()

    def test_keys_live_under_the_prefix(self, redis_url):
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        RedisBreakerStore(client, prefix="other:").compare_and_set("search", None, BreakerState(), T0)
        assert [key for key in client.keys("*") if key != redisdb.CLAIM_KEY] == ["other:search"]
        assert RedisBreakerStore(client).all() == {}
        assert RedisBreakerStore(client, prefix="other:").all() == {"search": BreakerState()}


class TestSqlStore(StoreContract):
    @pytest.fixture
    def store(self, database_url):
        return SqlBreakerStore(session_factory(database_url))


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self):
        return MemoryBreakerStore()


def test_settings_choose_redis_or_the_database(redis_url, sqlite_url, tmp_path):
    sessions = session_factory(sqlite_url)
    on_redis = Settings(breaker_store="redis", breaker_redis_url=redis_url, data_dir=tmp_path)
    on_db = Settings(breaker_store="database", data_dir=tmp_path)
    assert isinstance(breakers_from_settings(on_redis, sessions, lambda _: BreakerConfig()).store, RedisBreakerStore)
    assert isinstance(breakers_from_settings(on_db, sessions, lambda _: BreakerConfig()).store, SqlBreakerStore)
