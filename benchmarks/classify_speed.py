"""Classification speed: microseconds per event for Classifier.classify, and for the whole triage.

    python -m benchmarks.classify_speed [--rounds 2000] [--stream 100000] [--json PATH]

(a) The labelled sample events (classify_cases.jsonl), validated once, each classified
    `--rounds` times; every call timed on its own with time.perf_counter_ns. The first pass on
    a freshly built classifier (empty type-name cache) is reported separately as "cold".
(b) A synthetic stream of `--stream` events from a seeded random.Random: templates covering every
    category of the taxonomy (many libraries' types and MROs, cause chains and wrappers, HTTP
    statuses, errno, SQLSTATE and cloud codes, numbers, ids and addresses varied in messages,
    unknown types, some unique). Timed per call: Classifier.classify on the validated event, then
    - on the same stream, with a fresh classifier - the whole workers.intake.triage (validation,
    masking, classification, fingerprint) on the raw payload, for context.

Target: median classification under 50 µs.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from benchmarks.common import (
    argument_parser,
    load_cases,
    median,
    parse,
    percentile,
    samples_path,
    start_run,
    table,
    write_json,
)

TARGET_MEDIAN_US = 50.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argument_parser("classify_speed", __doc__)
    parser.add_argument("--rounds", type=int, default=2000, help="passes over the sample events (default 2000)")
    parser.add_argument("--stream", type=int, default=100_000, help="synthetic events (default 100000)")
    parser.add_argument("--blocks", type=int, default=10,
                        help="report the median of each of this many consecutive blocks too (default 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-triage", action="store_true", help="skip the full-triage pass over the stream")
    return parse(parser, argv)


# ----------------------------------------------------------------------------- synthetic stream

_BUILTIN = ["Exception", "BaseException"]
_OSERROR = ["OSError", *_BUILTIN]
_REQUESTS = ["requests.exceptions.RequestException", "OSError", *_BUILTIN]
_HTTPX = ["httpx.HTTPError", *_BUILTIN]
_PSYCOPG = ["psycopg.errors.DatabaseError", "psycopg.Error", *_BUILTIN]
_BOTO = ["botocore.exceptions.BotoCoreError", *_BUILTIN]
_REDIS = ["redis.exceptions.RedisError", *_BUILTIN]
_SQLA = ["sqlalchemy.exc.SQLAlchemyError", *_BUILTIN]


@dataclass(frozen=True)
class Template:
    category: str  # what the template is meant to be: for the coverage table, not a test
    error_type: str
    bases: list[str]  # error_mro
    message: str  # str.format fields: see _fill
    http_status: int | None = None
    errno: str | int | None = None
    code: str | None = None
    causes: list[tuple[str, str]] = field(default_factory=list)


def _boto(code: str, operation: str, text: str, status: int) -> Template:
    return Template("", "botocore.exceptions.ClientError", ["botocore.exceptions.ClientError", *_BOTO],
                    f"An error occurred ({code}) when calling the {operation} operation: {text}", status, code=code)


def _with(template: Template, category: str) -> Template:
    return Template(category, template.error_type, template.bases, template.message, template.http_status,
                    template.errno, template.code, template.causes)


TEMPLATES: list[Template] = [
    # network
    Template("network", "requests.exceptions.ConnectionError", _REQUESTS,
             "HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded with url: /v1/orders/{n} (Caused by "
             "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x{hex}>: Failed to establish a new "
             "connection: [Errno 111] Connection refused'))",
             causes=[("urllib3.exceptions.MaxRetryError",
                      "HTTPSConnectionPool(host='{host}', port=443): Max retries exceeded"),
                     ("urllib3.exceptions.NewConnectionError",
                      "Failed to establish a new connection: [Errno 111] Connection refused"),
                     ("ConnectionRefusedError", "[Errno 111] Connection refused")]),
    Template("network", "ConnectionResetError", ["ConnectionError", *_OSERROR], "[Errno 104] Connection reset by peer",
             errno="ECONNRESET"),
    Template("network", "socket.gaierror", _OSERROR, "[Errno -2] Name or service not known"),
    Template("network", "redis.exceptions.ConnectionError", _REDIS,
             "Error 111 connecting to {host}:6379. Connection refused."),
    Template("network", "aiohttp.client_exceptions.ClientConnectorError",
             ["aiohttp.client_exceptions.ClientOSError", "aiohttp.client_exceptions.ClientConnectionError",
              "aiohttp.client_exceptions.ClientError", *_OSERROR],
             "Cannot connect to host {host}:443 ssl:default [Connect call failed ('{ip}', 443)]"),
    Template("network", "BrokenPipeError", ["ConnectionError", *_OSERROR], "[Errno 32] Broken pipe", errno=32),
    # timeout
    Template("timeout", "httpx.ReadTimeout", ["httpx.TimeoutException", "httpx.TransportError", *_HTTPX], "timed out",
             causes=[("httpcore.ReadTimeout", "timed out"), ("TimeoutError", "timed out")]),
    Template("timeout", "requests.exceptions.ReadTimeout",
             ["requests.exceptions.Timeout", *_REQUESTS],
             "HTTPSConnectionPool(host='{host}', port=443): Read timed out. (read timeout={small})"),
    Template("timeout", "psycopg.errors.QueryCanceled", ["psycopg.errors.OperationalError", *_PSYCOPG],
             "canceling statement due to statement timeout", code="57014"),
    Template("timeout", "celery.exceptions.SoftTimeLimitExceeded", ["celery.exceptions.CeleryError", *_BUILTIN],
             "SoftTimeLimitExceeded()"),
    Template("timeout", "app.clients.UpstreamError", ["app.errors.AppError", *_BUILTIN], "upstream {host} answered 504",
             http_status=504),
    Template("timeout", "TimeoutError", _OSERROR, "[Errno 110] Connection timed out", errno="ETIMEDOUT"),
    # rate_limit
    Template("rate_limit", "requests.exceptions.HTTPError", _REQUESTS,
             "429 Client Error: Too Many Requests for url: https://api.github.com/repos/acme/app/commits?page={small}",
             http_status=429),
    _with(_boto("ThrottlingException", "PutItem", "Rate of requests exceeds the allowed throughput.", 400),
          "rate_limit"),
    Template("rate_limit", "stripe.error.RateLimitError", ["stripe.error.StripeError", *_BUILTIN],
             "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
             http_status=429),
    Template("rate_limit", "app.sync.SyncFailed", ["app.errors.AppError", *_BUILTIN], "could not sync account {n}",
             causes=[("requests.exceptions.HTTPError",
                      "429 Client Error: Too Many Requests for url: https://{host}/v2/items")]),
    # unavailable
    Template("unavailable", "httpx.HTTPStatusError", _HTTPX,
             "Server error '503 Service Unavailable' for url 'https://{host}/v1/quotes/{n}'", http_status=503),
    Template("unavailable", "redis.exceptions.BusyLoadingError", ["redis.exceptions.ConnectionError", *_REDIS],
             "Redis is loading the dataset in memory"),
    Template("unavailable", "psycopg.OperationalError", _PSYCOPG,
             'connection failed: connection to server at "{ip}", port 5432 failed: '
             'FATAL:  sorry, too many clients already',
             code="53300"),
    _with(_boto("ServiceUnavailable", "PutRecord", "Service is unable to handle request.", 503), "unavailable"),
    Template("unavailable", "pybreaker.CircuitBreakerError", _BUILTIN,
             "Failures threshold reached, circuit breaker opened"),
    # conflict
    Template("conflict", "psycopg.errors.DeadlockDetected", ["psycopg.errors.OperationalError", *_PSYCOPG],
             "deadlock detected\nDETAIL:  Process {n} waits for ShareLock on transaction {n}; blocked by process {n}.",
             code="40P01"),
    Template("conflict", "psycopg.errors.SerializationFailure", ["psycopg.errors.OperationalError", *_PSYCOPG],
             "could not serialize access due to concurrent update", code="40001"),
    Template("conflict", "sqlalchemy.orm.exc.StaleDataError", _SQLA,
             "UPDATE statement on table 'orders' expected to update 1 row(s); 0 were matched."),
    Template("conflict", "redis.exceptions.WatchError", _REDIS, "Watched variable changed."),
    Template("conflict", "psycopg.errors.LockNotAvailable", ["psycopg.errors.OperationalError", *_PSYCOPG],
             'could not obtain lock on row in relation "orders"', code="55P03"),
    # auth
    Template("auth", "requests.exceptions.HTTPError", _REQUESTS,
             "401 Client Error: Unauthorized for url: https://{host}/v1/me", http_status=401),
    Template("auth", "httpx.HTTPStatusError", _HTTPX, "Client error '403 Forbidden' for url 'https://{host}/admin/{n}'",
             http_status=403),
    Template("auth", "psycopg.OperationalError", _PSYCOPG,
             'connection failed: FATAL:  password authentication failed for user "app"', code="28P01"),
    Template("auth", "PermissionError", _OSERROR, "[Errno 13] Permission denied: '/var/lib/exports/{n}.csv'",
             errno="EACCES"),
    _with(_boto("AccessDenied", "GetObject", "Access Denied", 403), "auth"),
    Template("auth", "jwt.exceptions.ExpiredSignatureError", ["jwt.exceptions.InvalidTokenError", *_BUILTIN],
             "Signature has expired"),
    # validation
    Template("validation", "pydantic_core._pydantic_core.ValidationError", ["ValueError", *_BUILTIN],
             "1 validation error for Order\namount\n  Input should be greater than 0 [type=greater_than, "
             "input_value=-{n}, input_type=int]"),
    Template("validation", "requests.exceptions.HTTPError", _REQUESTS,
             "400 Client Error: Bad Request for url: https://{host}/v1/orders", http_status=400),
    Template("validation", "httpx.HTTPStatusError", _HTTPX,
             "Client error '422 Unprocessable Entity' for url 'https://{host}/v1/orders/{n}'", http_status=422),
    Template("validation", "redis.exceptions.ResponseError", _REDIS, "value is not an integer or out of range"),
    # not_found
    Template("not_found", "urllib.error.HTTPError", ["urllib.error.URLError", *_OSERROR], "HTTP Error 404: Not Found",
             http_status=404),
    Template("not_found", "FileNotFoundError", _OSERROR, "[Errno 2] No such file or directory: '/srv/exports/{n}.csv'",
             errno="ENOENT"),
    _with(_boto("NoSuchKey", "GetObject", "The specified key does not exist.", 404), "not_found"),
    Template("not_found", "sqlalchemy.orm.exc.NoResultFound", ["sqlalchemy.exc.InvalidRequestError", *_SQLA],
             "No row was found when one was required"),
    Template("not_found", "shop.models.Order.DoesNotExist", ["django.core.exceptions.ObjectDoesNotExist", *_BUILTIN],
             "Order matching query does not exist."),
    # data
    Template("data", "psycopg.errors.UniqueViolation", ["psycopg.errors.IntegrityError", *_PSYCOPG],
             'duplicate key value violates unique constraint "orders_pkey"\nDETAIL:  Key (id)=({n}) already exists.',
             code="23505"),
    Template("data", "psycopg.errors.ForeignKeyViolation", ["psycopg.errors.IntegrityError", *_PSYCOPG],
             'insert or update on table "lines" violates foreign key constraint "lines_order_id_fkey"', code="23503"),
    Template("data", "UnicodeDecodeError", ["UnicodeError", "ValueError", *_BUILTIN],
             "'utf-8' codec can't decode byte 0xe9 in position {small}: invalid continuation byte"),
    Template("data", "zlib.error", _BUILTIN, "Error -3 while decompressing data: incorrect header check"),
    Template("data", "gzip.BadGzipFile", _OSERROR, "Not a gzipped file (b'{word}')"),
    # resource
    Template("resource", "OSError", _BUILTIN, "[Errno 28] No space left on device: '/var/tmp/{n}.part'",
             errno="ENOSPC"),
    Template("resource", "MemoryError", _BUILTIN, ""),
    Template("resource", "OSError", _BUILTIN, "[Errno 24] Too many open files", errno=24),
    Template("resource", "requests.exceptions.HTTPError", _REQUESTS,
             "507 Server Error: Insufficient Storage for url: https://{host}/dav/{n}", http_status=507),
    Template("resource", "psycopg.errors.DiskFull", ["psycopg.errors.OperationalError", *_PSYCOPG],
             "could not extend file \"base/16384/{n}\": No space left on device", code="53100"),
    # configuration
    Template("configuration", "django.core.exceptions.ImproperlyConfigured", _BUILTIN,
             "The SECRET_KEY setting must not be empty."),
    Template("configuration", "ModuleNotFoundError", ["ImportError", *_BUILTIN],
             "No module named 'acme_plugin_{word}'"),
    Template("configuration", "psycopg.OperationalError", _PSYCOPG,
             'connection failed: FATAL:  database "reports_{word}" does not exist', code="3D000"),
    # internal
    Template("internal", "TypeError", _BUILTIN, "unsupported operand type(s) for +: 'int' and 'str'"),
    Template("internal", "AttributeError", _BUILTIN, "'NoneType' object has no attribute 'customer_id'"),
    Template("internal", "KeyError", ["LookupError", *_BUILTIN], "'customer_{small}'"),
    Template("internal", "ZeroDivisionError", ["ArithmeticError", *_BUILTIN], "division by zero"),
    Template("internal", "IndexError", ["LookupError", *_BUILTIN], "list index out of range"),
    Template("internal", "psycopg.errors.SyntaxError", ["psycopg.errors.ProgrammingError", *_PSYCOPG],
             'syntax error at or near "FROM"\nLINE 1: SELECT id, FROM orders WHERE id = {n}', code="42601"),
]
UNKNOWN_SHARE = 0.06  # events of a type no rule knows
UNIQUE_UNKNOWN_SHARE = 0.3  # of those, a type name never seen before (misses the type-name cache)
WRAP_SHARE = 0.15  # events reported as an app wrapper, the real error as a cause
_WORDS = ["alpha", "ledger", "quota", "orders", "billing", "sync", "north", "delta", "kappa", "omega"]
_SERVICES = ["partner-api", "orders-db", "github", "stripe", "s3", "redis-cache", "smtp", "search", "billing-api"]
_OPERATIONS = [None, "push_order", "settle", "fetch_commits", "charge", "put_object", "send_mail", "reindex"]


def _fill(text: str, rng: random.Random) -> str:
    if "{" not in text:
        return text
    return text.format_map(_Fields(rng))


class _Fields(dict):
    def __init__(self, rng: random.Random):
        super().__init__()
        self.rng = rng

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "n":
            return str(rng.randrange(1, 10 ** rng.randrange(2, 9)))
        if key == "small":
            return str(rng.randrange(1, 100))
        if key == "hex":
            return f"{rng.getrandbits(48):012x}"
        if key == "ip":
            return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if key == "host":
            return f"{rng.choice(_WORDS)}-{rng.randrange(1, 40)}.internal.example"
        if key == "word":
            return rng.choice(_WORDS) + str(rng.randrange(100))
        raise KeyError(key)


def synthetic_stream(count: int, seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(template category, raw event) pairs; the same seed gives the same stream."""
    rng = random.Random(seed)
    for _ in range(count):
        if rng.random() < UNKNOWN_SHARE:
            yield "unknown", _unknown_event(rng)
            continue
        template = rng.choice(TEMPLATES)
        event: dict[str, Any] = {"error_type": template.error_type, "error_mro": list(template.bases),
                                 "message": _fill(template.message, rng), "service": rng.choice(_SERVICES)}
        operation = rng.choice(_OPERATIONS)
        if operation:
            event["operation"] = operation
        for name in ("http_status", "errno", "code"):
            value = getattr(template, name)
            if value is not None:
                event[name] = value
        causes = [{"error_type": t, "message": _fill(m, rng)} for t, m in template.causes]
        if rng.random() < WRAP_SHARE:
            causes = [{"error_type": event["error_type"], "message": event["message"]}, *causes]
            event.update(error_type=f"app.{rng.choice(_WORDS)}.SyncFailed",
                         error_mro=["app.errors.AppError", *_BUILTIN],
                         message=f"could not sync {rng.choice(_WORDS)} {rng.randrange(10**6)}")
        if causes:
            event["causes"] = causes
        yield template.category, event


