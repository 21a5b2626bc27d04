"""`Guard`: report an exception that escapes a function or a block, then re-raise it (by default).

    @reporter.guard(operation="push_order", replay={...})   # or @reporter.guard
    def push_order(order_id): ...

    with reporter.guard(operation="nightly-sync"):
        sync()

Only `Exception`s are reported: KeyboardInterrupt, SystemExit, GeneratorExit and asyncio's
CancelledError pass through untouched. ``reraise=False`` swallows the reported exception: the
block ends there and a decorated function returns None. An exception already reported (by an inner
guard, a logging handler, `reporter.report`) is not reported again, so nested guards make one
report, the innermost. Reporting never replaces the app's exception: the broker's trouble is logged
and spooled by the reporter, and anything else going wrong while reporting is logged on
``medic.capture``. A decorated coroutine function reports from a worker thread (`asyncio.to_thread`)
so the event loop is not held while the broker is slow; ``async with reporter.guard()`` does the same.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from types import TracebackType
from typing import Any

from medic_client.events import qualified_name
from medic_client.masking import mask_text
from medic_client.reporter import Reporter, mark_reported, was_reported
from medic_client.sending import REASON_MAX_CHARS

log = logging.getLogger("medic.capture")


def should_report(exc: BaseException | None) -> bool:
    """An escaping exception is reported when it is an Exception not yet reported."""
    return isinstance(exc, Exception) and not was_reported(exc)


class Guard:
    """A context manager and decorator made by `Reporter.guard`; options are `Reporter.report`'s, checked now."""

    def __init__(self, reporter: Reporter, *, reraise: bool = True, **options: Any) -> None:
        if not isinstance(reraise, bool):
            raise TypeError(f"reraise must be True or False, not {type(reraise).__name__}")
        reporter.check(**options)
        self.reporter = reporter
        self.reraise = reraise
        self.options = options

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if not isinstance(exc, Exception):
            return False
        if should_report(exc):
            self._report(exc, self.options)
        return not self.reraise

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool:
        if not isinstance(exc, Exception):
            return False
        if should_report(exc):
            await asyncio.to_thread(self._report, exc, self.options)
        return not self.reraise

    # ------------------------------------------------------------------ decorator

    def __call__(self, func: Any) -> Any:
        if not callable(func):
            raise TypeError(f"guard decorates a function, not {type(func).__name__}")
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(f"guard cannot cover the iteration of the generator {qualified_name(func)}: "
                            f"use `with reporter.guard(...)` inside it")
        options = {"operation": qualified_name(func), **self.options}
        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def guarded_coroutine(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except Exception as exc:
                    if should_report(exc):
                        await asyncio.to_thread(self._report, exc, options)
                    if self.reraise:
                        raise
                    return None

            return guarded_coroutine

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                if should_report(exc):
                    self._report(exc, options)
                if self.reraise:
                    raise
                return None

        return guarded

    def _report(self, exc: BaseException, options: dict[str, Any]) -> None:
        try:
            self.reporter.report(exc, **options)
        except Exception as error:  # never in place of the app's own exception
            mark_reported(exc)
            try:
                reason = mask_text(f"{type(error).__name__}: {error}")[:REASON_MAX_CHARS]
                log.error("medic report of %s failed: %s", qualified_name(type(exc)), reason)
            except Exception:
                pass
