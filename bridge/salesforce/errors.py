"""Salesforce error bodies classified once, at the client boundary.

REST errors are a JSON array of `{"message", "errorCode", "fields"?}`; OAuth errors one object
`{"error", "error_description"}`; per-record results of collections carry `statusCode`.
"""

from __future__ import annotations

from typing import Any

from bridge.errors import BridgeError, PermanentError, TransientError, WriteInDoubt

# Codes where the same request can succeed later.
TRANSIENT_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "REQUEST_LIMIT_EXCEEDED",
        "SERVER_UNAVAILABLE",
        "REQUEST_RUNNING_TOO_LONG",
        "QUERY_TIMEOUT",
        "INVALID_SESSION_ID",
        "TXN_SECURITY_METERING_ERROR",
    }
)


class SalesforceError(PermanentError):
    """A permanent Salesforce error: the request or record is wrong as it stands."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        fields: list[str] | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.fields = fields or []
        self.status = status
        self.extra = extra or {}


class SalesforceTransientError(TransientError):
    """A Salesforce error worth retrying (lock contention, limits, 5xx, expired session)."""


class SalesforceWriteTimeout(SalesforceTransientError, WriteInDoubt):
    """A call that timed out: Salesforce may still commit it after we gave up."""


class SessionExpired(SalesforceTransientError):
    """`INVALID_SESSION_ID`: get a new token and try again."""


class MissingParent(SalesforceError):
    """A lookup by external id found no parent record: it may arrive later (see parent retries)."""


def _missing_parent(code: str, message: str) -> bool:
    # "INVALID_FIELD: Foreign key external ID: X not found for field F in entity E"
    return code == "INVALID_FIELD" and "Foreign key external ID" in message and "not found" in message


def classify_record_error(errors: list[dict[str, Any]]) -> BridgeError:
    """The error of one record of a collections result (`statusCode`, `message`, `fields`)."""
    first = errors[0] if errors else {"statusCode": "UNKNOWN_EXCEPTION", "message": "no detail"}
    code = str(first.get("statusCode") or first.get("errorCode") or "UNKNOWN_EXCEPTION")
    message = f"{code}: {first.get('message', '')}"
    if code in TRANSIENT_CODES:
        return SalesforceTransientError(message, code=code)
    extra = {k: v for k, v in first.items() if k == "duplicateResult"}
    kind = MissingParent if _missing_parent(code, message) else SalesforceError
    return kind(message, code=code, fields=list(first.get("fields") or []), extra=extra)


def classify_response(status: int, body: Any, retry_after: float | None = None) -> BridgeError:
    """The error a non-2xx Salesforce answer stands for."""
    code, message, fields = "UNKNOWN_EXCEPTION", f"HTTP {status}", []
    if isinstance(body, list) and body and isinstance(body[0], dict):
        code = str(body[0].get("errorCode", code))
        message = str(body[0].get("message", message))
        fields = list(body[0].get("fields") or [])
    elif isinstance(body, dict) and "error" in body:
        code = str(body["error"])
        message = str(body.get("error_description", message))
    text = f"{code}: {message}"
    if code == "INVALID_SESSION_ID" or (status == 401 and code == "UNKNOWN_EXCEPTION"):
        return SessionExpired(text, code="INVALID_SESSION_ID")
    if status >= 500 or status == 429 or code in TRANSIENT_CODES:
        return SalesforceTransientError(text, code=code, retry_after=retry_after)
    return SalesforceError(text, code=code, fields=fields, status=status)