def _unknown_event(rng: random.Random) -> dict[str, Any]:
    module = rng.choice(_WORDS)
    if rng.random() < UNIQUE_UNKNOWN_SHARE:
        name = f"acme.{module}.Glitch{rng.getrandbits(40):x}"
    else:
        name = f"acme.{module}.{rng.choice(['Ledger', 'Widget', 'Flux', 'Gadget'])}Glitch"
    return {"error_type": name, "error_mro": ["acme.errors.AcmeError", *_BUILTIN], "service": rng.choice(_SERVICES),
            "message": f"{module} state {rng.randrange(10**6)} is inconsistent with batch {rng.randrange(10**4)}"}


# ----------------------------------------------------------------------------- timing


def stats_us(values_ns: list[int]) -> dict[str, float]:
    ordered = sorted(values_ns)
    return {"calls": len(ordered), "median_us": median(ordered) / 1000, "p90_us": percentile(ordered, 0.90) / 1000,
            "p99_us": percentile(ordered, 0.99) / 1000, "p999_us": percentile(ordered, 0.999) / 1000,
            "max_us": ordered[-1] / 1000, "mean_us": sum(ordered) / len(ordered) / 1000}


def timer_overhead_ns() -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(20_000):
        t0 = clock()
        samples.append(clock() - t0)
    return median(samples)


