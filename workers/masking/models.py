"""Masking a pydantic model, such as an event: every field, declared or extra, at every depth."""

from __future__ import annotations

from functools import cache
from typing import Any, TypeVar, get_args

from pydantic import BaseModel

from medic_client.masking import mask_value

Model = TypeVar("Model", bound=BaseModel)


def mask_model(model: Model) -> Model:
    """A masked copy of the model (the model itself when nothing in it needed masking), unvalidated:
    masking may lengthen a value past a limit.

    Nothing is left out by name: every declared field goes through mask_value, or, when its type
    holds models (an event's targets and causes), through mask_model; extra fields are masked as
    one JSON object.
    """
    fields = {name: getattr(model, name) for name in type(model).model_fields}
    holding_models = _fields_holding_models(type(model))
    declared = {name: _masked_models(value) if name in holding_models else mask_value(value)
                for name, value in fields.items()}
    extra = mask_value(model.model_extra) if model.model_extra else {}
    if declared == fields and extra == (model.model_extra or {}):
        return model
    return type(model).model_construct(model.model_fields_set, **declared, **extra)


@cache
def _fields_holding_models(model_type: type[BaseModel]) -> frozenset[str]:
    """The fields whose type names a model, found in the types themselves: `replay: Target | None`."""
    return frozenset(name for name, field in model_type.model_fields.items() if _names_a_model(field.annotation))


def _names_a_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_names_a_model(argument) for argument in get_args(annotation))


def _masked_models(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return mask_model(value)
    if isinstance(value, list):
        return [_masked_models(item) for item in value]
    return mask_value(value)
