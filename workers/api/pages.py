"""Paging of API lists: ?limit= and ?offset=, with the next offset when there may be more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Query, Request

from workers.api.ids import MAX_ROW_ID


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int

    def wrap(self, items: list[Any]) -> dict[str, Any]:
        more = len(items) == self.limit
        return {"items": items, "limit": self.limit, "offset": self.offset,
                "next_offset": self.offset + self.limit if more else None}


def page(request: Request,
         limit: int = Query(50, ge=1, le=MAX_ROW_ID, description="Rows per page (at most MEDIC_SERVE__PAGE_MAX)."),
         offset: int = Query(0, ge=0, le=MAX_ROW_ID, description="Rows to skip.")) -> Page:
    return Page(min(limit, request.app.state.settings.serve.page_max), offset)
