"""Masking a pydantic model, such as an event: every field, declared or extra, at every depth."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from workers.masking.data import mask_value

Model = TypeVar("Model", bound=BaseModel)


def mask_model(model: Model) -> Model:
    """A masked copy of the model, unvalidated (masking may lengthen a value past a limit).

    Nothing is left out by name: each declared field, whatever it is (a text, a name, a target
    that is a model itself), goes through mask_value or, for a model, through mask_model; extra
    fields are masked as one JSON object.
    """
    declared = {name: _masked_field(getattr(model, name)) for name in type(model).model_fields}
    extra = mask_value(model.model_extra) if model.model_extra else {}
    return type(model).model_construct(model.model_fields_set, **declared, **extra)


def _masked_field(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return mask_model(value)
    if isinstance(value, list) and any(isinstance(item, BaseModel) for item in value):
        return [_masked_field(item) for item in value]
    return mask_value(value)
