"""The bridge's errors, classified once at the boundary where they happen.

    BridgeError
    ├── ConfigError            a setting or the local environment is wrong; a person must fix it
    ├── TransientError         retry later: back off, pause the partition, commit nothing
    │   └── BrokerUnavailable  Kafka did not acknowledge in time
    └── PermanentError         retrying cannot help: dead-letter this record, carry on, commit
        └── BadInput           a request or event is not what its sender should send

Consumers look only at `TransientError` vs `PermanentError`; anything else that escapes a
handler is treated as permanent for that one record, so an unknown bug cannot stall a partition.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""

    code: str = "bridge_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class ConfigError(BridgeError):
    """Configuration or environment problem; the message names it and the fix."""

    code = "config_error"


class TransientError(BridgeError):
    """Worth retrying after a pause (`retry_after` seconds when the remote said so)."""

    code = "transient"

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class WriteInDoubt(TransientError):
    """A write whose outcome is unknown (timed out): the remote may still apply it later, so
    nothing should write the same records for `retry_after` seconds."""

    code = "in_doubt"


class BrokerUnavailable(TransientError):
    """The Kafka broker could not be reached or did not acknowledge in time."""

    code = "broker_unavailable"


class PermanentError(BridgeError):
    """Retrying the same input gives the same failure: dead-letter it and move on."""

    code = "permanent"


class BadInput(PermanentError):
    """Input that is not what its sender should send (shape, type, missing field)."""

    code = "bad_input"


def is_transient(exc: BaseException) -> bool:
    """True when `exc` should be retried rather than dead-lettered."""
    return isinstance(exc, TransientError)
