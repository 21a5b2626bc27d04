"""The canonical categories (docs/contract.md, "The taxonomy"), with their default retryability and severity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["low", "medium", "high", "critical"]


@dataclass(frozen=True)
class Category:
    name: str
    retryable: bool
    severity: Severity


# resource and unknown depend on the case (the plan decides): resource defaults to not retryable
# (hammering an exhausted resource makes it worse), unknown to retryable (limited retries).
BUILTIN_CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category("network", True, "medium"),
        Category("timeout", True, "medium"),
        Category("rate_limit", True, "low"),
        Category("unavailable", True, "high"),
        Category("conflict", True, "low"),
        Category("auth", False, "high"),
        Category("validation", False, "medium"),
        Category("not_found", False, "medium"),
        Category("data", False, "high"),
        Category("resource", False, "critical"),
        Category("configuration", False, "critical"),
        Category("internal", False, "high"),
        Category("unknown", True, "medium"),
    )
}
UNKNOWN = BUILTIN_CATEGORIES["unknown"]
