"""Secret redaction for text read from the outside world (log lines, error messages).

Pure functions: `redact(text)` replaces credentials with `[REDACTED]` and keeps the rest,
so log templates still group the same way. Redaction errs towards hiding a harmless word
rather than letting a secret reach the timeline, a chat message or an LLM prompt.
"""

from __future__ import annotations

import re

REDACTED = "[REDACTED]"

# Names whose value is a secret, in `name=value`, `name: value` and JSON `"name": "value"`.
_SECRET_NAMES = (
    r"[\w.\-]*(?:api[_\-]?key|apikey|access[_\-]?key|secret[_\-]?key|private[_\-]?key"
    r"|access[_\-]?token|refresh[_\-]?token|id[_\-]?token|auth[_\-]?token|token"
    r"|client[_\-]?secret|secret|password|passwd|passphrase|pwd|credentials?)"
)

_AUTHORIZATION = re.compile(
    # The whole credential after the scheme: headers are the most common way tokens leak.
    r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(bearer|basic|apikey|token|digest|negotiate|aws4-hmac-sha256)\s+)?"
    r"[^\s\"',;]+"
)
_BEARER = re.compile(
    # A bare `Bearer <token>`; the token needs a digit or some length, so that prose such
    # as "Bearer authentication failed" is left alone.
    r"(?i)\b(bearer\s+)(?:(?=[\w\-.~+/]*\d)[\w\-.~+/]{8,}|[\w\-.~+/]{24,})=*"
)
_URL_USERINFO = re.compile(
    # scheme://user:password@host — also the user-less `redis://:password@host`.
    r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*):([^\s@/]+)@"
)
_QUOTED_PAIR = re.compile(
    rf"(?i)(?<![\w\-])({_SECRET_NAMES}[\"']?\s*[:=]\s*)([\"'])(?:\\.|(?!\2).)*\2"
)
_PLAIN_PAIR = re.compile(
    rf"(?i)(?<![\w\-])({_SECRET_NAMES}\s*[:=]\s*)(?![\"'\s\[])[^\s&,;\"'}}\]]+"
)
_KNOWN_TOKENS = re.compile(
    # Formats recognisable on their own, wherever they appear.
    r"\b(?:"
    r"(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"  # AWS access key ids
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_\w{30,}"  # GitHub tokens
    r"|xox[abposr]-[A-Za-z0-9\-]{10,}"  # Slack tokens
    r"|sk-(?:ant-)?[A-Za-z0-9_\-]{20,}"  # Anthropic / OpenAI-style keys
    r"|AIza[0-9A-Za-z_\-]{35}"  # Google API keys
    r"|eyJ[\w\-]{5,}\.eyJ[\w\-]{5,}\.[\w\-]{5,}"  # JSON web tokens
    r")"
)


def redact(text: str) -> str:
    """`text` with every credential it contains replaced by `[REDACTED]`."""
    text = _AUTHORIZATION.sub(_keep_scheme, text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _URL_USERINFO.sub(rf"\1:{REDACTED}@", text)
    text = _QUOTED_PAIR.sub(rf"\1\2{REDACTED}\2", text)
    text = _PLAIN_PAIR.sub(rf"\1{REDACTED}", text)
    return _KNOWN_TOKENS.sub(REDACTED, text)


def _keep_scheme(match: re.Match[str]) -> str:
    # why: the scheme (Bearer, Basic...) helps the reader and is no secret.
    scheme = f"{match.group(2)} " if match.group(2) else ""
    return f"{match.group(1)}{scheme}{REDACTED}"


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, marked when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + "…"
