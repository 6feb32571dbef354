"""What a code host hands back: a file as it is on a branch, and a pull request."""

from __future__ import annotations

from dataclasses import dataclass


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
