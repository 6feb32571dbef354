"""Elasticsearch error bodies, shaped as the real server writes them.

`EsError` carries a status and the `{"error": {...}, "status": N}` body; the server turns
it into a response. Helpers build the errors the emulator raises most often.
"""

from __future__ import annotations

from typing import Any

NODE_ID = "hE4lErNoDe0emuLatOr01Q"


class EsError(Exception):
    """An error response: HTTP status, the error object and any extra headers."""

    def __init__(
        self,
        status: int,
        kind: str,
        reason: str | None,
        *,
        root_cause: list[dict[str, Any]] | None = None,
        headers: dict[str, list[str]] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{status} {kind}: {reason}")
        self.status = status
        cause = {"type": kind, "reason": reason, **_root_extra(extra)}
        self.error: dict[str, Any] = {
            "root_cause": [cause] if root_cause is None else root_cause,
            "type": kind,
            "reason": reason,
            **extra,
        }
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "status": self.status}


def _root_extra(extra: dict[str, Any]) -> dict[str, Any]:
    # The root cause repeats the scalar details (index, line, col) but not nested causes.
    return {k: v for k, v in extra.items() if k not in ("caused_by", "failed_shards", "phase")}


def parsing(reason: str, **extra: Any) -> EsError:
    return EsError(400, "parsing_exception", reason, line=1, col=1, **extra)


def illegal_argument(reason: str) -> EsError:
    return EsError(400, "illegal_argument_exception", reason)


def index_not_found(name: str) -> EsError:
    details: dict[str, Any] = {
        "resource.type": "index_or_alias",
        "resource.id": name,
        "index_uuid": "_na_",
        "index": name,
    }
    return EsError(404, "index_not_found_exception", f"no such index [{name}]", **details)


def all_shards_failed(status: int, failures: list[tuple[str, dict[str, Any]]]) -> EsError:
    """A search whose every shard failed: the shape a query-phase failure takes."""
    causes = [reason for _, reason in failures]
    return EsError(
        status,
        "search_phase_execution_exception",
        "all shards failed",
        root_cause=_distinct(causes),
        phase="query",
        grouped=True,
        failed_shards=shard_failures(failures),
        **({"caused_by": causes[0]} if causes else {}),
    )


def shard_failures(failures: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        {"shard": 0, "index": index, "node": NODE_ID, "reason": reason}
        for index, reason in failures
    ]


def _distinct(causes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    for cause in causes:
        if cause not in seen:
            seen.append(cause)
    return seen


class ShardError(Exception):
    """A failure of the search on one index (one shard): bad field type, missing mapping."""

    def __init__(self, status: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = {"type": kind, "reason": reason}


def fielddata_disabled(field: str, index: str) -> ShardError:
    return ShardError(
        400,
        "illegal_argument_exception",
        f"Fielddata is disabled on [{field}] in [{index}]. Text fields are not optimised for "
        "operations that require per-document field data like aggregations and sorting, so "
        "these operations are disabled by default. Please use a keyword field instead. "
        f"Alternatively, set fielddata=true on [{field}] in order to load field data by "
        "uninverting the inverted index. Note that this can use significant memory.",
    )
