"""Routing and the repository and git refs endpoints; contents and pulls have their own
modules. Each handler takes a `Call` and returns `(status, body)` or raises `GitHubError`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import DOCS, GitHubError, not_found, unprocessable
from .state import Repo, State

DOCS_REPO = "https://docs.github.com/rest/repos/repos#get-a-repository"
DOCS_GET_REF = "https://docs.github.com/rest/git/refs#get-a-reference"
DOCS_CREATE_REF = "https://docs.github.com/rest/git/refs#create-a-reference"

Answer = tuple[int, Any]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    params: dict[str, str]
    body: bytes
    state: State
    base_url: str  # what `url` fields in answers start with

    def json(self) -> dict[str, Any]:
        try:
            parsed = json.loads(self.body or b"{}")
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON") from None
        if not isinstance(parsed, dict):
            raise GitHubError(400, "Problems parsing JSON")
        return parsed

    def api(self, repo: Repo, rest: str = "") -> str:
        return f"{self.base_url}/repos/{repo.full_name}{rest}"

    def html(self, repo: Repo, rest: str = "") -> str:
        return f"https://github.example/{repo.full_name}{rest}"


Handler = Callable[[Call, Repo, re.Match[str]], Answer]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Register a handler for `/repos/{owner}/{repo}` + `pattern`."""

    def register(handler: Handler) -> Handler:
        regex = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)" + pattern + "$")
        _ROUTES.append((method, regex, handler))
        return handler

    return register


def dispatch(call: Call) -> Answer:
    for method, regex, handler in _ROUTES:
        match = regex.match(call.path)
        if match is None or method != call.method:
            continue
        with call.state.lock:
            repo = call.state.repo(match["owner"], match["repo"])
            if repo is None:
                raise not_found(DOCS_REPO if handler is get_repo else DOCS)
            return handler(call, repo, match)
    raise not_found()


def resolve(repo: Repo, ref: str) -> str | None:
    """The commit sha a branch name, `heads/x`, `refs/heads/x` or a commit sha names."""
    if ref in repo.commits:
        return ref
    name = ref.removeprefix("refs/").removeprefix("heads/")
    return repo.branches.get(name)


def ref_body(call: Call, repo: Repo, branch: str) -> dict[str, Any]:
    sha = repo.branches[branch]
    return {
        "ref": f"refs/heads/{branch}",
        "node_id": f"REF_{repo.id}_{branch}",
        "url": call.api(repo, f"/git/refs/heads/{branch}"),
        "object": {"sha": sha, "type": "commit", "url": call.api(repo, f"/git/commits/{sha}")},
    }


@route("GET", "")
def get_repo(call: Call, repo: Repo, _: re.Match[str]) -> Answer:
    owner = {"login": repo.owner, "id": repo.id * 7, "type": "Organization"}
    return 200, {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "owner": owner,
        "private": repo.private,
        "visibility": "private" if repo.private else "public",
        "html_url": call.html(repo),
        "url": call.api(repo),
        "default_branch": repo.default_branch,
        "permissions": {"admin": False, "push": True, "pull": True},
    }


@route("GET", r"/git/ref/(?P<ref>.+)")
def get_ref(call: Call, repo: Repo, match: re.Match[str]) -> Answer:
    ref = match["ref"]
    if not ref.startswith("heads/") or ref.removeprefix("heads/") not in repo.branches:
        raise not_found(DOCS_GET_REF)
    return 200, ref_body(call, repo, ref.removeprefix("heads/"))


@route("POST", r"/git/refs")
def create_ref(call: Call, repo: Repo, _: re.Match[str]) -> Answer:
    spec = call.json()
    ref, sha = spec.get("ref"), spec.get("sha")
    if not isinstance(ref, str) or not isinstance(sha, str):
        raise unprocessable('Invalid request.\n\n"ref", "sha" weren\'t supplied.', DOCS_CREATE_REF)
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise unprocessable(
            "Reference name must start with 'refs/' and have at least two slashes.",
            DOCS_CREATE_REF,
        )
    if not ref.startswith("refs/heads/"):
        raise unprocessable("Reference update failed", DOCS_CREATE_REF)  # only branches here
    branch = ref.removeprefix("refs/heads/")
    if branch in repo.branches:
        raise unprocessable("Reference already exists", DOCS_CREATE_REF)
    if sha not in repo.commits:
        raise unprocessable("Object does not exist", DOCS_CREATE_REF)
    repo.branches[branch] = sha
    return 201, ref_body(call, repo, branch)
