"""GitHub as the healer's code host: fixes that belong in git become pull requests."""

from healer.domain.codechange import FileVersion, PullRequest

from .codehost import GitHubCodeHost

__all__ = ["FileVersion", "GitHubCodeHost", "PullRequest"]
