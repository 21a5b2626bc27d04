"""Writing messages files for tests."""

from __future__ import annotations

import textwrap

import pytest


@pytest.fixture
def messages_file(tmp_path):
    """messages_file(yaml_text, name=...) -> the path of a file holding the dedented text."""
    def write(text: str, name: str = "override.yaml"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write
