"""GitHubCodeHost through the real githubkit client against the GitHub REST emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from healer.adapters.github import GitHubCodeHost, PullRequest
from healer.errors import ActionFailed, PermanentError, TemporaryError
from healer.pipeline.proposal import propose
from healer.ports import CodeHost
from tests.emulators.github import GitHubEmulator
from tests.pipeline.test_proposal import VALUES, incident

TOKEN = "ghp_healer_test_token"
REPO = "acme/checkout"
PATH = "charts/checkout/values.yaml"


@pytest.fixture
def github() -> Iterator[GitHubEmulator]:
    with GitHubEmulator(tokens={TOKEN}) as gh:
        gh.add_repo(REPO, {PATH: VALUES, "README.md": "# checkout\n"})
        yield gh


def host(github: GitHubEmulator, token: str = TOKEN) -> GitHubCodeHost:
    return GitHubCodeHost(token=token, base_url=github.url, timeout=2.0)


def open_fix(code_host: GitHubCodeHost, *, path: str = PATH) -> PullRequest:
    """What the healer does for a pool fix: read on the base, edit, propose."""
    base = code_host.default_branch(REPO)
    current = code_host.read_file(REPO, path, ref=base)
    proposal = propose(
        incident(), repository=REPO, path=path, text=current.text, key="resources.pool.size",
        value=20, timeline_url="https://healer.example",
    )  # fmt: skip
    return code_host.propose(
        repository=REPO, branch=proposal.branch, title=proposal.title, body=proposal.body,
        message=proposal.message, changes={path: proposal.change.text}, base=base,
    )  # fmt: skip


def test_a_fix_becomes_a_branch_a_commit_and_a_pull_request(github: GitHubEmulator) -> None:
    pull = open_fix(host(github))
    assert pull == PullRequest(
        1, "https://github.example/acme/checkout/pull/1", "healer/inc-42", True
    )
    changed = github.file(REPO, PATH, "healer/inc-42")
    assert changed == VALUES.replace("size: 10 # per replica", "size: 20 # per replica")
    assert github.file(REPO, PATH, "main") == VALUES  # the base is untouched
    repo = github.repo(REPO)
    assert repo.history("healer/inc-42")[0].message.startswith("Set resources.pool.size to 20")
    (opened,) = repo.pulls
    assert (opened.head, opened.base) == ("healer/inc-42", "main")
    assert "[Incident timeline](https://healer.example/incidents/inc-42)" in opened.body
    assert "`resources.pool.size` `10` → `20`" in opened.body


def test_a_second_run_finds_the_open_pull_request_and_commits_nothing(
    github: GitHubEmulator,
) -> None:
    first = open_fix(host(github))
    commits = len(github.repo(REPO).history("healer/inc-42"))
    second = open_fix(host(github))
    assert second.number == first.number and second.url == first.url
    assert second.created is False
    assert len(github.repo(REPO).history("healer/inc-42")) == commits
    assert len(github.repo(REPO).pulls) == 1
    assert ("POST", "/repos/acme/checkout/pulls") not in github.requests[-3:]


def test_an_existing_branch_is_reused(github: GitHubEmulator) -> None:
    code_host = host(github)
    main = code_host.head(REPO, "main")
    assert code_host.ensure_branch(REPO, "healer/inc-42", main) is True
    assert code_host.ensure_branch(REPO, "healer/inc-42", main) is False  # 422 already exists
    assert open_fix(code_host).created is True


def test_a_file_changed_on_the_branch_since_is_updated_with_its_own_sha(
    github: GitHubEmulator,
) -> None:
    code_host = host(github)
    code_host.ensure_branch(REPO, "healer/inc-42", code_host.head(REPO, "main"))
    code_host.write_file(
        REPO, PATH, branch="healer/inc-42", text=VALUES + "# note\n", message="note"
    )
    open_fix(code_host)
    assert "size: 20 # per replica" in github.file(REPO, PATH, "healer/inc-42")


def test_a_missing_repository_is_named(github: GitHubEmulator) -> None:
    with pytest.raises(ActionFailed, match=r"repository acme/nope not found \(404\)"):
        host(github).default_branch("acme/nope")


def test_a_missing_file_is_named(github: GitHubEmulator) -> None:
    with pytest.raises(ActionFailed, match=r"charts/gone\.yaml on main of acme/checkout not found"):
        open_fix(host(github), path="charts/gone.yaml")


def test_a_missing_base_branch_is_named(github: GitHubEmulator) -> None:
    with pytest.raises(ActionFailed, match=r"branch release of acme/checkout not found"):
        host(github).head(REPO, "release")


def test_a_refused_token_is_permanent_and_says_so(github: GitHubEmulator) -> None:
    with pytest.raises(PermanentError, match="GitHub token refused") as refused:
        open_fix(host(github, token="ghp_wrong"))
    assert "Bad credentials" in str(refused.value)
    assert TOKEN not in str(refused.value)


@pytest.mark.parametrize("kind", ["500", "502", "503", "rate_limit", "secondary_rate_limit", "429"])
def test_outages_and_rate_limits_are_temporary(github: GitHubEmulator, kind: str) -> None:
    github.inject(kind, 1, endpoint="/pulls")
    with pytest.raises(TemporaryError) as failed:
        open_fix(host(github))
    assert not isinstance(failed.value, PermanentError)
    assert failed.value.delay >= 1
    assert len(github.repo(REPO).pulls) == 0
    assert open_fix(host(github)).created is True  # the retry carries on from the branch


def test_a_rate_limit_waits_until_the_reset(github: GitHubEmulator) -> None:
    github.inject("rate_limit", 1)
    with pytest.raises(TemporaryError, match="rate limit") as limited:
        host(github).default_branch(REPO)
    assert 3000 < limited.value.delay <= 3600


def test_a_timeout_is_temporary(github: GitHubEmulator) -> None:
    github.inject("timeout", 1, delay=3.0)
    code_host = GitHubCodeHost(token=TOKEN, base_url=github.url, timeout=0.3)
    with pytest.raises(TemporaryError, match="did not answer in time"):
        code_host.default_branch(REPO)


def test_nothing_to_change_is_refused_clearly(github: GitHubEmulator) -> None:
    code_host = host(github)
    with pytest.raises(ActionFailed, match="No commits between"):
        code_host.propose(
            repository=REPO, branch="healer/inc-9", title="t", body="b", message="m",
            changes={PATH: VALUES},
        )  # fmt: skip


def test_the_adapter_is_the_code_host_the_pipeline_knows() -> None:
    host: CodeHost = GitHubCodeHost(token="t", base_url="http://127.0.0.1:9")
    assert callable(host.propose) and callable(host.read_file)
