"""What an error line is evidence of, in the words of the libraries that print it.

Diagnosis weighs a pool timeout from SQLAlchemy or HikariCP differently from an
upstream 503 (a symptom of somebody else's problem) or a stack trace (the service's
own code failing).
"""

from __future__ import annotations

import re
from enum import StrEnum


class LogClass(StrEnum):
    POOL_TIMEOUT = "pool_timeout"  # the service waited too long for a DB connection
    DB_CONNECTIONS = "db_connections"  # the database refused a new connection
    UPSTREAM = "upstream"  # a call to another service failed
    TIMEOUT = "timeout"  # a deadline passed (own slowness or a callee's)
    EXCEPTION = "exception"  # the service's own code raised
    OTHER = "other"


_RULES: tuple[tuple[LogClass, re.Pattern[str]], ...] = tuple(
    (cls, re.compile(pattern, re.IGNORECASE))
    for cls, pattern in (
        (LogClass.DB_CONNECTIONS, r"too many clients|remaining connection slots|max_connections"),
        (
            LogClass.POOL_TIMEOUT,
            r"QueuePool limit|Connection is not available|pool.*(timed out|exhausted)"
            r"|unable to acquire.*connection|failed to acquire.*connection",
        ),
        (
            LogClass.UPSTREAM,
            r"upstream connect error|rpc error: code = \w+|503 Service Unavailable"
            r"|connection refused|no healthy upstream|reset reason|failed to call"
            r"|InactiveRpcError|StatusRuntimeException: UNAVAILABLE",
        ),
        (LogClass.TIMEOUT, r"deadline exceeded|timed out|timeout"),
        (
            LogClass.EXCEPTION,
            r"Traceback \(most recent call last\)|Exception|Error:|panic:|\bat [\w.$]+\(",
        ),
    )
)


def classify(text: str) -> LogClass:
    for cls, pattern in _RULES:
        if pattern.search(text):
            return cls
    return LogClass.OTHER
