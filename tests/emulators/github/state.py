"""The emulated GitHub's memory: repositories with branches, commits as whole file trees,
and pull requests. Shas are computed the way git computes them where a client can see it
(blob shas), and are stable hashes elsewhere (commits)."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field


def blob_sha(content: bytes) -> str:
    """The git blob id of a file's content, as the contents API reports it."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    parent: str | None
    tree: dict[str, bytes]


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str  # branch name in the same repository
    base: str
    head_sha: str
    state: str = "open"
    draft: bool = False


@dataclass
class Repo:
    owner: str
    name: str
    default_branch: str
    id: int
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)
    pulls: list[Pull] = field(default_factory=list)
    private: bool = True

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"

    def tree(self, branch: str) -> dict[str, bytes] | None:
        sha = self.branches.get(branch)
        return None if sha is None else self.commits[sha].tree

    def commit(self, branch: str, message: str, tree: dict[str, bytes]) -> Commit:
        """Add a commit on top of `branch` (created when new) and move the branch to it."""
        parent = self.branches.get(branch)
        digest = hashlib.sha1(f"{parent}\n{message}\n{len(self.commits)}".encode())
        for path in sorted(tree):
            digest.update(f"{path}\0{blob_sha(tree[path])}".encode())
        commit = Commit(digest.hexdigest(), message, parent, dict(tree))
        self.commits[commit.sha] = commit
        self.branches[branch] = commit.sha
        return commit

    def history(self, branch: str) -> list[Commit]:
        """Commits reachable from `branch`, newest first."""
        found, sha = [], self.branches.get(branch)
        while sha is not None:
            found.append(self.commits[sha])
            sha = self.commits[sha].parent
        return found


class State:
    """Every repository, behind one lock: handler threads serve requests concurrently."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}

    def add_repo(
        self,
        full_name: str,
        files: dict[str, str],
        *,
        default_branch: str = "main",
        private: bool = True,
    ) -> Repo:
        owner, _, name = full_name.partition("/")
        with self.lock:
            repo = Repo(owner, name, default_branch, 1000 + len(self.repos), private=private)
            tree = {path: text.encode() for path, text in files.items()}
            repo.commit(default_branch, "Initial commit", tree)
            self.repos[full_name.lower()] = repo  # why: GitHub matches owner/name case-blind
            return repo

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())
