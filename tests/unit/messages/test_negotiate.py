"""Locale negotiation: the locale parameter, then Accept-Language with q-values, then the default."""

from __future__ import annotations

import pytest

from workers.messages.negotiate import accepted_tags, negotiate

AVAILABLE = ["de", "en", "fr", "pt-BR"]


@pytest.mark.parametrize(("locale", "header", "expected"), [
    (None, None, "en"),
    ("de", None, "de"),
    ("de-CH", None, "de"),
    ("DE_ch", None, "de"),
    ("fr-CA", "de", "fr"),  # the parameter wins over the header
    ("es", "fr", "fr"),  # a parameter without a match falls through to the header
    ("es", None, "en"),
    ("pt", None, "pt-BR"),  # another locale of the same language
    ("pt-PT", None, "pt-BR"),
    (None, "de-CH, de;q=0.9, en;q=0.8", "de"),
    (None, "es, fr;q=0.5, de;q=0.7", "de"),
    (None, "fr;q=0.2, de;q=0.9", "de"),
    (None, "de;q=0, fr;q=0.1", "fr"),  # q=0: not acceptable
    (None, "es, *;q=0.5, fr;q=0.1", "en"),  # * means anything: the default
    (None, "es, it", "en"),
    (None, "de;q=abc, fr", "fr"),  # malformed q drops the entry
    (None, "de;q=2, fr", "fr"),
    (None, "'; DROP TABLE, fr", "fr"),
    (None, "", "en"),
    (None, "fr-CA;level=1", "fr"),
    ("", "de", "de"),
])
def test_negotiation(locale, header, expected):
    assert negotiate(AVAILABLE, "en", locale=locale, accept_language=header) == expected


def test_equal_q_keeps_header_order():
    assert accepted_tags("fr;q=0.8, de;q=0.8, en") == ["en", "fr", "de"]


def test_huge_headers_are_cut():
    assert len(accepted_tags(", ".join(["de"] * 10_000))) == 20
