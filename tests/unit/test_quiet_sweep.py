"""Idle sweeper passes log nothing above DEBUG: the filters on Celery's loggers, with real loggers and records."""

from __future__ import annotations

import logging

import pytest

from schedules.beat import SWEEP_TASK, QuietSweepSends
from tasks.recovery import RECEIVED_LOGGER, TRACE_LOGGER, IdleSweepLines


def task_record(logger: str, name: str, task_id: str, verb: str = "received") -> logging.LogRecord:
    data = {"id": task_id, "name": name}
    record = logging.LogRecord(logger, logging.INFO, __file__, 1, f"Task %(name)s[%(id)s] {verb}", (data,), None)
    record.data = data
    return record


def log_idle(monkeypatch, on: bool) -> None:
    """MEDIC_RECOVERY_SWEEP_LOG_IDLE as the filters read it (the process's settings)."""
    monkeypatch.setattr("schedules.beat.log_idle_sweeps", lambda: on)
    monkeypatch.setattr("tasks.recovery.log_idle_sweeps", lambda: on)


@pytest.fixture
def quiet(monkeypatch):
    log_idle(monkeypatch, False)
    return IdleSweepLines()


@pytest.fixture
def root_level():
    """Set the root level as medic's configure_logging does; restored after."""
    root = logging.getLogger()
    before = root.level

    def set_level(level: int) -> None:
        root.setLevel(level)

    yield set_level
    root.setLevel(before)


def test_a_sweeps_received_line_is_dropped_at_info_and_debug_at_debug(quiet, root_level):
    root_level(logging.INFO)
    record = task_record(RECEIVED_LOGGER, SWEEP_TASK, "s1")
    assert not quiet.filter(record)
    root_level(logging.DEBUG)
    record = task_record(RECEIVED_LOGGER, SWEEP_TASK, "s2")
    assert quiet.filter(record) and (record.levelno, record.levelname) == (logging.DEBUG, "DEBUG")


def test_an_idle_passes_succeeded_line_is_dropped_a_busy_ones_kept(quiet, root_level):
    root_level(logging.INFO)
    quiet.idle("idle-1")
    assert not quiet.filter(task_record(TRACE_LOGGER, SWEEP_TASK, "idle-1", "succeeded"))
    busy = task_record(TRACE_LOGGER, SWEEP_TASK, "busy-1", "succeeded")
    assert quiet.filter(busy) and busy.levelno == logging.INFO
    # each idle id is used once
    again = task_record(TRACE_LOGGER, SWEEP_TASK, "idle-1", "succeeded")
    assert quiet.filter(again) and again.levelno == logging.INFO


@pytest.mark.parametrize("logger", [RECEIVED_LOGGER, TRACE_LOGGER])
def test_other_tasks_lines_are_untouched(quiet, root_level, logger):
    root_level(logging.INFO)
    quiet.idle("other-1")
    record = task_record(logger, "medic.recovery.run", "other-1")
    assert quiet.filter(record) and record.levelno == logging.INFO


def test_a_line_without_task_data_is_untouched(quiet):
    record = logging.LogRecord(TRACE_LOGGER, logging.INFO, __file__, 1, "something else", (), None)
    assert quiet.filter(record) and record.levelno == logging.INFO


def test_log_idle_keeps_every_sweep_line(monkeypatch, root_level):
    log_idle(monkeypatch, True)
    loud = IdleSweepLines()
    root_level(logging.INFO)
    loud.idle("idle-2")
    for record in (task_record(RECEIVED_LOGGER, SWEEP_TASK, "idle-2"),
                   task_record(TRACE_LOGGER, SWEEP_TASK, "idle-2", "succeeded")):
        assert loud.filter(record) and record.levelno == logging.INFO


def test_the_filters_are_installed_on_celerys_loggers():
    assert any(isinstance(f, IdleSweepLines) for f in logging.getLogger(RECEIVED_LOGGER).filters)
    assert any(isinstance(f, IdleSweepLines) for f in logging.getLogger(TRACE_LOGGER).filters)
    assert any(isinstance(f, QuietSweepSends) for f in logging.getLogger("celery.beat").filters)


def test_beats_sending_line_for_the_sweep_is_debug_others_untouched(monkeypatch, root_level):
    log_idle(monkeypatch, False)
    root_level(logging.INFO)
    quiet = QuietSweepSends()
    sweep = logging.LogRecord("celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
                              ("recovery-sweep", SWEEP_TASK), None)
    job = logging.LogRecord("celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
                            ("maintenance:health", "medic.maintenance.run"), None)
    assert not quiet.filter(sweep)
    assert quiet.filter(job) and job.levelno == logging.INFO


def test_beats_sending_line_is_kept_when_idle_passes_are_logged(monkeypatch, root_level):
    log_idle(monkeypatch, True)
    root_level(logging.INFO)
    sweep = logging.LogRecord("celery.beat", logging.INFO, __file__, 1, "Scheduler: Sending due task %s (%s)",
                              ("recovery-sweep", SWEEP_TASK), None)
    assert QuietSweepSends().filter(sweep) and sweep.levelno == logging.INFO


def test_the_sweep_is_sent_without_a_task_sent_event_and_runs_without_task_events():
    from celery import Celery

    import tasks.recovery

    app = Celery("quiet-sweep-test", broker="memory://", set_as_current=False)
    app.conf.update(task_send_sent_event=True, task_serializer="json", accept_content=["json"])
    sent: list[tuple[str, object]] = []

    def send_task_message(producer, name, message, **options):
        sent.append((name, message.sent_event))

    app.amqp.send_task_message = send_task_message
    sweep = app.tasks[SWEEP_TASK]
    assert isinstance(sweep, tasks.recovery.SweepTask) and sweep.send_events is False
    sweep.apply_async()
    app.send_task("medic.recovery.run", args=[1])
    assert [(name, event is None) for name, event in sent] == [(SWEEP_TASK, True), ("medic.recovery.run", False)]
    assert app.conf.task_send_sent_event is True
