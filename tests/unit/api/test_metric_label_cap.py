"""Issue 12, item 14: label values chosen by event senders are capped on /metrics.

A sender names any `service` it likes; one series per service would let it grow Prometheus'
memory without bound. The top N services keep their name, the rest are summed under `other`.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from workers.api.prometheus import OTHER, breaker_family, top_labels


def samples(family) -> dict[tuple[str, str], float]:
    class Fixed:
        def collect(self):
            return [family]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())
    text = generate_latest(registry).decode()
    return {(s.labels["service"], s.labels["state"]): s.value
            for parsed in text_string_to_metric_families(text) for s in parsed.samples}


def test_the_heaviest_labels_are_kept_and_ties_go_by_name():
    weights = {"a": (0, 5), "b": (1, 0), "c": (0, 5), "d": (0, 1)}
    assert top_labels(weights, 3) == {"b", "a", "c"}
    assert top_labels(weights, 10) == {"a", "b", "c", "d"}


def test_a_service_named_other_is_never_kept_under_its_own_name():
    assert top_labels({OTHER: (1, 100), "x": (0, 0)}, 5) == {"x"}


def test_many_services_give_at_most_n_plus_one_label_values():
    states = {f"svc-{n:04d}": "closed" for n in range(2_000)}
    occurrences = {f"svc-{n:04d}": n for n in range(2_000)}
    values = samples(breaker_family(states, occurrences, limit=50))
    services = {service for service, _ in values}
    assert len(services) == 51 and OTHER in services
    assert "svc-1999" in services and "svc-0000" not in services  # the most frequent keep their names
    assert values[(OTHER, "closed")] == 1_950 and values[(OTHER, "open")] == 0


def test_open_breakers_keep_their_names_before_busy_closed_ones():
    states = {**{f"busy-{n}": "closed" for n in range(10)}, "quiet": "open"}
    values = samples(breaker_family(states, {f"busy-{n}": 1_000 for n in range(10)}, limit=3))
    assert values[("quiet", "open")] == 1 and values[(OTHER, "closed")] == 8


def test_under_the_cap_nothing_is_called_other():
    values = samples(breaker_family({"partner": "open", "billing": "closed"}))
    assert {service for service, _ in values} == {"partner", "billing"}
