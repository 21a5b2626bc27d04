"""Payment card numbers in text: 13 to 19 digits, run together or in the printed groups."""

from __future__ import annotations

CARD_MASK = "****-****-****-"

# Written for the single-pass pattern in medic_client.masking.text: it follows the character before the
# number, and its group closes it, empty. Card numbers start with 2 to 6 (so do not epoch
# milliseconds, nor runs of zeros); digits may be full-width (４１１１). Groups take one separator
# throughout: 4-4-4-4(-3) or 4-6-5 / 4-6-4, so the digit groups of a uuid or a dotted version never
# make one. A number that runs on (a digit, a letter, or a separator and a digit) is not a card.
CARD = (
    r"[2-6\uff12-\uff16](?<!\d\d)(?<!\d[.-]\d)(?:\d{12,18}+"
    r"|\d{3}(?P<card_separator>[ .\u00a0-])\d{4}(?P=card_separator)\d{4}(?P=card_separator)\d{4}"
    r"(?:(?P=card_separator)\d{3})?"
    r"|\d{3}(?P<amex_separator>[ .\u00a0-])\d{6}(?P=amex_separator)\d{4,5})"
    r"(?!\w|[.-]\d)(?P<card>)"
)
_SEPARATORS = str.maketrans("", "", " .-\u00a0")
# A digit of an even position from the right, doubled, its digits summed.
_DOUBLED = str.maketrans("0123456789", "0246813579")


def masked_card(number: str) -> str:
    """The last four digits behind CARD_MASK, when the number passes the Luhn check."""
    digits = number.translate(_SEPARATORS)
    if not digits.isascii():
        digits = "".join(str(int(digit)) for digit in digits)
    if not _passes_luhn(digits):
        return number
    return CARD_MASK + digits[-4:]


def _passes_luhn(digits: str) -> bool:
    # Summed as ASCII codes, each 48 more than its digit: much quicker than int() per digit.
    codes = digits[-1::-2].encode() + digits[-2::-2].translate(_DOUBLED).encode()
    return (sum(codes) - 48 * len(codes)) % 10 == 0
