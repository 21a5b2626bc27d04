"""Notifications: a Message, its renderings (text, JSON, Slack), and delivery to one channel.

Which channels get a message, cooldowns and the persistent retry queue live with the callers;
this package only formats and sends, and says why a send failed.
"""

from workers.notify.channels import DeliveryFailed, deliver, level_passes
from workers.notify.message import Message, as_json, as_slack, as_text

__all__ = ["DeliveryFailed", "Message", "as_json", "as_slack", "as_text", "deliver", "level_passes"]
