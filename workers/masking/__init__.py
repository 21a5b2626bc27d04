"""Secret masking: applied to every event before anything is stored or logged. See docs/security.md, "Masking".

The masking of text and JSON-like data is the client's (medic_client.masking), so an app masks what it
logs exactly as medic masks what it stores; this package adds what needs pydantic:

models: `mask_model`, every field of a pydantic model (an event) masked, nothing left out by name.
"""

from medic_client.masking import CARD_MASK, MASK, MAX_DEPTH, is_secret_key, mask_text, mask_value
from workers.masking.models import mask_model

__all__ = ["CARD_MASK", "MASK", "MAX_DEPTH", "is_secret_key", "mask_model", "mask_text", "mask_value"]
