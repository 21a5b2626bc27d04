"""Secret masking: applied to every event before anything is stored or logged. See docs/security.md, "Masking".

text: `mask_text`, secrets in free text found by their shape, in one linear regex pass.
cards: payment card numbers: the pattern, and the Luhn check that decides.
keys: which names are names of secrets (`is_secret_key`, `holds_secrets`).
wordtrie: a case-insensitive regex for a list of words, written as a trie.
data: `mask_value`, JSON-like data masked by its keys and its strings.
models: `mask_model`, every field of a pydantic model (an event) masked, nothing left out by name.
"""

from workers.masking.cards import CARD_MASK
from workers.masking.data import MAX_DEPTH, mask_value
from workers.masking.keys import is_secret_key
from workers.masking.models import mask_model
from workers.masking.text import MASK, mask_text

__all__ = ["CARD_MASK", "MASK", "MAX_DEPTH", "is_secret_key", "mask_model", "mask_text", "mask_value"]
