"""`GitHubCodeHost`: proposes a fix as a pull request through GitHub's REST API (githubkit).

Every step can be repeated: the branch is named after the incident and reused when it
exists, a file already holding the wanted text is not committed again, and an open pull
request from the branch is returned instead of opening a second one.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from typing import Any

from githubkit import GitHub
from githubkit.exception import GitHubException, RequestFailed

from healer.domain.codechange import FileVersion, PullRequest
from healer.errors import ActionFailed, HealerError

from .errors import message_of, translate

log = logging.getLogger(__name__)


class GitHubCodeHost:
    """One GitHub (or GitHub Enterprise Server) API, with a token the caller read."""

    def __init__(
        self, *, token: str, base_url: str = "https://api.github.com", timeout: float = 10.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # why: the healer retries on its own schedule (TemporaryError.delay), and a cached
        # read could hide the commit it just made, so neither retry nor cache in the client
        self._github = GitHub(
            token,
            base_url=self.base_url,
            timeout=timeout,
            http_cache=False,
            auto_retry=False,
            user_agent="healer",
        )

    def propose(
        self,
        *,
        repository: str,
        branch: str,
        title: str,
        body: str,
        message: str,
        changes: Mapping[str, str],
        base: str | None = None,
    ) -> PullRequest:
        """Commit `changes` (path → whole new text) on `branch` and open a pull request."""
        base = base or self.default_branch(repository)
        self.ensure_branch(repository, branch, self.head(repository, base))
        for path, text in changes.items():
            self.write_file(repository, path, branch=branch, text=text, message=message)
        found = self.find_pull_request(repository, branch, base=base)
        return found or self.create_pull_request(
            repository, branch=branch, base=base, title=title, body=body
        )

    def default_branch(self, repository: str) -> str:
        owner, name = _split(repository)
        answer = self._call(f"repository {repository}", self._github.rest.repos.get, owner, name)
        return str(_field(answer, "default_branch"))

    def head(self, repository: str, branch: str) -> str:
        """The commit sha `branch` points at."""
        owner, name = _split(repository)
        answer = self._call(
            f"branch {branch} of {repository}",
            self._github.rest.git.get_ref, owner, name, f"heads/{branch}",
        )  # fmt: skip
        return str(_field(_field(answer, "object"), "sha"))

    def ensure_branch(self, repository: str, branch: str, sha: str) -> bool:
        """Create `branch` at `sha`; False when it already exists (a previous run's)."""
        owner, name = _split(repository)
        try:
            self._github.rest.git.create_ref(owner, name, ref=f"refs/heads/{branch}", sha=sha)
        except RequestFailed as exc:
            # why: 422 "Reference already exists" is this incident's branch from an earlier
            # run (or a run that crashed after creating it); carry on with it
            if exc.response.status_code == 422 and "already exists" in message_of(exc):
                log.info("branch %s of %s exists; reusing it", branch, repository)
                return False
            raise self._translate(exc, f"repository {repository}") from exc
        except GitHubException as exc:
            raise self._translate(exc, f"repository {repository}") from exc
        return True

    def read_file(self, repository: str, path: str, *, ref: str) -> FileVersion:
        owner, name = _split(repository)
        answer = self._call(
            f"{path} on {ref} of {repository}",
            self._github.rest.repos.get_content, owner, name, path, ref=ref,
        )  # fmt: skip
        if not isinstance(answer, dict) or answer.get("type") != "file":
            raise ActionFailed(f"GitHub: {path} in {repository} is not a file")
        raw = base64.b64decode(str(_field(answer, "content")))
        return FileVersion(raw.decode("utf-8"), str(_field(answer, "sha")))

    def write_file(
        self, repository: str, path: str, *, branch: str, text: str, message: str
    ) -> bool:
        """Commit `text` to `path` on `branch`; False when it already holds exactly that."""
        current = self.read_file(repository, path, ref=branch)
        if current.text == text:
            return False
        owner, name = _split(repository)
        self._call(
            f"{path} on {branch} of {repository}",
            self._github.rest.repos.create_or_update_file_contents, owner, name, path,
            message=message, content=base64.b64encode(text.encode()).decode(),
            sha=current.sha, branch=branch,
        )  # fmt: skip
        return True

    def find_pull_request(
        self, repository: str, branch: str, *, base: str | None = None
    ) -> PullRequest | None:
        owner, name = _split(repository)
        # why: GitHub ignores a head filter without the owner, returning every pull request
        answer = self._call(
            f"repository {repository}",
            self._github.rest.pulls.list, owner, name, head=f"{owner}:{branch}", state="open",
        )  # fmt: skip
        for pull in answer if isinstance(answer, list) else []:
            if base is None or _field(_field(pull, "base"), "ref") == base:
                return _pull(pull, branch, created=False)
        return None

    def create_pull_request(
        self, repository: str, *, branch: str, base: str, title: str, body: str
    ) -> PullRequest:
        owner, name = _split(repository)
        try:
            answer = self._github.rest.pulls.create(
                owner, name, head=branch, base=base, title=title, body=body
            ).json()
        except RequestFailed as exc:
            # why: another run opened it between our search and this request
            raced = exc.response.status_code == 422 and "already exists" in message_of(exc)
            found = self.find_pull_request(repository, branch, base=base) if raced else None
            if found is not None:
                return found
            raise self._translate(exc, f"branch {branch} or {base} of {repository}") from exc
        except GitHubException as exc:
            raise self._translate(exc, f"repository {repository}") from exc
        return _pull(answer, branch, created=True)

    def _call(self, missing: str, request: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Send one request and return its JSON; `missing` names what a 404 means."""
        try:
            return request(*args, **kwargs).json()
        except GitHubException as exc:
            raise self._translate(exc, missing) from exc
        except ValueError as exc:  # why: a proxy or outage page answered instead of GitHub
            raise self._translate(GitHubException(repr(exc)), missing) from exc

    def _translate(self, exc: GitHubException, missing: str) -> HealerError:
        return translate(exc, missing=missing, base_url=self.base_url)


def _split(repository: str) -> tuple[str, str]:
    owner, _, name = repository.partition("/")
    if not owner or not name:
        raise ActionFailed(f"GitHub: repository {repository!r} is not owner/name")
    return owner, name


def _field(answer: Any, name: str) -> Any:
    if not isinstance(answer, dict) or name not in answer:
        raise ActionFailed(f"GitHub answered without {name!r}: {str(answer)[:200]}")
    return answer[name]


def _pull(answer: Any, branch: str, *, created: bool) -> PullRequest:
    return PullRequest(
        int(_field(answer, "number")), str(_field(answer, "html_url")), branch, created
    )
