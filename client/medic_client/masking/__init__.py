"""Secret masking: text and JSON-like data, before anything leaves for storage or a log.

text: `mask_text`, secrets in free text found by their shape, in one linear regex pass.
cards: payment card numbers: the pattern, and the Luhn check that decides.
keys: which names are names of secrets (`is_secret_key`, `holds_secrets`).
wordtrie: a case-insensitive regex for a list of words, written as a trie.
data: `mask_value`, JSON-like data masked by its keys and its strings.
"""

from medic_client.masking.cards import CARD_MASK
from medic_client.masking.data import MAX_DEPTH, mask_value
from medic_client.masking.keys import is_secret_key
from medic_client.masking.text import MASK, mask_text

__all__ = ["CARD_MASK", "MASK", "MAX_DEPTH", "is_secret_key", "mask_text", "mask_value"]
