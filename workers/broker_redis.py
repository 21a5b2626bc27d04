"""medic's Redis transport: kombu's, with a fetch that never holds a message only in a socket.

kombu pops a message with BRPOP and records it as unacknowledged (the `unacked` hash, read by the
visibility-timeout restore) only once its reply has been read and delivered. Until then the
message exists nowhere but in the consumer's socket, and a consumer at its prefetch limit leaves
the reply unread for as long as its pool is busy: a worker SIGKILLed then loses it (kombu#305,
celery#7950). This transport, used for every `redis://` broker URL (config/celery_app.py), fetches
with one Lua script that pops the message and records it as unacknowledged in the same atomic
step, in kombu's own format, so the restore, acknowledgements and a clean shutdown work unchanged
and a message is always somewhere Redis can give it again.

A script cannot block as BRPOP does, so a fetch that finds every queue empty waits before the next:
a tenth of the time since the last message came, between 1 and 50 ms, and none while messages keep
coming (a timer wakes the worker's event loop; `drain_events` without one sleeps the pause). A
message after a quiet spell so waits at most a tenth of the spell, and never more than 50 ms. An idle
worker makes about 20 fetches a second; the first message after a quiet spell waits at most that
long. Queues consumed without acknowledgement (Celery's reply queues) are popped as before.

Two failures that stopped a worker are answered instead: a requeue refused by a full Redis, and a
close after a lost connection (Celery closes a channel it has already collected). Either way the
messages stay recorded and come back after the visibility timeout.
Apps may keep publishing with the stock `redis://` transport: nothing about the keys changes.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

logger = logging.getLogger(__name__)

FETCH_PAUSE_MIN_S = 0.001
FETCH_PAUSE_MAX_S = 0.05
FETCH_PAUSE_SHARE_OF_IDLE = 0.1

# KEYS: the unacked hash, its index, then the queue keys in fetch order.
# ARGV: the time (the index's score), then per queue key 1 to record the message, 0 not to.
# Returns {key, message, recorded} or nil. The stored entry is kombu's: [message, exchange,
# routing key], with the message as it came (never re-encoded). A message that is not kombu's
# JSON is popped and returned unrecorded, as BRPOP would have.
# Redis 7 runs a script on a full server only if it says so; earlier versions know no such line.
ALLOW_OOM = "#!lua flags=allow-oom\n"
FETCH_SCRIPT = """
for i = 3, #KEYS do
  local item = redis.call('RPOP', KEYS[i])
  if item then
    if ARGV[i - 1] == '1' then
      local ok, message = pcall(cjson.decode, item)
      if ok and type(message) == 'table' and type(message.properties) == 'table' then
        local tag = message.properties.delivery_tag
        local info = message.properties.delivery_info
        if type(tag) == 'string' and type(info) == 'table' then
          redis.call('ZADD', KEYS[2], ARGV[1], tag)
          redis.call('HSET', KEYS[1], tag,
            '[' .. item .. ',' .. cjson.encode(info.exchange) .. ',' .. cjson.encode(info.routing_key) .. ']')
          return {KEYS[i], item, 1}
        end
      end
    end
    return {KEYS[i], item, 0}
  end
