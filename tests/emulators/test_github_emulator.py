"""The GitHub REST emulator speaks the documented wire format: bodies, statuses, headers."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulators.github import GitHubEmulator
from tests.emulators.github.state import blob_sha

TOKEN = "ghp_emulator_token"
FILE = "replicaCount: 2  # keep\n"


@pytest.fixture
def gh() -> Iterator[httpx.Client]:
    with GitHubEmulator(tokens={TOKEN}) as emulator:
        emulator.add_repo("acme/shop", {"charts/shop/values.yaml": FILE})
        headers = {"Authorization": f"Bearer {TOKEN}", "X-GitHub-Api-Version": "2022-11-28"}
        with httpx.Client(base_url=emulator.url, headers=headers) as client:
            client.emulator = emulator  # type: ignore[attr-defined]
            yield client


def main_sha(gh: httpx.Client) -> str:
    return str(gh.get("/repos/acme/shop/git/ref/heads/main").json()["object"]["sha"])


def branch(gh: httpx.Client, name: str) -> None:
    answer = gh.post(
        "/repos/acme/shop/git/refs", json={"ref": f"refs/heads/{name}", "sha": main_sha(gh)}
    )
    assert answer.status_code == 201


def put(gh: httpx.Client, text: str, **extra: Any) -> httpx.Response:
    content = base64.b64encode(text.encode()).decode()
    return gh.put(
        "/repos/acme/shop/contents/charts/shop/values.yaml",
        json={"message": "m", "content": content, **extra},
    )


def test_the_repository_names_its_default_branch_with_github_headers(gh: httpx.Client) -> None:
    answer = gh.get("/repos/acme/shop")
    assert answer.status_code == 200
    assert answer.json()["default_branch"] == "main"
    assert answer.json()["full_name"] == "acme/shop"
    assert answer.headers["content-type"] == "application/json; charset=utf-8"
    assert answer.headers["x-github-api-version-selected"] == "2022-11-28"
    assert answer.headers["x-ratelimit-limit"] == "5000"
    assert int(answer.headers["x-ratelimit-remaining"]) < 5000


def test_errors_have_the_documented_shape(gh: httpx.Client) -> None:
    answer = gh.get("/repos/acme/nope")
    assert answer.status_code == 404
    assert answer.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
        "status": "404",
    }


@pytest.mark.parametrize(
    ("authorization", "message"),
    [(None, "Requires authentication"), ("Bearer wrong", "Bad credentials"),
     ("Basic abc", "Bad credentials")],
)  # fmt: skip
def test_a_bad_token_is_401(gh: httpx.Client, authorization: str | None, message: str) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=str(gh.base_url), headers=headers) as anonymous:
        answer = anonymous.get("/repos/acme/shop")
    assert answer.status_code == 401
    assert answer.json()["message"] == message


def test_the_token_scheme_is_accepted_too(gh: httpx.Client) -> None:
    answer = gh.get("/repos/acme/shop", headers={"Authorization": f"token {TOKEN}"})
    assert answer.status_code == 200


def test_an_unknown_api_version_is_refused(gh: httpx.Client) -> None:
    answer = gh.get("/repos/acme/shop", headers={"X-GitHub-Api-Version": "2001-01-01"})
    assert answer.status_code == 400
    assert "API version '2001-01-01' is not supported" in answer.json()["message"]


def test_creating_an_existing_reference_is_422(gh: httpx.Client) -> None:
    branch(gh, "healer/inc-1")
    again = gh.post(
        "/repos/acme/shop/git/refs", json={"ref": "refs/heads/healer/inc-1", "sha": main_sha(gh)}
    )
    assert again.status_code == 422
    assert again.json() == {
        "message": "Reference already exists",
        "documentation_url": "https://docs.github.com/rest/git/refs#create-a-reference",
        "status": "422",
    }
    assert gh.get("/repos/acme/shop/git/ref/heads/healer/inc-1").json()["ref"] == (
        "refs/heads/healer/inc-1"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [({"ref": "heads/x", "sha": "0" * 40}, "Reference name must start with 'refs/'"),
     ({"ref": "refs/heads/x", "sha": "0" * 40}, "Object does not exist")],
)  # fmt: skip
def test_bad_references_are_422(gh: httpx.Client, body: dict[str, str], message: str) -> None:
    answer = gh.post("/repos/acme/shop/git/refs", json=body)
    assert answer.status_code == 422
    assert answer.json()["message"].startswith(message)


def test_a_missing_reference_is_404(gh: httpx.Client) -> None:
    assert gh.get("/repos/acme/shop/git/ref/heads/nope").status_code == 404


def test_contents_are_base64_with_the_blob_sha(gh: httpx.Client) -> None:
    answer = gh.get("/repos/acme/shop/contents/charts/shop/values.yaml", params={"ref": "main"})
    body = answer.json()
    assert (body["type"], body["encoding"], body["size"]) == ("file", "base64", len(FILE))
    assert base64.b64decode(body["content"]).decode() == FILE
    assert body["sha"] == blob_sha(FILE.encode())
    assert gh.get("/repos/acme/shop/contents/charts").json()[0]["name"] == "shop"
    missing = gh.get("/repos/acme/shop/contents/nope.yaml")
    assert missing.status_code == 404 and missing.json()["message"] == "Not Found"
    no_ref = gh.get("/repos/acme/shop/contents/charts/shop/values.yaml", params={"ref": "x"})
    assert no_ref.json()["message"] == "No commit found for the ref x"


def test_an_update_needs_the_current_sha(gh: httpx.Client) -> None:
    without = put(gh, "replicaCount: 3\n")
    assert without.status_code == 422
    assert without.json()["message"] == 'Invalid request.\n\n"sha" wasn\'t supplied.'
    stale = put(gh, "replicaCount: 3\n", sha="f" * 40)
    assert stale.status_code == 409
    assert stale.json()["message"] == f"charts/shop/values.yaml does not match {'f' * 40}"
    before = main_sha(gh)
    done = put(gh, "replicaCount: 3\n", sha=blob_sha(FILE.encode()))
    assert done.status_code == 200
    assert done.json()["content"]["sha"] == blob_sha(b"replicaCount: 3\n")
    assert done.json()["commit"]["parents"][0]["sha"] == before
    assert main_sha(gh) == done.json()["commit"]["sha"]


def test_writing_to_a_missing_branch_is_404(gh: httpx.Client) -> None:
    answer = put(gh, "x\n", sha=blob_sha(FILE.encode()), branch="nope")
    assert answer.status_code == 404
    assert answer.json()["message"] == "Branch nope not found"


def test_pull_requests_are_listed_by_owner_and_branch(gh: httpx.Client) -> None:
    branch(gh, "healer/inc-1")
    put(gh, "replicaCount: 4\n", sha=blob_sha(FILE.encode()), branch="healer/inc-1")
    created = gh.post(
        "/repos/acme/shop/pulls", json={"title": "t", "head": "healer/inc-1", "base": "main"}
    )
    assert created.status_code == 201 and created.json()["number"] == 1
    assert created.json()["head"]["label"] == "acme:healer/inc-1"
    listed = gh.get("/repos/acme/shop/pulls", params={"head": "acme:healer/inc-1", "state": "open"})
    assert [p["number"] for p in listed.json()] == [1]
    other = gh.get("/repos/acme/shop/pulls", params={"head": "acme:healer/inc-2"})
    assert other.json() == []
    closed = gh.get(
        "/repos/acme/shop/pulls", params={"head": "acme:healer/inc-1", "state": "closed"}
    )
    assert closed.json() == []
    # GitHub ignores a head filter without the owner: every open pull request comes back
    assert len(gh.get("/repos/acme/shop/pulls", params={"head": "healer/inc-2"}).json()) == 1


def test_a_second_pull_request_for_the_same_head_is_422(gh: httpx.Client) -> None:
    branch(gh, "healer/inc-1")
    put(gh, "replicaCount: 4\n", sha=blob_sha(FILE.encode()), branch="healer/inc-1")
    spec = {"title": "t", "head": "acme:healer/inc-1", "base": "main"}
    assert gh.post("/repos/acme/shop/pulls", json=spec).status_code == 201
    again = gh.post("/repos/acme/shop/pulls", json=spec)
    assert again.status_code == 422
    assert again.json()["message"] == "Validation Failed"
    assert again.json()["errors"] == [
        {"resource": "PullRequest", "code": "custom",
         "message": "A pull request already exists for acme:healer/inc-1."}
    ]  # fmt: skip


def test_pull_request_validation(gh: httpx.Client) -> None:
    branch(gh, "empty")
    same = gh.post("/repos/acme/shop/pulls", json={"head": "empty", "base": "main"})
    assert same.json()["errors"][0]["message"] == "No commits between acme:main and acme:empty"
    bad = gh.post("/repos/acme/shop/pulls", json={"head": "nope", "base": "main"})
    assert bad.json()["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    assert gh.post("/repos/acme/shop/pulls", json={"base": "main"}).status_code == 422


def test_injected_faults_answer_as_github_does(gh: httpx.Client) -> None:
    emulator: GitHubEmulator = gh.emulator  # type: ignore[attr-defined]
    emulator.inject("502", 1)
    emulator.inject("rate_limit", 1, endpoint="/pulls")
    assert gh.get("/repos/acme/shop").status_code == 502
    assert gh.get("/repos/acme/shop").status_code == 200  # only the next one failed
    limited = gh.get("/repos/acme/shop/pulls")
    assert limited.status_code == 403
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "API rate limit exceeded" in limited.json()["message"]
    assert emulator.pending_faults() == 0
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.inject("418")
