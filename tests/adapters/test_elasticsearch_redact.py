"""Secret redaction of log lines before they reach the timeline, chat or a prompt."""

from __future__ import annotations

import pytest

from healer.adapters.redact import REDACTED, redact, truncate

CASES = [
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig_n4ture-x",
        f"Authorization: Bearer {REDACTED}",
    ),
    (
        "headers={'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}",
        f"headers={{'Authorization': 'Basic {REDACTED}'}}",
    ),
    ("proxy-authorization=Negotiate YIIBhgYGKwYBBQUC", f"proxy-authorization=Negotiate {REDACTED}"),
    ("calling upstream with bearer 9f8e7d6c5b4a", f"calling upstream with bearer {REDACTED}"),
    (
        "connect to postgres://app:s3cr3t@db:5432/shop failed",
        f"connect to postgres://app:{REDACTED}@db:5432/shop failed",
    ),
    ("redis://:hunter2@cache:6379/0 refused", f"redis://:{REDACTED}@cache:6379/0 refused"),
    (
        "GET /v1/items?api_key=abcd1234&page=2 -> 500",
        f"GET /v1/items?api_key={REDACTED}&page=2 -> 500",
    ),
    (
        "GET /hook?apikey=Zx9&token=tok_77 failed",
        f"GET /hook?apikey={REDACTED}&token={REDACTED} failed",
    ),
    ("login password=hunter2 user=bob", f"login password={REDACTED} user=bob"),
    (
        'config {"password": "my pass word", "user": "bob"}',
        f'config {{"password": "{REDACTED}", "user": "bob"}}',
    ),
    ("client_secret: 'abc def'", f"client_secret: '{REDACTED}'"),
    ("X-Api-Key: 0123456789abcdef", f"X-Api-Key: {REDACTED}"),
    (
        "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        f"aws_secret_access_key={REDACTED}",
    ),
    ("S3 denied for AKIAIOSFODNN7EXAMPLE", f"S3 denied for {REDACTED}"),
    # Built from parts so that no token-shaped string sits in the repository itself.
    ("token " + "ghp" + "_aBcdEfGhIjKlMnOpQrStUvWxYz0123456789 leaked", f"token {REDACTED} leaked"),
    ("slack " + "xoxb" + "-1234567890-abcdefghij failed", f"slack {REDACTED} failed"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_secrets_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == expected


HARMLESS = [
    "Bearer authentication failed for user bob",
    "max_tokens=100 exceeded, 120 tokens used",
    "GET http://catalog:8080/products/42 -> 503",
    "HikariPool-1 - Connection is not available, request timed out after 30004ms",
    "cache key=user:123 evicted",
    "no healthy upstream for cart",
]


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_lines_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_redaction_keeps_templates_stable() -> None:
    # Two lines differing only in their secret read the same after redaction.
    a = redact("auth failed for postgres://svc:one@db/x with token=aaa111")
    b = redact("auth failed for postgres://svc:two@db/x with token=bbb222")
    assert a == b


def test_truncate_marks_the_cut() -> None:
    assert truncate("abcdef", 10) == "abcdef"
    assert truncate("abcdef", 4) == "abc…"
    assert len(truncate("x" * 5000, 4000)) == 4000
