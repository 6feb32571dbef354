"""GitHub REST error bodies: `{"message", "documentation_url", "status"}`, plus `errors`
for a 422 "Validation Failed", as the API documents them."""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.github.com/rest"


class GitHubError(Exception):
    """An error response: status, the body GitHub writes, and any extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        docs: str = DOCS,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.docs = docs
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = self.errors
        body["documentation_url"] = self.docs
        body["status"] = str(self.status)  # why: GitHub sends the status as a string
        return body


def not_found(docs: str = DOCS) -> GitHubError:
    return GitHubError(404, "Not Found", docs=docs)


def validation_failed(docs: str, *errors: dict[str, Any]) -> GitHubError:
    return GitHubError(422, "Validation Failed", docs=docs, errors=list(errors))


def unprocessable(message: str, docs: str) -> GitHubError:
    """A 422 whose message says it all, as the git refs and contents endpoints answer."""
    return GitHubError(422, message, docs=docs)
