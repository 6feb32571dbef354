"""Kubernetes client errors translated into the healer's `ClusterError`s, at the edge.

Each request is described as a `Call` (verb, resource, namespace, name) so that a refusal
reads the way an on-call engineer would look it up: "may not patch deployments/scale in
namespace shop" points straight at the Role rule that is missing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from healer.errors import ActionConflict, ActionFailed, ClusterError, ClusterUnavailable

DEFAULT_DELAY = 15.0  # seconds before retrying an API that is down and gave no Retry-After


@dataclass(frozen=True)
class Call:
    """One API request, named as RBAC names it: `patch` `deployments/scale` in `shop`."""

    verb: str
    resource: str
    namespace: str
    name: str = ""

    def __str__(self) -> str:
        target = f'{self.resource} "{self.name}"' if self.name else self.resource
        return f'{self.verb} {target} in namespace "{self.namespace}"'


@contextmanager
def calling(call: Call) -> Iterator[None]:
    """Run one client request; whatever the client raises leaves as a `ClusterError`."""
    try:
        yield
    except ApiException as exc:  # why: the server answered; its status says what it means
        raise translate(exc, call) from exc
    except urllib3.exceptions.HTTPError as exc:  # why: no answer at all is temporary
        raise ClusterUnavailable(f"kubernetes: {call}: no answer: {_reason(exc)}") from exc


def translate(exc: ApiException, call: Call) -> ClusterError:
    """The healer's error for an API answer: retry later, read again, or give up."""
    status = int(exc.status or 0)
    reason, message = status_of(exc)
    detail = f": {message}" if message else ""
    if status == 403:
        return ActionFailed(
            f"kubernetes: forbidden: the healer may not {call.verb} {call.resource} in "
            f'namespace "{call.namespace}" (grant it in the healer\'s Role){detail}'
        )
    if status == 404:
        what = f'{call.resource} "{call.name}"' if call.name else call.resource
        return ActionFailed(f'kubernetes: {what} not found in namespace "{call.namespace}"')
    if status == 409 and reason != "AlreadyExists":
        return ActionConflict(f"kubernetes: {call}: changed meanwhile{detail}", delay=0.0)
    if status == 401:
        return ActionFailed(
            f"kubernetes: unauthorized: the API server refused the healer's credentials{detail}"
        )
    if status == 429 or status >= 500 or status in (0, 408, 410):
        return ClusterUnavailable(
            f"kubernetes: {call}: {status or 'no'} {exc.reason or ''}".rstrip() + detail,
            delay=retry_after(exc.headers),
        )
    if status in (400, 422):
        return ActionFailed(f"kubernetes: {call}: refused as invalid{detail}")
    return ActionFailed(f"kubernetes: {call}: {status} {reason or exc.reason or ''}{detail}")


def status_of(exc: ApiException) -> tuple[str, str]:
    """(reason, message) of the `Status` object in an error body, or empty strings."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):  # why: a proxy in between may answer with HTML
        return "", _first_line(exc.body)
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("reason") or ""), str(body.get("message") or "")


def retry_after(headers: Mapping[str, str] | None) -> float:
    """Seconds the server asked us to wait (429 and 503 carry Retry-After), else a default."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else DEFAULT_DELAY
    except ValueError:  # why: an HTTP date is allowed too; the default is close enough
        return DEFAULT_DELAY


def _reason(exc: urllib3.exceptions.HTTPError) -> str:
    # why: MaxRetryError wraps the error that matters (refused, timed out) in `reason`
    inner = getattr(exc, "reason", None)
    return str(inner if isinstance(inner, Exception) else exc)


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else ""
