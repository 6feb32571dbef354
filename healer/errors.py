"""Every error the healer raises, on two axes: what went wrong and whether to retry.

    HealerError
    ├── ConfigError(path, line, field, reason)   refused at load; the daemon does not start
    │   ├── PlaybookError
    │   ├── PolicyError
    │   └── ScenarioError
    ├── SourceError                               a source could not be read
    │   ├── SourceUnavailable  (TemporaryError)   down, timing out, refusing
    │   └── SourceGarbage      (TemporaryError)   answered, but not with what we asked for
    ├── ClusterError
    │   ├── ClusterUnavailable (TemporaryError)   the API is down or throttling
    │   ├── ActionConflict     (TemporaryError)   stale resourceVersion; read again and retry
    │   └── ActionFailed       (PermanentError)   refused (forbidden, invalid, not found)
    └── StoreError                                the database failed

`TemporaryError(delay=...)` means "try again later"; `PermanentError` means "give up and
escalate". Adapters translate their SDK's exceptions into these, `from exc`, at the edge.
"""

from __future__ import annotations


class HealerError(Exception):
    """Base of every error the healer raises on purpose."""


class TemporaryError(HealerError):
    """Retry after `delay` seconds."""

    def __init__(self, message: str, *, delay: float = 15.0) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(HealerError):
    """Retrying will not help; escalate to a human."""


class ConfigError(HealerError):
    """A configuration, playbook, policy or scenario file is wrong, and where."""

    def __init__(self, path: str, line: int | None, field: str, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {field}: {reason}")
        self.path = path
        self.line = line
        self.field = field
        self.reason = reason


class PlaybookError(ConfigError):
    pass


class PolicyError(ConfigError):
    pass


class ScenarioError(ConfigError):
    pass


class SourceError(HealerError):
    pass


class SourceUnavailable(SourceError, TemporaryError):
    pass


class SourceGarbage(SourceError, TemporaryError):
    pass


class ClusterError(HealerError):
    pass


class ClusterUnavailable(ClusterError, TemporaryError):
    pass


class ActionConflict(ClusterError, TemporaryError):
    pass


class ActionFailed(ClusterError, PermanentError):
    pass


class StoreError(HealerError):
    pass
