"""The REST endpoints the emulator serves, and routing a request to one of them.

A path the server knows with the wrong method answers 405, an unknown path 400, and an
unknown query parameter 400 (`contains unrecognized parameter`), as the server does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import search
from .errors import EsError, illegal_argument
from .store import Index, Store

_COMMON = {"pretty", "human", "error_trace"}
_WILDCARDS = {"ignore_unavailable", "allow_no_indices", "expand_wildcards"}
_SEARCH = _WILDCARDS | {
    "rest_total_hits_as_int", "track_total_hits", "size", "from", "_source", "request_cache",
    "preference", "routing", "timeout", "allow_partial_search_results", "search_type",
    "ccs_minimize_roundtrips",
}  # fmt: skip
_BULK = {"refresh", "timeout", "routing", "wait_for_active_shards", "require_alias", "_source"}
_DOC = {"refresh", "routing", "timeout", "op_type", "wait_for_active_shards", "_source"}
_INDEX = {"timeout", "master_timeout", "wait_for_active_shards"} | _WILDCARDS


@dataclass(frozen=True)
class Call:
    """One API request as the endpoints see it."""

    method: str
    path: str
    params: Mapping[str, str]
    body: bytes
    store: Store
    version: str

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        try:
            parsed = json.loads(self.body)
        except ValueError as exc:
            raise EsError(400, "x_content_parse_exception", f"[1:1] {exc}") from None
        if not isinstance(parsed, dict):
            raise EsError(400, "parsing_exception", "request body must be an object", line=1, col=1)
        return parsed

    def indices(self, expression: str) -> list[Index]:
        return self.store.resolve(
            expression,
            ignore_unavailable=self.params.get("ignore_unavailable") == "true",
            allow_no_indices=self.params.get("allow_no_indices", "true") == "true",
        )


@dataclass(frozen=True)
class Reply:
    """A successful answer whose status is not 200."""

    status: int
    body: dict[str, Any]


class BareError(Exception):
    """An error the server answers with a bare string, not an error object."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


