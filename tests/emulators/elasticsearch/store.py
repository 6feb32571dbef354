"""Indices and their documents, the bulk API, and index-pattern resolution.

Documents are searchable as soon as they are indexed (the emulator has no refresh
interval). One lock guards everything: the HTTP server answers on many threads.
"""

from __future__ import annotations

import base64
import fnmatch
import itertools
import json
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import EsError, illegal_argument, index_not_found
from .mapping import IndexMapping

_BAD_NAME = re.compile(r'[\\/*?"<>| ,#:]')
_ACTIONS = ("create", "delete", "index", "update")


def _new_id() -> str:
    # Twenty URL-safe characters, like the ids the server generates.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:20]


@dataclass
class Doc:
    """One stored document and the mapping of its index, with typed values cached."""

    index: str
    id: str
    source: dict[str, Any]
    mapping: IndexMapping
    seq: int
    _cache: dict[str, list[Any]] = field(default_factory=dict, repr=False)

    def values(self, name: str) -> list[Any]:
        if name not in self._cache:
            self._cache[name] = self.mapping.values(self.source, name)
        return self._cache[name]


@dataclass
class Index:
    name: str
    mapping: IndexMapping
    uuid: str = field(default_factory=_new_id)
    docs: dict[str, Doc] = field(default_factory=dict)


