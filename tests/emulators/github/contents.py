"""`GET` and `PUT /repos/{owner}/{repo}/contents/{path}`: files as base64 with their blob
sha; a write commits on a branch and must name the sha it replaces."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from .endpoints import Answer, Call, resolve, route
from .errors import GitHubError, not_found, unprocessable
from .state import Repo, blob_sha

DOCS_GET = "https://docs.github.com/rest/repos/contents#get-repository-content"
DOCS_PUT = "https://docs.github.com/rest/repos/contents#create-or-update-file-contents"


def _encode(content: bytes) -> str:
    # GitHub wraps the base64 at 60 characters, with a trailing newline.
    text = base64.b64encode(content).decode()
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def _entry(call: Call, repo: Repo, path: str, content: bytes, ref: str) -> dict[str, Any]:
    sha = blob_sha(content)
    return {
        "type": "file",
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "sha": sha,
        "size": len(content),
        "url": call.api(repo, f"/contents/{path}?ref={ref}"),
        "html_url": call.html(repo, f"/blob/{ref}/{path}"),
        "git_url": call.api(repo, f"/git/blobs/{sha}"),
        "download_url": f"https://raw.github.example/{repo.full_name}/{ref}/{path}",
    }


@route("GET", r"/contents/?(?P<path>.*)")
def get_content(call: Call, repo: Repo, match: re.Match[str]) -> Answer:
    ref = call.params.get("ref") or repo.default_branch
    sha = resolve(repo, ref)
    if sha is None:
        raise GitHubError(404, f"No commit found for the ref {ref}", docs=DOCS_GET)
    tree, path = repo.commits[sha].tree, match["path"].strip("/")
    if path in tree:
        content = tree[path]
        return 200, {
            **_entry(call, repo, path, content, ref),
            "content": _encode(content),
            "encoding": "base64",
        }
    listing = _directory(call, repo, tree, path, ref)
    if not listing:
        raise not_found(DOCS_GET)
    return 200, listing


def _directory(
    call: Call, repo: Repo, tree: dict[str, bytes], path: str, ref: str
) -> list[dict[str, Any]]:
    prefix = f"{path}/" if path else ""
    names = sorted({p[len(prefix) :].split("/")[0] for p in tree if p.startswith(prefix)})
    entries = []
    for name in names:
        full = prefix + name
        if full in tree:
            entries.append(_entry(call, repo, full, tree[full], ref))
        else:
            entries.append({"type": "dir", "name": name, "path": full, "sha": None, "size": 0})
    return entries


@route("PUT", r"/contents/(?P<path>.+)")
def put_content(call: Call, repo: Repo, match: re.Match[str]) -> Answer:
    spec, path = call.json(), match["path"].strip("/")
    content = _decoded(spec)
    branch = spec.get("branch") or repo.default_branch
    tree = repo.tree(branch)
    if tree is None:
        raise GitHubError(404, f"Branch {branch} not found", docs=DOCS_PUT)
    if path in tree:
        _check_sha(spec.get("sha"), path, tree[path])
    updated = path in tree
    commit = repo.commit(branch, str(spec["message"]), {**tree, path: content})
    body = {
        "content": _entry(call, repo, path, content, branch),
        "commit": {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:12]}",
            "url": call.api(repo, f"/git/commits/{commit.sha}"),
            "html_url": call.html(repo, f"/commit/{commit.sha}"),
            "message": commit.message,
            "parents": [{"sha": commit.parent, "url": call.api(repo, f"/commits/{commit.parent}")}],
        },
    }
    return (200 if updated else 201), body


def _decoded(spec: dict[str, Any]) -> bytes:
    missing = [f'"{name}"' for name in ("message", "content") if name not in spec]
    if missing:
        verb = "wasn't" if len(missing) == 1 else "weren't"
        raise unprocessable(f"Invalid request.\n\n{', '.join(missing)} {verb} supplied.", DOCS_PUT)
    try:
        return base64.b64decode(str(spec["content"]), validate=True)
    except (binascii.Error, ValueError):
        raise unprocessable("content is not valid Base64", DOCS_PUT) from None


def _check_sha(given: object, path: str, current: bytes) -> None:
    """Updating a file requires the blob sha it replaces, as optimistic locking."""
    if given is None:
        raise unprocessable('Invalid request.\n\n"sha" wasn\'t supplied.', DOCS_PUT)
    if given != blob_sha(current):
        raise GitHubError(409, f"{path} does not match {given}", docs=DOCS_PUT)
