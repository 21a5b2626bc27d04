"""Stage profile of intake, in one process: how long each step of an event takes.

Runs the same kind of events as the throughput benchmarks through the steps of
workers.intake.triage one by one (validate, mask, classify, fingerprint, serialise), through
`triage` itself as one call, and through storage (a session, store_accepted, its commit) against
a given database. Then, under cProfile, splits store_accepted's time into parts.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from datetime import UTC, datetime
from typing import Any

from benchmarks.common import Workload, median, percentile, table

STAGES = ["validate", "mask", "classify", "fingerprint", "serialise", "triage (one call)", "store"]
STORE_CPU = "store, CPU of this process"  # the rest of store's wall time is waiting for the database
TRIAGE_STEPS = ["validate", "mask", "classify", "fingerprint", "serialise"]
WARMUP_EVENTS = 100  # untimed: compile regexes, fill caches, open the connection pool
STORE_PROFILE_EVENTS = 300
# Where store_accepted's time goes: (file suffix, function name) whose cumulative time is summed.
STORE_PARTS = {
    "SQL compilation (SQLAlchemy)": [("sqlalchemy/sql/elements.py", "_compile_w_cache")],
    "driver execute (database round trips)": [("psycopg/cursor.py", "execute"),
                                              ("~", "<method 'execute' of 'sqlite3.Cursor' objects>")],
    "commit (its round trip and the WAL flush)": [("sqlalchemy/orm/session.py", "commit")],
}
REST = "building statements, ORM/Core execution overhead (the rest)"


def profile_stages(db_url: str, workload: Workload, count: int, tag: str) -> dict[str, Any]:
    """Microseconds per stage for `count` events against the database at db_url (already migrated)."""
    from config.settings import load_settings
    from workers import intake
    from workers.classification import Classifier
    from workers.intake.contract import ErrorEvent
    from workers.intake.fingerprint import fingerprint, normalise_message
    from workers.intake.store import store_accepted
    from workers.storage.db import guarded_session, session_factory

    limits = intake.Limits.from_settings(load_settings(database_url=db_url))
    classifier = Classifier.from_files()
    sessions = session_factory(db_url)
    timings: dict[str, list[float]] = {name: [] for name in [*STAGES, STORE_CPU]}
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for position, raw in enumerate(workload.events(count + WARMUP_EVENTS, tag=tag)):
        now = datetime.now(UTC)
        t0 = clock()
        assert intake._shape_problem(raw, limits) is None
        event = ErrorEvent.model_validate(raw)
        assert intake._context_problem(event, limits) is None
        t1 = clock()
        safe = intake._masked_and_capped(event, limits)
        t2 = clock()
        classifier.classify(safe)
        t3 = clock()
        fingerprint(safe.error_type, safe.message, safe.service, safe.operation)
        normalise_message(safe.message)
        t4 = clock()
        safe.model_dump(mode="json", exclude_none=True)
        t5 = clock()
        accepted = intake.triage(raw, limits=limits, classifier=classifier, received_at=now)
        c6, t6 = cpu_clock(), clock()
        with guarded_session(sessions) as session:
            stored = store_accepted(session, accepted, delivery_id=f"profile-{tag}-{position}", received_at=now)
        t7, c7 = clock(), cpu_clock()
        assert not stored.duplicate
        if position >= WARMUP_EVENTS:
            starts, ends = (t0, t1, t2, t3, t4, t5, t6), (t1, t2, t3, t4, t5, t6, t7)
            for name, start, end in zip(STAGES, starts, ends, strict=True):
                timings[name].append((end - start) / 1000)
            timings[STORE_CPU].append((c7 - c6) / 1000)
    stages = {}
    for name, values in timings.items():
        ordered = sorted(values)
        stages[name] = {"mean_us": sum(values) / len(values), "median_us": median(ordered),
                        "p99_us": percentile(ordered, 0.99)}
    sample = [intake.triage(raw, limits=limits, classifier=classifier, received_at=datetime.now(UTC))
              for raw in workload.events(min(STORE_PROFILE_EVENTS, count), tag=f"{tag}-cprofile")]
    return {"events": count, "database": db_url.split(":", 1)[0].split("+")[0], "stages": stages,
            "store_breakdown_events": len(sample), "store_breakdown": store_breakdown(sessions, sample, tag)}


def store_breakdown(sessions, accepted: list, tag: str) -> dict[str, float]:
    """Shares of store_accepted's time by part, under cProfile (it inflates Python code: shares only)."""
    from workers.intake.store import store_accepted
    from workers.storage.db import guarded_session

    profiler = cProfile.Profile()
    profiler.enable()
    for position, item in enumerate(accepted):
        with guarded_session(sessions) as session:
            store_accepted(session, item, delivery_id=f"cprofile-{tag}-{position}", received_at=datetime.now(UTC))
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, function): (cc, nc, tottime, cumtime, callers)}

    def cumulative(file_suffix: str, function: str) -> float:
        # The largest match: same-named functions of one file nest (Session.commit calls
        # SessionTransaction.commit), and the outer one's cumulative time includes the inner's.
        return max((v[3] for (file, _, name), v in stats.items() if file.endswith(file_suffix) and name == function),
                   default=0.0)

    total = cumulative("workers/intake/store.py", "store_accepted")
    shares = {part: sum(cumulative(f, fn) for f, fn in where) / total for part, where in STORE_PARTS.items()}
    shares[REST] = max(0.0, 1 - sum(shares.values()))
    return shares


def print_profile(profile: dict[str, Any]) -> None:
    stages = profile["stages"]
    rows = [[name, s["median_us"], s["mean_us"], s["p99_us"]] for name, s in stages.items()]
    print(table(["stage", "median µs", "mean µs", "p99 µs"], rows,
                title=f"Stage profile: {profile['events']:,} events in one process, "
                      f"same {profile['database']} database"))
    print("(validate+mask+classify+fingerprint+serialise are the steps of `triage`; 'triage (one call)' times the "
          "real call; store = session + store_accepted + commit, wall time; its CPU row is this thread's CPU time, "
          "the difference is waiting for the database.)")
    print()
    print(table(["part of store_accepted (share of its time under cProfile)", "share"],
                [[part, f"{100 * share:.0f}%"] for part, share in profile["store_breakdown"].items()],
                title=f"Store breakdown over {profile['store_breakdown_events']} events"))


def dominant_text(profile: dict[str, Any]) -> str:
    """One sentence: triage against store, the largest triage step, the largest part of store."""
    stages = profile["stages"]
    triage_us, store_us = stages["triage (one call)"]["mean_us"], stages["store"]["mean_us"]
    dominant = "the store step" if store_us > triage_us else "triage (pure Python)"
    steps = {k: stages[k]["mean_us"] for k in TRIAGE_STEPS}
    step = max(steps, key=steps.get)
    part, share = max(profile["store_breakdown"].items(), key=lambda item: item[1])
    store_cpu_us = stages[STORE_CPU]["mean_us"]
    return (f"in one process an event costs {triage_us:,.0f} µs of triage and {store_us:,.0f} µs of store (means); "
            f"{dominant} dominates with {100 * max(triage_us, store_us) / (triage_us + store_us):.0f}% of the two. "
            f"Of the store's {store_us:,.0f} µs, {store_cpu_us:,.0f} µs are Python CPU in this process "
            f"({100 * store_cpu_us / store_us:.0f}%), the rest waiting for the database. "
            f"The largest triage step is {step} ({steps[step]:,.0f} µs); inside store_accepted the largest part is "
            f"{part} ({100 * share:.0f}% under cProfile).")
