"""Errors raised for real, in this process, by the standard library and Jinja2, then triaged.

Each case runs the failing call, builds the event with the client's `event_from_exception` (as
an app would report it) and checks the category against what the taxonomy says. These are the
families the rules decide by class, errno or phrasing family, not by a known message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import decimal
import ipaddress
import locale
import os
import queue
import re
import shutil
import socket
import sqlite3
import ssl
import subprocess
import tarfile
import uuid
import zipfile
import zoneinfo
from collections.abc import Callable
from pathlib import Path

import jinja2
import pytest

from medic_client.events import event_from_exception
from workers.classification import Classifier
from workers.intake.contract import ErrorEvent


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rmdir_not_empty(tmp: Path) -> None:
    (tmp / "d" / "e").mkdir(parents=True)
    os.rmdir(tmp / "d")


def _name_too_long(tmp: Path) -> None:
    (tmp / ("r" * 300)).write_text("x")


def _symlink_loop(tmp: Path) -> None:
    os.symlink(tmp / "l1", tmp / "l2")
    os.symlink(tmp / "l2", tmp / "l1")
    (tmp / "l1").read_text()


def _bad_pem(tmp: Path) -> None:
    (tmp / "bad.pem").write_text("not a certificate")
    ssl.create_default_context(cafile=str(tmp / "bad.pem"))


def _sqlite_not_a_database(tmp: Path) -> None:
    (tmp / "cache.db").write_bytes(b"this is not sqlite" * 100)
    sqlite3.connect(tmp / "cache.db").execute("select * from sqlite_master")


def _zip_missing_member(tmp: Path) -> None:
    with zipfile.ZipFile(tmp / "a.zip", "w") as archive:
        archive.writestr("present.csv", "x")
    zipfile.ZipFile(tmp / "a.zip").read("ledger.csv")


def _tar_missing_member(tmp: Path) -> None:
    tarfile.open(tmp / "a.tar", "w").close()
    tarfile.open(tmp / "a.tar").getmember("ledger.csv")


def _sqlite_syntax(_: Path) -> None:
    sqlite3.connect(":memory:").execute("SELEC 1")


def _queue_full(_: Path) -> None:
    bounded: queue.Queue[int] = queue.Queue(1)
    bounded.put_nowait(1)
    bounded.put_nowait(2)


async def _incomplete_read() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(b"ab")
    reader.feed_eof()
    await reader.readexactly(5)


async def _limit_overrun() -> None:
    reader = asyncio.StreamReader(limit=4)
    reader.feed_data(b"abcdefgh")
    reader.feed_eof()
    await reader.readuntil(b"\n")


def _broken_pool(_: Path) -> None:
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        pool.submit(os._exit, 1).result()


async def _task_group_refused() -> None:
    async with asyncio.TaskGroup() as group:
        group.create_task(asyncio.open_connection("127.0.0.1", _closed_port()))


def _render(source: str, **context) -> Callable[[Path], object]:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return lambda _: environment.from_string(source).render(**context)


def _missing_template(_: Path) -> None:
    jinja2.Environment(loader=jinja2.DictLoader({})).get_template("refund.txt")


CASES: list[tuple[str, Callable[[Path], object], set[str]]] = [
    # errno table
    ("os-rmdir-not-empty", _rmdir_not_empty, {"conflict"}),
    ("os-name-too-long", _name_too_long, {"validation"}),
    ("os-symlink-loop", _symlink_loop, {"configuration"}),
    ("os-kill-no-such-process", lambda _: os.kill(4_194_300, 0), {"not_found"}),
    ("os-bind-in-use", lambda _: _bind_twice(), {"configuration"}),
    # values that do not parse
    ("ipaddress", lambda _: ipaddress.ip_address("999.1.1.1"), {"validation"}),
    ("uuid", lambda _: uuid.UUID("not-a-uuid"), {"validation"}),
    ("int", lambda _: int("12a"), {"validation"}),
    ("decimal-conversion", lambda _: decimal.Decimal("12,50"), {"validation"}),
    # arithmetic, patterns, code
    ("overflow", lambda _: __import__("math").exp(1000), {"internal"}),
    ("decimal-division", lambda _: decimal.Decimal(1) / decimal.Decimal(0), {"internal"}),
    ("regex", lambda _: re.compile("(("), {"internal"}),
    ("same-file", lambda tmp: (tmp / "a").write_text("x") and shutil.copy(tmp / "a", tmp / "a"), {"internal"}),
    ("sqlite-syntax", _sqlite_syntax, {"internal"}),
    # the deployment
    ("locale", lambda _: locale.setlocale(locale.LC_ALL, "xx_XX.UTF-8"), {"configuration"}),
    ("zoneinfo", lambda _: zoneinfo.ZoneInfo("Mars/Olympus_Mons"), {"configuration"}),
    ("ssl-bad-pem", _bad_pem, {"configuration"}),
    # content
    ("sqlite-not-a-database", _sqlite_not_a_database, {"data", "configuration"}),
    ("zip-missing-member", _zip_missing_member, {"not_found"}),
    ("tar-missing-member", _tar_missing_member, {"not_found"}),
    # queues, streams, pools
    ("queue-empty", lambda _: queue.Queue().get(timeout=0.01), {"timeout"}),
    ("queue-full", _queue_full, {"unavailable"}),
    ("asyncio-incomplete-read", lambda _: asyncio.run(_incomplete_read()), {"network"}),
    ("asyncio-limit-overrun", lambda _: asyncio.run(_limit_overrun()), {"validation"}),
    ("asyncio-refused", lambda _: asyncio.run(asyncio.open_connection("127.0.0.1", _closed_port())), {"network"}),
    ("broken-process-pool", _broken_pool, {"resource"}),
    ("task-group-member-decides", lambda _: asyncio.run(_task_group_refused()), {"network"}),
    ("subprocess-timeout", lambda _: subprocess.run(["sleep", "2"], timeout=0.05), {"timeout"}),
    # templates
    ("jinja2-undefined", _render("{{ order.total }}"), {"internal"}),
    ("jinja2-syntax", _render("{% if %}"), {"internal"}),
    ("jinja2-unknown-filter", _render("{{ 1 | money }}"), {"internal"}),
    ("jinja2-missing-template", _missing_template, {"not_found", "configuration"}),
]


def _bind_twice() -> None:
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", 0))
        first.listen()
        second.bind(first.getsockname())


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_files()


def _raised(call: Callable[[Path], object], tmp: Path) -> BaseException:
    try:
        call(tmp)
    except BaseException as exc:  # noqa: BLE001 - any failure is the case under test (groups too)
        return exc
    raise AssertionError("the call did not fail")


@pytest.mark.parametrize(("call", "accept"), [pytest.param(c, a, id=i) for i, c, a in CASES])
def test_a_raised_error_gets_its_category(classifier, tmp_path, call, accept):
    event = event_from_exception(_raised(call, tmp_path), service="ledger", operation="nightly_export")
    result = classifier.classify(ErrorEvent.model_validate(event))
    assert result.category in accept, (event["error_type"], event["message"], result)
    assert result.confidence >= 0.5, "a rule that knows the family says so in its confidence"
