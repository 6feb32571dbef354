"""GitHub's failures translated into the healer's two axes at the adapter edge.

401 is a refused token and 404 a missing repository, path or branch: permanent, a human
must fix the configuration. Rate limits, 5xx, 409 races and timeouts are temporary.
"""

from __future__ import annotations

from githubkit.exception import (
    GitHubException,
    RateLimitExceeded,
    RequestFailed,
    RequestTimeout,
)

from healer.errors import ActionFailed, HealerError, TemporaryError


def message_of(exc: RequestFailed) -> str:
    """GitHub's own `message` (and validation `errors`), or the status line without one."""
    try:
        body = exc.response.json()
    except ValueError:
        return f"HTTP {exc.response.status_code}"
    if not isinstance(body, dict):
        return f"HTTP {exc.response.status_code}"
    message = str(body.get("message", f"HTTP {exc.response.status_code}"))
    details = [str(e.get("message") or e) for e in body.get("errors") or [] if isinstance(e, dict)]
    return "; ".join([message, *details])


def translate(exc: GitHubException, *, missing: str, base_url: str) -> HealerError:
    """The healer error for a failed request; `missing` names what a 404 means here."""
    if isinstance(exc, RateLimitExceeded):
        delay = max(exc.retry_after.total_seconds(), 1.0)
        return TemporaryError(f"GitHub rate limit reached: {message_of(exc)}", delay=delay)
    if isinstance(exc, RequestTimeout):
        return TemporaryError(f"GitHub at {base_url} did not answer in time")
    if not isinstance(exc, RequestFailed):
        # why: connection refused, DNS, TLS: the API is unreachable, maybe only for now
        return TemporaryError(f"GitHub at {base_url} unreachable: {exc!r}")
    status = exc.response.status_code
    if status == 401:
        return ActionFailed(f"GitHub token refused by {base_url} (401 {message_of(exc)})")
    if status == 404:
        return ActionFailed(f"GitHub: {missing} not found (404), or the token cannot see it")
    if status == 409:
        return TemporaryError(f"GitHub: {missing} changed meanwhile (409 {message_of(exc)})")
    if status == 429 or status >= 500:
        return TemporaryError(f"GitHub answered {status}: {message_of(exc)}")
    return ActionFailed(f"GitHub refused ({status}): {message_of(exc)}")