def time_calls(function: Callable[[Any], Any], items: list[Any]) -> list[int]:
    clock = time.perf_counter_ns
    out = []
    append = out.append
    for item in items:
        t0 = clock()
        function(item)
        append(clock() - t0)
    return out


def block_medians(values_ns: list[int], blocks: int) -> list[float]:
    """Median (µs) of each of `blocks` consecutive slices: shows drift and machine noise within a run."""
    size = max(1, len(values_ns) // blocks)
    return [median(sorted(values_ns[i:i + size])) / 1000
            for i in range(0, size * blocks, size) if values_ns[i:i + size]]


def bench_samples(rounds: int, blocks: int) -> dict[str, Any]:
    from workers.classification import Classifier
    from workers.intake.contract import ErrorEvent

    cases = load_cases()
    events = [ErrorEvent.model_validate(case["event"]) for case in cases]
    started = time.perf_counter()
    classifier = Classifier.from_files()
    build_ms = (time.perf_counter() - started) * 1000
    cold = time_calls(classifier.classify, events)
    warm: list[int] = []
    per_case: list[list[int]] = [[] for _ in events]
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for position, event in enumerate(events):
            t0 = clock()
            classifier.classify(event)
            elapsed = clock() - t0
            warm.append(elapsed)
            per_case[position].append(elapsed)
    slowest = sorted(((median(times) / 1000, cases[i]["id"], classifier.classify(events[i]).rule)
                      for i, times in enumerate(per_case)), reverse=True)[:5]
    return {"cases": len(cases), "rules": len(classifier.rules), "categories": len(classifier.categories),
            "build_ms": build_ms, "cold": stats_us(cold), "warm": stats_us(warm),
            "warm_block_medians_us": block_medians(warm, blocks),
            "per_case_median_us": {cases[i]["id"]: median(times) / 1000 for i, times in enumerate(per_case)},
            "slowest_cases": [{"case": c, "rule": r, "median_us": m} for m, c, r in slowest]}


def bench_stream(count: int, seed: int, with_triage: bool, blocks: int) -> dict[str, Any]:
    from config.settings import load_settings
    from workers.classification import Classifier
    from workers.intake.contract import ErrorEvent
    from workers.intake.triage import Accepted, Limits, triage

    labels, validated = [], []
    for label, raw in synthetic_stream(count, seed):
        labels.append(label)
        validated.append(ErrorEvent.model_validate(raw))
    classifier = Classifier.from_files()
    clock = time.perf_counter_ns
    times, results = [], []
    for event in validated:
        t0 = clock()
        result = classifier.classify(event)
        times.append(clock() - t0)
        results.append(result.category)
    del validated
    by_template = Counter(labels)
    by_result = Counter(results)
    agree = sum(1 for a, b in zip(labels, results, strict=True) if a == b)
    out: dict[str, Any] = {"events": count, "seed": seed, "templates": len(TEMPLATES), "classify": stats_us(times),
                           "classify_block_medians_us": block_medians(times, blocks),
                           "template_categories": dict(by_template), "classified_categories": dict(by_result),
                           "agreement_with_template_label": agree / count}
    if with_triage:
        limits = Limits.from_settings(load_settings(database_url="sqlite://"))
        fresh = Classifier.from_files()
        received_at = datetime.now(UTC)
        triage_times, rejected = [], 0
        for _, raw in synthetic_stream(count, seed):
            t0 = clock()
            decision = triage(raw, limits=limits, classifier=fresh, received_at=received_at)
            triage_times.append(clock() - t0)
            rejected += not isinstance(decision, Accepted)
        out["triage"] = stats_us(triage_times)
        out["triage_block_medians_us"] = block_medians(triage_times, blocks)
        out["triage_rejected"] = rejected
    return out


# ----------------------------------------------------------------------------- report


def print_report(result: dict[str, Any]) -> None:
    samples, stream = result["samples"], result["stream"]
    print()
    print(f"rules loaded: {samples['rules']} (built-in files), categories: {samples['categories']}; "
          f"building the classifier (load + compile): {samples['build_ms']:.0f} ms; "
          f"timer overhead per measurement: {result['timer_overhead_ns']:.0f} ns (included below)")
    rows = [
        [f"samples, cold first pass ({samples['cases']} events)", *_cells(samples["cold"])],
        [f"samples, {result['config']['rounds']:,} rounds", *_cells(samples["warm"])],
        [f"synthetic stream, classify ({stream['events']:,})", *_cells(stream["classify"])],
    ]
    if "triage" in stream:
        rows.append([f"synthetic stream, full triage ({stream['events']:,})", *_cells(stream["triage"])])
    print()
    print(table(["per event", "calls", "median µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs", "mean µs"], rows,
                title="Classification speed, one process, time.perf_counter_ns around each call"))
    print()
    rounds_per_block = result["config"]["rounds"] // len(samples["warm_block_medians_us"])
    rows = [[f"samples ({samples['cases']} events x {rounds_per_block:,} rounds)",
             *_spread(samples["warm_block_medians_us"])],
            ["synthetic stream, classify", *_spread(stream["classify_block_medians_us"])]]
    if "triage" in stream:
        rows.append(["synthetic stream, full triage", *_spread(stream["triage_block_medians_us"])])
    print(table(["median of each consecutive block", "blocks", "lowest µs", "median µs", "highest µs"], rows,
                title="Run-to-run noise: the same measurement cut into consecutive blocks"))
    print(f"other load on the machine meanwhile: {result['other_load_cores']:.2f} cores "
          f"(busy time not spent by this process)")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"\nmedian classification: {samples['warm']['median_us']:.1f} µs on the samples, "
          f"{stream['classify']['median_us']:.1f} µs on the synthetic stream "
          f"({verdict} the < {TARGET_MEDIAN_US:.0f} µs target).")
    print()
    print(table(["slowest sample cases", "deciding rule", "median µs"],
                [[c["case"], c["rule"], c["median_us"]] for c in samples["slowest_cases"]]))
    print()
    categories = sorted(set(stream["template_categories"]) | set(stream["classified_categories"]))
    print(table(["category", "events by template", "classified as"],
                [[c, stream["template_categories"].get(c, 0), stream["classified_categories"].get(c, 0)]
                 for c in categories],
                title=f"Synthetic stream: {stream['templates']} templates + unknown types, seed {stream['seed']}"))
    print(f"(coverage, not an accuracy test: {100 * stream['agreement_with_template_label']:.1f}% of events got their "
          f"template's intended category)")
    if stream.get("triage_rejected"):
        print(f"warning: {stream['triage_rejected']} synthetic events were rejected by triage")


