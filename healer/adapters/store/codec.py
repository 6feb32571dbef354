"""Domain values to JSON and back, with pydantic over the domain's stdlib dataclasses.

The domain stays free of pydantic: the type adapters are built here, from the dataclass
annotations, so a field added to `Incident` is persisted without touching the store.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError, to_jsonable_python

from healer.domain.model import Incident
from healer.errors import StoreError

_INCIDENT = TypeAdapter(Incident)


def dump_incident(incident: Incident) -> dict[str, Any]:
    """The incident as a JSON-ready dict (sets become lists, enums and times strings)."""
    try:
        document: dict[str, Any] = _INCIDENT.dump_python(incident, mode="json")
    except PydanticSerializationError as exc:
        raise StoreError(f"incident {incident.id} cannot be stored as JSON: {exc}") from exc
    return document


def load_incident(document: Mapping[str, Any]) -> Incident:
    try:
        return _INCIDENT.validate_python(document)
    except ValidationError as exc:
        # A stored document that no longer fits the model (a field renamed without a
        # data migration) must stop the store loudly, not yield a half-read incident.
        raise StoreError(f"stored incident {document.get('id')!r} is unreadable: {exc}") from exc


def jsonable(value: Mapping[str, object]) -> dict[str, Any]:
    """A free-form mapping (event data, action arguments) as JSON-ready values.

    Values JSON has no type for (datetimes, enums, service refs) come back in their
    JSON form: ISO strings, enum values, objects.
    """
    try:
        converted: dict[str, Any] = to_jsonable_python(dict(value))
    except PydanticSerializationError as exc:
        raise StoreError(f"cannot be stored as JSON: {exc}") from exc
    return converted
