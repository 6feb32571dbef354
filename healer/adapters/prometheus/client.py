"""The Prometheus HTTP API through prometheus-api-client, with errors in the healer's terms.

Every failure leaves as `SourceUnavailable` (down, refused, timed out, HTTP error) or
`SourceGarbage` (an answer that is not what the API promises), naming the query. Values
that are not finite are dropped here: NaN or ±Inf is "no data", never a number to judge.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from healer.adapters.prometheus.queries import duration
from healer.errors import SourceGarbage, SourceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range matrix: unix milliseconds → value, finite values only."""

    labels: Mapping[str, str]
    points: Mapping[int, float]


@dataclass
class _Answer:
    """What the last HTTP response said besides its result, seen by a response hook."""

    status: int = 0
    error: str = ""
    warnings: list[str] = field(default_factory=list)


class PrometheusClient:
    """Instant and range queries. One caller at a time: the poll loop is synchronous."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        verify_tls: bool = True,
    ) -> None:
        self.queries = 0
        self.timeout = timeout
        parts = urlsplit(url)
        # why: a URL may carry user:password@; messages name only the host
        self.where = f"prometheus at {parts.hostname}:{parts.port or ''}".rstrip(":")
        self._answer = _Answer()
        session = requests.Session()
        session.verify = verify_tls
        session.hooks["response"].append(self._remember)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._api = PrometheusConnect(
            url=url.rstrip("/"),
            headers=headers,
            session=session,
            timeout=timeout,  # type: ignore[arg-type]  # the library says int, uses float
            # why: the poll loop is the retry; one quick reconnect only, never a backoff
            # that would stretch a poll, and HTTP errors come back at once
            retry=Retry(total=1, connect=1, read=False, status=0, backoff_factor=0),
        )

    def close(self) -> None:
        self._api.close()

    def instant(self, name: str, promql: str, at: datetime) -> list[Sample]:
        """The instant vector `promql` evaluates to at `at`."""
        params = {"time": f"{at.timestamp():.3f}", "timeout": duration(self._budget())}
        result = self._call(name, promql, lambda: self._api.custom_query(promql, params=params))
        samples = (self._sample(name, item) for item in _items(self, name, result))
        return [sample for sample in samples if sample is not None]

    def range(
        self, name: str, promql: str, start: datetime, end: datetime, step: timedelta
    ) -> list[Series]:
        """The matrix `promql` evaluates to at every `step` from `start` to `end`."""
        params = {"timeout": duration(self._budget())}
        result = self._call(
            name,
            promql,
            lambda: self._api.custom_query_range(
                promql, start, end, f"{step.total_seconds():g}", params=params
            ),
        )
        return [self._series(name, item) for item in _items(self, name, result)]

    def garbage(self, name: str, what: str) -> SourceGarbage:
        return SourceGarbage(f"{self.where}: query {name!r} answered {what}")

    def _budget(self) -> timedelta:
        # why: ask Prometheus to give up a little before we do, so its own error arrives
        return timedelta(seconds=max(self.timeout * 0.9, 0.001))

    def _call(self, name: str, promql: str, send: Callable[[], object]) -> object:
        self.queries += 1
        self._answer = _Answer()
        log.debug("query %s: %s", name, promql)
        try:
            result = send()
        # why this order: requests' JSONDecodeError is also a RequestException
        except requests.exceptions.JSONDecodeError as exc:
            raise self.garbage(name, f"with malformed JSON ({exc})") from exc
        except requests.Timeout as exc:
            message = f"{self.where}: query {name!r}: no answer within {self.timeout:g} s"
            raise SourceUnavailable(message) from exc
        except requests.RequestException as exc:
            message = f"{self.where}: query {name!r}: request failed: {_reason(exc)}"
            raise SourceUnavailable(message) from exc
        except PrometheusApiClientException as exc:
            message = f"{self.where}: query {name!r} failed: {self._failure(exc)}"
            raise SourceUnavailable(message) from exc
        # why: the library indexes body["data"]["result"] without checking its shape
        except (KeyError, TypeError, IndexError) as exc:
            raise self.garbage(name, "without data.result") from exc
        if self._answer.warnings:
            # A partial answer (a store or shard missing, limits hit): what came back is
            # still true, and what is missing reads as absent, so use it and say so.
            log.warning(
                "%s: query %r answered with warnings, using the partial data: %s",
                self.where,
                name,
                "; ".join(self._answer.warnings),
            )
        return result

    def _failure(self, exc: PrometheusApiClientException) -> str:
        answer = self._answer
        if answer.status:
            return (
                f"HTTP {answer.status}: {answer.error}" if answer.error else f"HTTP {answer.status}"
            )
        return str(exc)[:300]

    def _remember(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Response hook: keep the status, the API's error and its warnings."""
        answer = _Answer(response.status_code)
        self._answer = answer
        if response.status_code == 200 and b'"warnings"' not in response.content:
            return  # why: the common case; the library parses the body itself
        try:
            body = response.json()
        except ValueError:  # why: not JSON (a proxy's HTML page); the caller reports it
            body = None
        if isinstance(body, dict):
            kind, error = body.get("errorType"), body.get("error")
            answer.error = ": ".join(str(p) for p in (kind, error) if p)
            warnings = body.get("warnings")
            if isinstance(warnings, list):
                answer.warnings = [str(w) for w in warnings]
        elif response.status_code != 200:
            answer.error = " ".join(response.text.split())[:200]

    def _sample(self, name: str, item: Mapping[str, Any]) -> Sample | None:
        point = item.get("value")
        if point is None:
            raise self.garbage(name, "a range matrix where an instant vector was expected")
        value = _value(self, name, point)
        return None if value is None else Sample(_labels(self, name, item), value[1])

    def _series(self, name: str, item: Mapping[str, Any]) -> Series:
        raw = item.get("values")
        if not isinstance(raw, list):
            raise self.garbage(name, "an instant vector where a range matrix was expected")
        points = dict(p for point in raw if (p := _value(self, name, point)))
        return Series(_labels(self, name, item), points)


def _items(client: PrometheusClient, name: str, result: object) -> list[Mapping[str, Any]]:
    """The result's series; a scalar or string result is not a list of mappings."""
    if not isinstance(result, list) or not all(isinstance(i, dict) for i in result):
        raise client.garbage(name, "a result that is not a list of series")
    return result


def _labels(client: PrometheusClient, name: str, item: Mapping[str, Any]) -> dict[str, str]:
    labels = item.get("metric")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise client.garbage(name, "a series without a label set")
    return labels


def _value(client: PrometheusClient, name: str, point: object) -> tuple[int, float] | None:
    """(unix ms, value) of one `[time, "value"]` pair; None when the value is not finite."""
    if not (isinstance(point, list) and len(point) == 2 and isinstance(point[1], str)):
        raise client.garbage(name, f"a sample that is not [time, value]: {str(point)[:80]}")
    try:
        at, value = round(float(point[0]) * 1000), float(point[1])
    except (TypeError, ValueError) as exc:
        raise client.garbage(name, f"a sample that is not a number: {str(point)[:80]}") from exc
    return (at, value) if math.isfinite(value) else None


def _reason(exc: requests.RequestException) -> str:
    """The underlying cause, without the request URL (which holds the whole query)."""
    cause = exc.args[0] if exc.args else exc
    reason = getattr(cause, "reason", cause)
    return " ".join(str(reason).split())[:300]
