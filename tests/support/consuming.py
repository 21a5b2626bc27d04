"""Consuming with kombu as a test does: `receive` up to `count` messages, unacknowledged."""

from __future__ import annotations

import time

from kombu import Connection, Queue


def receive(conn: Connection, queue: Queue, count: int, *, timeout_s: float = 5, no_ack: bool = False,
            declare: bool = True) -> list:
    received: list = []
    with conn.Consumer(queue, callbacks=[lambda body, message: received.append(message)], prefetch_count=count,
                       accept=["json"], no_ack=no_ack, auto_declare=declare):
        deadline = time.monotonic() + timeout_s
        while len(received) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.2)
            except TimeoutError:
                pass
    return received