end
return nil
"""


def fetch_pause_s(idle_s: float) -> float:
    """How long an empty fetch waits before the next, `idle_s` after the last message came."""
    return min(FETCH_PAUSE_MAX_S, max(FETCH_PAUSE_MIN_S, idle_s * FETCH_PAUSE_SHARE_OF_IDLE))


class QoS(kombu_redis.QoS):
    _delivered: Any  # kombu's: delivery tag -> message held

    def append(self, message: Any, delivery_tag: str) -> None:
        if self.channel.delivering_recorded:
            virtual.QoS.append(self, message, delivery_tag)  # the script recorded it already
        else:
            super().append(message, delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)
        except redis.ResponseError as exc:
            if not requeue:
                raise
            # A full Redis refuses the requeue's transaction (LPUSH may grow it). Celery would stop
            # the worker on this error; the message is still recorded, so it comes back later.
            logger.warning("could not requeue message %s (%s): it comes back after the visibility timeout",
                           delivery_tag, exc)
            virtual.QoS.ack(self, delivery_tag)

    def restore_unacked(self, client: Any = None) -> None:
        """A closing channel gives back what it holds; if the broker is gone, it stays recorded.

        After a lost connection Celery closes a channel whose transport it has already collected:
        kombu's restore then fails building a client (AttributeError) and the worker stops. The
        messages are recorded as unacknowledged either way: they come back after the visibility
        timeout."""
        if self.channel.connection.client is None:
            self._delivered.clear()
            return
        try:
            super().restore_unacked(client)
        except (*self.channel.connection_errors, redis.ResponseError) as exc:
            logger.warning("could not give back %d held message(s) (%s): they come back after the visibility timeout",
                           len(self._delivered), exc)
            self._delivered.clear()


class Channel(kombu_redis.Channel):
    QoS = QoS

    delivering_recorded = False
    _in_poll: Any = None  # the connection a fetch was sent on, until its reply is read
    _brpop_sent_at: Any = None  # kombu's: when the last fetch was sent
    _fetch_pause_s = 0.0
    _last_message_at = float("-inf")
    _next_fetch_at = 0.0

    def __init__(self, *args: Any, **kwargs: Any):
        self._queues_without_ack: set[str] = set()
        super().__init__(*args, **kwargs)

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        if no_ack:
            self._queues_without_ack.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> Any:
        self._queues_without_ack.discard(self._tag_to_queue.get(consumer_tag))
        return super().basic_cancel(consumer_tag)

    def _brpop_start(self, timeout: float | None = None) -> None:
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return
        now = time.monotonic()
        if now < self._next_fetch_at:
            if self.connection.wake_at(self._next_fetch_at):
                return
            time.sleep(self._next_fetch_at - now)  # drain_events without an event loop: it blocks anyway
            now = time.monotonic()
        keys = [self._q_for_pri(queue, pri) for pri in self.priority_steps for queue in queues]
        flags = ["0" if self._key_queue(key) in self._queues_without_ack else "1" for key in keys]
        script = self._fetch_script
        self._in_poll = self.client.connection
        self._brpop_sent_at = now
        self.client.connection.send_command(
            "EVAL", script, len(keys) + 2, self.unacked_key, self.unacked_index_key, *keys, time.time(), *flags)

    def _brpop_read(self, **options: Any) -> bool:
        try:
            try:
                reply = self.client.parse_response(self.client.connection, "EVAL", **options)
            except self.connection_errors:
                self.client.connection.disconnect()
                raise
            if not reply:
                now = time.monotonic()
                self._fetch_pause_s = fetch_pause_s(now - self._last_message_at)
                self._next_fetch_at = now + self._fetch_pause_s
                # Now, not when the next fetch is due: the event loop reckons its wait before the
                # tick that would send the fetch, so a timer set then would come a wait too late.
                if not self.connection.wake_at(self._next_fetch_at):
                    # kombu restores on a poll that waited in vain; a fetch always has its answer
                    self.connection.cycle.maybe_restore_messages()
                raise kombu_redis.Empty()
            self._last_message_at = time.monotonic()
            key, item, recorded = reply
            queue = self._key_queue(bytes_to_str(key))
            self._queue_cycle.rotate(queue)
            self.delivering_recorded = bool(recorded)
            try:
                self.connection._deliver(loads(bytes_to_str(item)), queue)
            finally:
                self.delivering_recorded = False
            return True
        finally:
            self._in_poll = None
            self._flush_brpop_reauth()

    @cached_property
    def _fetch_script(self) -> str:
        version = str(self.client.info("server").get("redis_version", "0"))
        return ALLOW_OOM + FETCH_SCRIPT if int(version.split(".")[0] or 0) >= 7 else FETCH_SCRIPT

    def _key_queue(self, key: str) -> str:
        return key.rsplit(self.sep, 1)[0]


class Transport(kombu_redis.Transport):
    Channel = Channel

    _loop: Any = None
    _wake_at = 0.0

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        self._loop = loop
        super().register_with_event_loop(connection, loop)

    def wake_at(self, monotonic_s: float) -> bool:
        """Make the event loop look again at `monotonic_s` (a paused fetch is no socket to wait on).
        False without an event loop: the caller waits itself."""
        if self._loop is None:
            return False
        if not time.monotonic() < self._wake_at <= monotonic_s:  # else an earlier wake is on its way
            self._wake_at = monotonic_s
            self._loop.call_later(max(0.0, monotonic_s - time.monotonic()), _nothing)
        return True


def _nothing() -> None:
    """A timer's only job here is to end the event loop's wait."""
