"""Where things are, from the environment: SHOP_BROKER_URL, SHOP_REDIS_URL, SHOP_MEDIC_BROKER_URL."""

from __future__ import annotations

import os

BROKER_URL = os.environ.get("SHOP_BROKER_URL", "redis://127.0.0.1:6379/0")
# The example's counters (calls, side effects), in Redis.
REDIS_URL = os.environ.get("SHOP_REDIS_URL") or BROKER_URL
# medic's broker when it is not the app's (empty: medic listens on the app's broker).
MEDIC_BROKER_URL = os.environ.get("SHOP_MEDIC_BROKER_URL") or None
QUEUE = "shop"
