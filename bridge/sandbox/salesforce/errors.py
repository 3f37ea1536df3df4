"""Errors as Salesforce answers them.

SfApiError   REST/Bulk/query: HTTP status + JSON array `[{"message", "errorCode", "fields"?}]`
OAuthError   /services/oauth2/token: one object `{"error", "error_description"}`
RecordError  one record failed inside a batch: `{"statusCode", "message", "fields"}`
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class SfApiError(Exception):
    """A request-level failure: the whole call fails with `status` and the error array."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.extra = extra or {}

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        item.update(self.extra)
        return [item]

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


class RecordError(Exception):
    """One record's failure; in a batch it becomes that record's `errors` entry."""

    def __init__(
        self, code: str, message: str, fields: list[str] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields or []
        self.extra = extra or {}

    def as_result_error(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": self.fields, **self.extra}

    def as_api_error(self, status: int = 400) -> SfApiError:
        return SfApiError(status, self.code, self.message, self.fields, self.extra)


class OAuthError(Exception):
    """A token-endpoint failure."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description}, status_code=self.status
        )


def not_found() -> SfApiError:
    return SfApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_session() -> SfApiError:
    return SfApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
