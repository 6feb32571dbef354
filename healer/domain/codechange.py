"""What a code host hands back: a file as it is on a branch, and a pull request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileVersion:
    text: str
    sha: str  # the blob sha a later write must name


@dataclass(frozen=True)
class PullRequest:
    number: int
    url: str  # the page a human opens
    branch: str
    created: bool  # False when an open one from the branch was found


@dataclass(frozen=True)
class CodeLocation:
    """Where one service's deployable settings live in git."""

    repository: str  # owner/name
    path: str  # the Helm values file or kustomize patch
    keys: Mapping[str, str] = field(default_factory=dict)  # setting → dotted key
    base: str | None = None  # the branch pull requests target; none: the default one