class PlainNotFound(EsError):
    """A 404 whose body is not an error object (a missing document)."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(404, "not_found", None)
        self._plain = body

    def body(self) -> dict[str, Any]:
        return self._plain


def dispatch(call: Call) -> Any:
    """The response body of a request (None for HEAD), or the error the server gives."""
    allowed: set[str] = set()
    for methods, pattern, endpoint, params in _ROUTES:
        match = pattern.fullmatch(call.path)
        if match is None:
            continue
        if call.method not in methods:
            allowed.update(methods)
            continue
        for name in call.params:
            if name not in params | _COMMON:
                raise illegal_argument(
                    f"request [{call.path}] contains unrecognized parameter: [{name}]"
                )
        return endpoint(call, match.groupdict())
    if allowed:
        raise BareError(
            405,
            f"Incorrect HTTP method for uri [{call.path}] and method [{call.method}], "
            f"allowed: [{', '.join(sorted(allowed))}]",
        )
    raise BareError(400, f"no handler found for uri [{call.path}] and method [{call.method}]")


def _info(call: Call, _: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": "healer-es-emulator",
        "cluster_name": "healer-test",
        "cluster_uuid": "hEaLeRcLuStErUuId00001",
        "version": {
            "number": call.version,
            "build_flavor": "default",
            "build_type": "docker",
            "build_hash": "0" * 40,
            "build_date": "2025-10-01T00:00:00.000000000Z",
            "build_snapshot": False,
            "lucene_version": "9.12.2",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "tagline": "You Know, for Search",
    }


def _bulk(call: Call, path: Mapping[str, str]) -> dict[str, Any]:
    return call.store.bulk(call.body, path.get("index"))


def _search(call: Call, path: Mapping[str, str]) -> dict[str, Any]:
    return search.search(call.store, path.get("index") or "_all", call.params, call.json())


def _count(call: Call, path: Mapping[str, str]) -> dict[str, Any]:
    return search.count(call.store, path.get("index") or "_all", call.params, call.json())


def _refresh(call: Call, path: Mapping[str, str]) -> dict[str, Any]:
    # Nothing to do: documents are searchable as soon as they are indexed.
    n = len(call.indices(path.get("index") or "_all"))
    return {"_shards": {"total": n, "successful": n, "failed": 0}}


def _mapping(call: Call, path: Mapping[str, str]) -> dict[str, Any]:
    return {
        i.name: {"mappings": {"properties": i.mapping.properties()}}
        for i in call.indices(path["index"])
    }


def _index(call: Call, path: Mapping[str, str]) -> dict[str, Any] | None:
    name = path["index"]
    if call.method == "PUT":
        call.store.create_index(name, call.json())
        return {"acknowledged": True, "shards_acknowledged": True, "index": name}
    if call.method == "DELETE":
        call.store.delete_index(name)
        return {"acknowledged": True}
    indices = call.indices(name)
    if call.method == "HEAD":
        return None
    return {
        i.name: {
            "aliases": {},
            "mappings": {"properties": i.mapping.properties()},
            "settings": {
                "index": {"number_of_shards": "1", "uuid": i.uuid, "provided_name": i.name}
            },
        }
        for i in indices
    }


def _put_document(call: Call, path: Mapping[str, str]) -> Reply:
    create = call.params.get("op_type") == "create" or path.get("create") is not None
    item = call.store.index_one(path["index"], path.get("id"), call.json(), create=create)
    status = item.pop("status")
    return Reply(status, item)


def _document(call: Call, path: Mapping[str, str]) -> dict[str, Any] | Reply:
    if call.method in ("PUT", "POST"):
        return _put_document(call, path)
    index = call.indices(path["index"])[0]
    doc = index.docs.get(path["id"])
    if doc is None:
        raise PlainNotFound({"_index": index.name, "_id": path["id"], "found": False})
    return {
        "_index": index.name,
        "_id": doc.id,
        "_version": 1,
        "_seq_no": doc.seq,
        "_primary_term": 1,
        "found": True,
        "_source": doc.source,
    }


_Endpoint = Callable[[Call, Mapping[str, str]], Any]
_NAME = r"(?P<index>[^/_][^/]*|_all)"
_ROUTES: list[tuple[tuple[str, ...], re.Pattern[str], _Endpoint, set[str]]] = [
    (("GET", "HEAD"), re.compile(r"/"), _info, set()),
    (("POST", "PUT"), re.compile(r"/_bulk"), _bulk, _BULK),
    (("POST", "PUT"), re.compile(rf"/{_NAME}/_bulk"), _bulk, _BULK),
    (("GET", "POST"), re.compile(r"/_search"), _search, _SEARCH),
    (("GET", "POST"), re.compile(rf"/{_NAME}/_search"), _search, _SEARCH),
    (("GET", "POST"), re.compile(r"/_count"), _count, _WILDCARDS),
    (("GET", "POST"), re.compile(rf"/{_NAME}/_count"), _count, _WILDCARDS),
    (("GET", "POST"), re.compile(r"/_refresh"), _refresh, _WILDCARDS),
    (("GET", "POST"), re.compile(rf"/{_NAME}/_refresh"), _refresh, _WILDCARDS),
    (("GET",), re.compile(rf"/{_NAME}/_mapping"), _mapping, _WILDCARDS),
    (("GET", "PUT", "POST"), re.compile(rf"/{_NAME}/_doc/(?P<id>[^/]+)"), _document, _DOC),
    (("POST",), re.compile(rf"/{_NAME}/_doc"), _put_document, _DOC),
    (
        ("PUT", "POST"),
        re.compile(rf"/{_NAME}/(?P<create>_create)/(?P<id>[^/]+)"),
        _put_document,
        _DOC,
    ),
    (("PUT", "GET", "HEAD", "DELETE"), re.compile(rf"/{_NAME}"), _index, _INDEX),
]
