"""Payment card numbers in text: 13 to 19 digits, run together or in the printed groups."""

from __future__ import annotations

CARD_MASK = "****-****-****-"

# Written for the single-pass pattern in workers.masking.text: it follows the character before the
# number, and its group closes it, empty. Digits are any script's (full-width ４１１１ too). Groups
# take one separator throughout: 4-4-4-4(-3) or 4-6-5 / 4-6-4, so the digit groups of a uuid or a
# dotted version never make one. A number that runs on (a digit, a letter, or a separator and a
# digit) is not a card.
CARD = (
    r"\d(?<!\d\d)(?<!\d[.-]\d)(?:\d{12,18}+"
    r"|\d{3}(?P<card_separator>[ .\u00a0-])\d{4}(?P=card_separator)\d{4}(?P=card_separator)\d{4}"
    r"(?:(?P=card_separator)\d{3})?"
    r"|\d{3}(?P<amex_separator>[ .\u00a0-])\d{6}(?P=amex_separator)\d{4,5})"
    r"(?!\w|[.-]\d)(?P<card>)"
)


def masked_card(number: str) -> str:
    """The last four digits behind CARD_MASK, when the number passes the Luhn check."""
    digits = [char for char in number if char.isdecimal()]
    if not _passes_luhn([int(digit) for digit in digits]):
        return number
    return CARD_MASK + "".join(digits[-4:])


def _passes_luhn(digits: list[int]) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
