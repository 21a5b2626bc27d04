"""The shapes of medic's Prometheus families and of API pages (pure functions)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from workers.api.pages import Page
from workers.api.prometheus import breaker_family, queue_family


class Fixed:
    def __init__(self, *families):
        self.families = families

    def collect(self):
        return self.families


def exposition(*families) -> dict:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(*families))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_breaker_has_one_series_per_state_with_1_for_its_own():
    values = exposition(breaker_family({"partner": "open", "billing": "closed"}))
    partner = {labels: v for (name, labels), v in values.items() if ("service", "partner") in labels}
    assert sorted(partner.values()) == [0, 0, 0, 1]
    assert values[("medic_breaker_state", (("service", "partner"), ("state", "open")))] == 1
    assert values[("medic_breaker_state", (("service", "billing"), ("state", "closed")))] == 1


def test_unknown_queue_depths_are_left_out_not_reported_as_zero():
    values = exposition(queue_family({"medic.errors": 3, "medic.recovery": None}))
    assert values == {("medic_queue_depth", (("queue", "medic.errors"),)): 3}


def test_a_full_page_points_at_the_next_one():
    assert Page(2, 4).wrap([1, 2]) == {"items": [1, 2], "limit": 2, "offset": 4, "next_offset": 6}
    assert Page(2, 4).wrap([1])["next_offset"] is None
