"""A regex for "any of these words", case-insensitive, written as a trie.

Python's re tries the alternatives of `a|b|c` one by one at every position; a trie shares
their prefixes, and each branch starts with a character class, which the engine rejects
without entering the branch. In a word, `_` stands for an optional separator: `api_key`
matches `api_key`, `api-key`, `api key` and `apikey`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SEPARATOR = "_"
_OPTIONAL_SEPARATOR = "[-_ ]?"

_Node = dict[str, "_Node"]
_END = ""  # the key marking that a word ends at this node


def words_regex(words: Iterable[str]) -> str:
    root: _Node = {}
    for word in words:
        node = root
        for char in word.lower():
            node = node.setdefault(char, {})
        node[_END] = {}
    return _node_regex(root)


def _node_regex(node: _Node) -> str:
    branches = [_char_regex(char) + _node_regex(child) for char, child in sorted(node.items()) if char != _END]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if _END in node:
        return f"(?:{body})?"
    return body


def _char_regex(char: str) -> str:
    if char == SEPARATOR:
        return _OPTIONAL_SEPARATOR
    if char.upper() != char:
        return f"[{char.upper()}{char}]"
    return re.escape(char)
