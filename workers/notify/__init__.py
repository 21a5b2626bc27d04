"""Notifications: what medic tells people, queued durably and delivered to the operator's channels.

message: a Message and its renderings (text, JSON, Slack blocks), masked; pure.
recovery_messages: recovery's messages: a plan's notify or escalate step, a breaker's change of state; pure.
queue: the persistent queue: enqueue with a cooldown, claim what is due, record tries.
delivery: ask a worker to deliver a queued notification, and deliver it through its channel.
channels: sending one message to one configured channel (log, webhook, Slack, email); DeliveryFailed says why not.
signal_policy: group signals' decision (new, regressed, spike; cooldowns, the rate window) and message; pure.
group_signals: group signals for events without a recovery target: decided and queued in intake's
  transaction (signal_groups), delivered after its commit (deliver_signals).
"""

from workers.notify.channels import DeliveryFailed, deliver, level_passes
from workers.notify.message import Message, as_json, as_slack, as_text

__all__ = ["DeliveryFailed", "Message", "as_json", "as_slack", "as_text", "deliver", "level_passes"]
