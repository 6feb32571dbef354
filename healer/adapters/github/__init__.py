"""GitHub as the healer's code host: fixes that belong in git become pull requests."""

from .codehost import FileVersion, GitHubCodeHost, PullRequest

__all__ = ["FileVersion", "GitHubCodeHost", "PullRequest"]