class Store:
    """Every index of the emulated cluster."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.indices: dict[str, Index] = {}
        self._seq = itertools.count()

    def create_index(self, name: str, body: Mapping[str, Any] | None) -> Index:
        check_index_name(name)
        with self.lock:
            if name in self.indices:
                existing = self.indices[name]
                raise EsError(
                    400,
                    "resource_already_exists_exception",
                    f"index [{name}/{existing.uuid}] already exists",
                    index_uuid=existing.uuid,
                    index=name,
                )
            mappings = (body or {}).get("mappings") or {}
            index = Index(name, IndexMapping.from_properties(mappings.get("properties") or {}))
            self.indices[name] = index
            return index

    def delete_index(self, name: str) -> None:
        with self.lock:
            for index in self.resolve(name, ignore_unavailable=False, allow_no_indices=False):
                del self.indices[index.name]

    def resolve(
        self, expression: str, *, ignore_unavailable: bool, allow_no_indices: bool
    ) -> list[Index]:
        """Indices named by a comma-separated list of names and wildcard patterns."""
        with self.lock:
            found: dict[str, Index] = {}
            for part in expression.split(",") if expression not in ("", "_all") else ["*"]:
                if part.startswith("-"):
                    for name in fnmatch.filter(list(found), part[1:]):
                        del found[name]
                elif "*" in part or "?" in part:
                    visible = [
                        n for n in self.indices if not n.startswith(".") or part.startswith(".")
                    ]
                    found.update((n, self.indices[n]) for n in fnmatch.filter(visible, part))
                elif part in self.indices:
                    found[part] = self.indices[part]
                elif not ignore_unavailable:
                    raise index_not_found(part)
            if not found and not allow_no_indices:
                raise index_not_found(expression)
            return sorted(found.values(), key=lambda i: i.name)

    def bulk(self, payload: bytes, default_index: str | None) -> dict[str, Any]:
        """Run an NDJSON bulk request; per-item results, `errors` if any item failed."""
        operations = parse_bulk(payload)  # why: a malformed line fails the request, not an item
        with self.lock:
            items = [
                {action: self._apply(action, meta, source, default_index)}
                for action, meta, source in operations
            ]
        errors = any("error" in next(iter(i.values())) for i in items)
        return {"errors": errors, "took": 1, "items": items}

    def index_one(
        self, name: str, doc_id: str | None, source: Any, *, create: bool
    ) -> dict[str, Any]:
        """Index one document (`PUT /<index>/_doc/<id>`); an error fails the request."""
        meta = {"_index": name, "_id": doc_id}
        with self.lock:
            item = self._apply("create" if create else "index", meta, source, None)
        if "error" in item:
            error = item["error"]
            raise EsError(item["status"], error["type"], error["reason"])
        return item

    def _apply(
        self, action: str, meta: Mapping[str, Any], source: Any, default_index: str | None
    ) -> dict[str, Any]:
        name = meta.get("_index", default_index)
        if not name:
            raise EsError(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            )
        doc_id = str(meta.get("_id") or _new_id())
        try:
            if action == "delete":
                return self._delete(name, doc_id)
            if action == "update":
                raise illegal_argument("the emulator does not support bulk [update]")
            if not isinstance(source, dict):
                raise EsError(
                    400,
                    "document_parsing_exception",
                    "[1:1] failed to parse: document must be an object",
                )
            return self._index(name, doc_id, source, create=action == "create")
        except EsError as exc:
            return {"_index": name, "_id": doc_id, "status": exc.status, "error": _item_error(exc)}

    def _index(
        self, name: str, doc_id: str, source: dict[str, Any], *, create: bool
    ) -> dict[str, Any]:
        index = self.indices.get(name) or self.create_index(name, None)
        if create and doc_id in index.docs:
            raise EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, document already exists (current version [1])",
                index_uuid=index.uuid,
                shard="0",
                index=name,
            )
        index.mapping.learn(source, doc_id)
        created = doc_id not in index.docs
        seq = next(self._seq)
        index.docs[doc_id] = Doc(name, doc_id, source, index.mapping, seq)
        return _item(
            name, doc_id, seq, "created" if created else "updated", 201 if created else 200
        )

    def _delete(self, name: str, doc_id: str) -> dict[str, Any]:
        index = self.indices.get(name)
        found = index is not None and index.docs.pop(doc_id, None) is not None
        seq = next(self._seq)
        return _item(name, doc_id, seq, "deleted" if found else "not_found", 200 if found else 404)


def check_index_name(name: str) -> None:
    if name != name.lower():
        raise _invalid_name(name, "must be lowercase")
    if _BAD_NAME.search(name):
        raise _invalid_name(
            name, 'must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?]'
        )
    if name.startswith(("-", "_", "+")) or name in (".", ".."):
        raise _invalid_name(name, "must not start with '_', '-', or '+'")


def _invalid_name(name: str, why: str) -> EsError:
    return EsError(
        400,
        "invalid_index_name_exception",
        f"Invalid index name [{name}], {why}",
        index_uuid="_na_",
        index=name,
    )


def _item(name: str, doc_id: str, seq: int, result: str, status: int) -> dict[str, Any]:
    return {
        "_index": name,
        "_id": doc_id,
        "_version": 1,
        "result": result,
        "_shards": {"total": 2, "successful": 1, "failed": 0},
        "_seq_no": seq,
        "_primary_term": 1,
        "status": status,
    }


def _item_error(exc: EsError) -> dict[str, Any]:
    return {k: v for k, v in exc.error.items() if k != "root_cause"}


Operation = tuple[str, Mapping[str, Any], Any]


def parse_bulk(payload: bytes) -> list[Operation]:
    """(action, metadata, source) of each operation; delete has no source line."""
    lines = _ndjson_lines(payload)
    operations: list[Operation] = []
    position = 0
    while position < len(lines):
        action, meta = _action(lines[position], position + 1)
        source = None
        if action != "delete":
            if position + 1 >= len(lines):
                raise illegal_argument(
                    f"Malformed action/metadata line [{position + 1}], expected a source line"
                )
            source = _json_line(lines[position + 1], position + 2)
        operations.append((action, meta, source))
        position += 1 if action == "delete" else 2
    return operations


def _ndjson_lines(payload: bytes) -> list[bytes]:
    if payload and not payload.endswith(b"\n"):
        raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
    lines = [line for line in payload.split(b"\n") if line.strip()]
    if not lines:
        raise EsError(
            400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"
        )
    return lines


def _action(line: bytes, number: int) -> tuple[str, Mapping[str, Any]]:
    parsed = _json_line(line, number)
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise illegal_argument(
            f"Malformed action/metadata line [{number}], expected START_OBJECT or END_OBJECT "
            "but found [VALUE_STRING]"
        )
    action, meta = next(iter(parsed.items()))
    if action not in _ACTIONS:
        raise illegal_argument(
            f"Malformed action/metadata line [{number}], expected one of "
            f"[create, delete, index, update] but found [{action}]"
        )
    if not isinstance(meta, dict):
        raise illegal_argument(
            f"Malformed action/metadata line [{number}], expected START_OBJECT but found [{meta}]"
        )
    return action, meta


def _json_line(line: bytes, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise EsError(
            400, "x_content_parse_exception", f"[{number}:1] Unexpected character in bulk line"
        ) from None
