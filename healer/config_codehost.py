"""Settings for proposing fixes as pull requests: which code host, and where each
service's replica count and pool size live in git.

Kept apart from `config.py` until it is wired in there as the `code_host` group.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

_OWNER_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?/[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class RepositoryTarget(_Group):
    """Where one service's deployable settings are kept in git."""

    repository: str
    """`owner/name` of the repository."""
    path: str
    """The Helm values file or kustomize patch, relative to the repository root."""
    replicas_key: str = "replicaCount"
    """Dotted key of the replica count in that file (`spec.replicas` in a kustomize patch)."""
    pool_key: str | None = None
    """Dotted key of the connection pool size; none when the pool is not set in this file."""
    base: str | None = None
    """Branch the pull request targets; none means the repository's default branch."""

    @field_validator("repository")
    @classmethod
    def _owner_and_name(cls, value: str) -> str:
        if not _OWNER_REPO.fullmatch(value):
            raise ValueError(f"expected owner/name, got {value!r}")
        return value

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if not value or value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"expected a path inside the repository, got {value!r}")
        return value

    def key_for(self, setting: str) -> str | None:
        """The dotted key for a setting ("replicas" or "pool"), if this file holds it."""
        return {"replicas": self.replicas_key, "pool": self.pool_key}.get(setting)


class GitHubSettings(_Group):
    """A GitHub (or GitHub Enterprise Server) REST API."""

    base_url: str = "https://api.github.com"
    """REST API root; `https://HOST/api/v3` for GitHub Enterprise Server."""
    token_env: str = "GITHUB_TOKEN"
    """Name of the environment variable holding the token (never the token itself)."""
    timeout: float = Field(10.0, gt=0)
    """Seconds before a request counts as failed."""


class CodeHostSettings(_Group):
    """Whether fixes that belong in git are proposed as pull requests, and where."""

    kind: Literal["none", "github"] = "none"
    """`none` proposes nothing; `github` opens pull requests."""
    github: GitHubSettings = GitHubSettings()
    """The GitHub API used when kind is `github`."""
    timeline_url: str = "http://127.0.0.1:8080"
    """Base URL of the healer's incident pages, linked from each pull request."""
    repositories: dict[str, RepositoryTarget] = {}
    """`namespace/service` → where that service's settings live."""

    @field_validator("repositories")
    @classmethod
    def _service_names(cls, value: dict[str, RepositoryTarget]) -> dict[str, RepositoryTarget]:
        for name in value:
            if not _SERVICE.fullmatch(name):
                raise ValueError(f"expected namespace/service, got {name!r}")
        return value

    def target_for(self, service: str) -> RepositoryTarget | None:
        """Where `namespace/service` keeps its settings, if it is mapped."""
        return self.repositories.get(service)
