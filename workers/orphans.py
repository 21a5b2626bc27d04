"""An embedded beat stops when the worker that started it is gone.

`medic run` is `celery worker --beat`: beat runs in a child process of the worker. Killed outright
(SIGKILL, as a supervisor's stop timeout ends, or the OOM killer), the worker cannot stop it, and the
orphaned beat went on scheduling into the broker for minutes. The child asks Linux for SIGTERM when
its parent exits (prctl PR_SET_PDEATHSIG), which beat handles as a normal stop; where that is not
available it checks its parent once a second instead.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from typing import Any

log = logging.getLogger("medic.beat")

PR_SET_PDEATHSIG = 1  # linux/prctl.h
POLL_S = 1.0


def stop_with_parent(sender: Any = None, **_: Any) -> None:
    """For Celery's beat_embedded_init signal, in the beat's process (`sender`: the process object,
    which holds the pid of the worker that started it)."""
    parent = getattr(sender, "_parent_pid", None) or os.getppid()
    if not _parent_death_signal(signal.SIGTERM):
        threading.Thread(target=_watch, args=(parent,), daemon=True, name="medic-parent-watch").start()
    if os.getppid() != parent:  # gone already, before the request above took effect
        _stop(parent)


def _parent_death_signal(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    _stop(parent)


def _stop(parent: int) -> None:
    log.warning("the worker that started this beat is gone; beat stops", extra={"worker_pid": parent})
    os.kill(os.getpid(), signal.SIGTERM)
