"""The console's templates escape what they show: event fields are attacker-controlled.

Rendered straight from the Jinja environment with hostile strings in every field a page shows;
no markup of theirs may survive, in text or in attributes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest

from workers.console.formatting import sparkline
from workers.console.web import ConsoleUser, templates

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
PAYLOADS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>",
            "javascript:alert(1)"]
WRITER = ConsoleUser("oncall", "write", "csrf-token", can_act=True)
READER = ConsoleUser("grafana", "read", "csrf-token", can_act=False)


def fake_request(path: str = "/ui/alerts", query: str = ""):
    return SimpleNamespace(url=SimpleNamespace(path=path, query=query), headers={})


def render(template: str, **context) -> str:
    base = {"request": fake_request(), "user": WRITER, "flash": None, "now": NOW}
    return templates.env.get_template(template).render({**base, **context})


class Elements(HTMLParser):
    """Every element and attribute a browser would build from the markup."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def assert_inert(html: str) -> None:
    """No script without src, no img, no event handler attribute, no javascript: URL: only escaped text."""
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag != "img", html
        assert not (tag == "script" and "src" not in attrs), html
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not any((value or "").strip().lower().startswith("javascript:") for name, value in attrs.items()
                       if name in ("href", "src", "action", "formaction")), (tag, attrs)
    assert "<script>alert" not in html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_alert_rows_escape_every_field(payload):
    alert = {"id": 1, "state": "open", "level": payload, "rule": payload, "subject": payload, "summary": payload,
             "messages": {"operator": payload}, "opened_at": NOW, "last_seen_at": NOW, "acknowledged_by": payload,
             "acknowledged_at": NOW, "acknowledged_reason": payload}
    html = render("alerts_rows.html", alerts=[alert], state="all", shown=200)
    assert_inert(html)
    assert "/ui/alerts/1/acknowledge" in html and 'value="csrf-token"' in html


@pytest.mark.parametrize("payload", PAYLOADS)
def test_maintenance_and_backup_rows_escape_every_field(payload):
    run = {"id": 1, "job": payload, "trigger": payload, "host": payload, "status": payload, "started_at": NOW,
           "finished_at": NOW, "duration_s": 1.5, "counts": {}, "summary": payload, "error": payload}
    job = {"job": payload, "description": payload, "enabled": True, "schedule": payload, "last_run": run}
    assert_inert(render("maintenance_rows.html", jobs=[job], runs=[run], job=payload, job_names=[payload],
                        limit=50, limits=(50,)))
    backup = {"name": payload, "path": payload, "created_at": NOW, "size_bytes": 10, "database_kind": payload,
              "verification": payload, "verification_detail": payload, "verified_at": NOW, "medic_version": payload,
              "deleted_at": NOW}
    assert_inert(render("backups_rows.html", backups=[backup], deleted=True))


def test_the_layout_escapes_the_user_name_and_the_flash_and_shows_no_actions_to_readers():
    hostile = ConsoleUser(PAYLOADS[0], "read", PAYLOADS[1], can_act=False)
    html = render("error.html", user=hostile, flash=PAYLOADS[2], code=404, message=PAYLOADS[0])
    assert_inert(html)
    assert "<nav" in html and "<main" in html and 'action="/ui/logout"' in html
    macros = templates.env.get_template("_macros.html").make_module({"request": fake_request()})
    assert str(macros.action("/ui/x", "Do it", READER)).strip() == ""
    form = str(macros.action("/ui/x", PAYLOADS[0], WRITER, confirm=PAYLOADS[1], hidden={"a": PAYLOADS[2]}))
    assert_inert(form)
    assert 'data-confirm="&#34;&gt;&lt;img' in form and 'name="csrf" value="csrf-token"' in form


def test_the_sparkline_filter_is_not_a_way_in():
    html = templates.env.from_string("{{ counts | sparkline(100, 20, label) }}").render(
        counts=[1, 2, 3], label=PAYLOADS[0])
    assert_inert(html)
    assert html == str(sparkline([1, 2, 3], 100, 20, PAYLOADS[0]))


def test_autoescape_is_on_for_strings_too():
    assert templates.env.from_string("{{ x }}").render(x="<b>") == "&lt;b&gt;"
