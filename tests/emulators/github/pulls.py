"""`GET` and `POST /repos/{owner}/{repo}/pulls`: listing filtered by `head=owner:branch`,
`base` and `state`, and opening a pull request with GitHub's validation failures."""

from __future__ import annotations

import re
from typing import Any

from .endpoints import Answer, Call, route
from .errors import validation_failed
from .state import Pull, Repo

DOCS_LIST = "https://docs.github.com/rest/pulls/pulls#list-pull-requests"
DOCS_CREATE = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request"


def _branch_body(call: Call, repo: Repo, branch: str, sha: str) -> dict[str, Any]:
    return {
        "label": f"{repo.owner}:{branch}",
        "ref": branch,
        "sha": sha,
        "repo": {"id": repo.id, "name": repo.name, "full_name": repo.full_name},
    }


def pull_body(call: Call, repo: Repo, pull: Pull) -> dict[str, Any]:
    base_sha = repo.branches.get(pull.base, "")
    return {
        "id": repo.id * 100_000 + pull.number,
        "node_id": f"PR_{repo.id}_{pull.number}",
        "number": pull.number,
        "state": pull.state,
        "locked": False,
        "title": pull.title,
        "body": pull.body,
        "draft": pull.draft,
        "user": {"login": "healer-bot", "id": 4242, "type": "Bot"},
        "url": call.api(repo, f"/pulls/{pull.number}"),
        "html_url": call.html(repo, f"/pull/{pull.number}"),
        "head": _branch_body(call, repo, pull.head, pull.head_sha),
        "base": _branch_body(call, repo, pull.base, base_sha),
        "merged_at": None,
    }


@route("GET", r"/pulls")
def list_pulls(call: Call, repo: Repo, _: re.Match[str]) -> Answer:
    state = call.params.get("state", "open")
    head = call.params.get("head")
    base = call.params.get("base")
    found = [
        p
        for p in repo.pulls
        if state in ("all", p.state)
        and (base is None or p.base == base)
        and _head_matches(repo, head, p)
    ]
    return 200, [pull_body(call, repo, p) for p in sorted(found, key=lambda p: -p.number)]


def _head_matches(repo: Repo, head: str | None, pull: Pull) -> bool:
    # GitHub ignores a `head` filter without the `owner:` part, so it matches every pull.
    if head is None or ":" not in head:
        return True
    owner, _, branch = head.partition(":")
    return owner.lower() == repo.owner.lower() and branch == pull.head


@route("POST", r"/pulls")
def create_pull(call: Call, repo: Repo, _: re.Match[str]) -> Answer:
    spec = call.json()
    missing = [f for f in ("head", "base") if not spec.get(f)]
    if missing:
        errors = [{"resource": "PullRequest", "field": f, "code": "missing_field"} for f in missing]
        raise validation_failed(DOCS_CREATE, *errors)
    head = str(spec["head"]).split(":", 1)[-1]
    base = str(spec["base"])
    _check_branches(repo, head, base)
    number = 1 + max((p.number for p in repo.pulls), default=0)
    pull = Pull(
        number,
        str(spec.get("title") or head),
        str(spec.get("body") or ""),
        head,
        base,
        repo.branches[head],
        draft=bool(spec.get("draft", False)),
    )
    repo.pulls.append(pull)
    return 201, pull_body(call, repo, pull)


def _check_branches(repo: Repo, head: str, base: str) -> None:
    invalid = [f for f, b in (("base", base), ("head", head)) if b not in repo.branches]
    if invalid:
        errors = [{"resource": "PullRequest", "field": f, "code": "invalid"} for f in invalid]
        raise validation_failed(DOCS_CREATE, *errors)
    base_commits = {c.sha for c in repo.history(base)}
    if all(c.sha in base_commits for c in repo.history(head)):
        raise validation_failed(
            DOCS_CREATE, _custom(f"No commits between {repo.owner}:{base} and {repo.owner}:{head}")
        )
    if any(p.state == "open" and p.head == head and p.base == base for p in repo.pulls):
        raise validation_failed(
            DOCS_CREATE, _custom(f"A pull request already exists for {repo.owner}:{head}.")
        )


def _custom(message: str) -> dict[str, Any]:
    return {"resource": "PullRequest", "code": "custom", "message": message}