def _spread(values: list[float]) -> list[Any]:
    return [len(values), min(values), median(values), max(values)]


class BusyMeter:
    """CPU time the rest of the machine used while this process ran (from /proc/stat and /proc/self/stat)."""

    def __init__(self):
        self._start = self._read()

    @staticmethod
    def _read() -> tuple[int, int, float]:
        with open("/proc/stat") as stat:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in stat.readline().split()[1:9])
        times = os.times()
        return user + nice + system + irq + softirq, user + nice + system + idle + iowait + irq + softirq + steal, \
            times.user + times.system

    def other_cores(self) -> float:
        busy0, total0, own0 = self._start
        busy1, total1, own1 = self._read()
        ticks = os.sysconf("SC_CLK_TCK")
        cores = os.cpu_count() or 1
        wall_s = (total1 - total0) / ticks / cores
        return max(0.0, ((busy1 - busy0) / ticks - (own1 - own0)) / wall_s) if wall_s else 0.0


def _cells(stats: dict[str, float]) -> list[Any]:
    return [stats["calls"], stats["median_us"], stats["p90_us"], stats["p99_us"], stats["p999_us"], stats["max_us"],
            stats["mean_us"]]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    info = start_run()
    print(f"samples: {samples_path()}", flush=True)
    overhead = timer_overhead_ns()
    busy = BusyMeter()
    samples = bench_samples(args.rounds, args.blocks)
    gc.collect()
    stream = bench_stream(args.stream, args.seed, not args.no_triage, args.blocks)
    other_load = busy.other_cores()
    result = {"benchmark": "classify_speed", "machine": info,
              "config": {"rounds": args.rounds, "stream": args.stream, "seed": args.seed},
              "timer_overhead_ns": overhead, "samples": samples, "stream": stream, "other_load_cores": other_load,
              "meets_target": samples["warm"]["median_us"] < TARGET_MEDIAN_US
              and stream["classify"]["median_us"] < TARGET_MEDIAN_US}
    print_report(result)
    write_json(args.json, result)


if __name__ == "__main__":
    main()
