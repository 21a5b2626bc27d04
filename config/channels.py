"""Notification channels as configured by the operator (MEDIC_CHANNELS or the config file).

Secrets (webhook URLs carry tokens, SMTP passwords) are SecretStr: they print masked.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

# Escalation levels, lowest first; a step or an alert names one.
LEVELS = ("info", "warning", "error", "critical")
Level = Literal["info", "warning", "error", "critical"]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_level: Level = "info"  # lower levels are not sent to this channel


class LogChannel(_Channel):
    type: Literal["log"]


class WebhookChannel(_Channel):
    """POSTs the notification as a JSON object."""

    type: Literal["webhook"]
    url: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = Field(10.0, gt=0, le=120)


class SlackChannel(_Channel):
    """A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat): `{"text": ...}`."""

    type: Literal["slack"]
    url: SecretStr
    timeout_s: float = Field(10.0, gt=0, le=120)


class EmailChannel(_Channel):
    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    from_addr: str
    to_addrs: list[str] = Field(min_length=1)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    timeout_s: float = Field(10.0, gt=0, le=120)


ChannelConfig = Annotated[LogChannel | WebhookChannel | SlackChannel | EmailChannel, Field(discriminator="type")]

# The built-in plans name the log channel: it is always there unless redefined.
DEFAULT_CHANNELS: dict[str, ChannelConfig] = {"log": LogChannel(type="log")}
