"""medic's data files (rules, plans): YAML validated by a pydantic model, with errors that name
the file, the entry and the field."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from config.errors import ConfigError
from config.validation import problem_text

M = TypeVar("M", bound=BaseModel)
# Says where a validation error is, from the parsed data and the error's location; None: the plain path.
Locate = Callable[[Any, list], "str | None"]


def packaged_files(folder: str) -> list[Path]:
    """The YAML files shipped in config/<folder>/, by name."""
    directory = resources.files("config") / folder
    return sorted(Path(str(entry)) for entry in directory.iterdir() if entry.name.endswith((".yaml", ".yml")))


def read_yaml(path: Path, *, what: str) -> Any:
    """The parsed file; ConfigError names the file when it cannot be read or is not YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path}: not valid YAML: {exc}") from None


def load_model(path: Path, model: type[M], *, what: str, locate: Locate) -> M:
    data = read_yaml(path, what=what)
    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        lines = [f"{what} {path}: invalid:"]
        for error in exc.errors():
            loc = list(error["loc"])
            where = locate(data, loc) or ".".join(str(part) for part in loc) or "(the file)"
            lines.append(f"  {where}: {problem_text(error)}")
        raise ConfigError("\n".join(lines)) from None


def entry_field(data: Any, loc: list, *, section: str, key: str) -> tuple[str, list] | None:
    """For an error inside entry i of the list `section`: ("<key> 'name' (entry i+1)", the rest of loc)."""
    if len(loc) < 2 or loc[0] != section or not isinstance(loc[1], int):
        return None
    entries = data.get(section) if isinstance(data, dict) else None
    entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
    name = entry.get(key) if isinstance(entry, dict) else None
    return f"{section[:-1]} {name!r} (entry {loc[1] + 1})", loc[2:]
