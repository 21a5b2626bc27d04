"""Settings of the reconciliation job (workers/maintenance/reconcile/)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReconcileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fix_own: bool = Field(True, description="Fix medic's own inconsistencies (counters, orphaned claims, contradictory states).")
