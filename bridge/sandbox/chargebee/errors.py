"""Chargebee's error answers: `message`, `type`, `api_error_code`, `param`, `http_status_code`.

ChargebeeApiError
├── authentication (401, no `type`)       api_authentication_failed
├── invalid_request (400/404/409/422)     param_wrong_value, resource_not_found, ...
└── operation_failed (429, 5xx)           api_request_limit_exceeded, internal_error
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse


class ChargebeeApiError(Exception):
    """An error answer, raised anywhere in a handler and rendered once by the app."""

    def __init__(
        self,
        status: int,
        api_error_code: str,
        message: str,
        *,
        error_type: str | None = "invalid_request",
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.api_error_code = api_error_code
        self.message = message
        self.error_type = error_type
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body as Chargebee sends it (legacy `error_*` fields included)."""
        body: dict[str, Any] = {"message": self.message}
        if self.error_type is not None:
            body["type"] = self.error_type
        body["api_error_code"] = self.api_error_code
        if self.param is not None:
            body["param"] = self.param
        body["error_code"] = self.api_error_code
        body["error_msg"] = self.message
        body["http_status_code"] = self.status
        return body

    def response(self) -> JSONResponse:
        """Render as an HTTP answer."""
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def not_found(kind: str, object_id: str, param: str | None = None) -> ChargebeeApiError:
    """404 `resource_not_found` for an unknown id (Chargebee words it "<Kind> is not present")."""
    label = kind.replace("_", " ").capitalize()
    return ChargebeeApiError(404, "resource_not_found", f"{label} {object_id} is not present", param=param)


def wrong_value(param: str, problem: str) -> ChargebeeApiError:
    """400 `param_wrong_value` naming the parameter, in Chargebee's `param : problem` form."""
    return ChargebeeApiError(400, "param_wrong_value", f"{param} : {problem}", param=param)


def blank(param: str) -> ChargebeeApiError:
    """400 for a mandatory parameter that is missing."""
    return wrong_value(param, "cannot be blank")


def authentication_failed(reason: str) -> ChargebeeApiError:
    """401: Chargebee sends no `type` for authentication failures."""
    return ChargebeeApiError(
        401,
        "api_authentication_failed",
        f"Sorry, authentication failed. {reason}",
        error_type=None,
        headers={"WWW-Authenticate": 'Basic realm="chargebee"'},
    )


def rate_limited(retry_after: int) -> ChargebeeApiError:
    """429 `api_request_limit_exceeded` with `Retry-After` (seconds)."""
    return ChargebeeApiError(
        429,
        "api_request_limit_exceeded",
        "Sorry, access has been blocked temporarily due to request count exceeding acceptable limits. "
        "Please try after some time.",
        error_type="operation_failed",
        headers={"Retry-After": str(retry_after)},
    )


def server_error(status: int) -> ChargebeeApiError:
    """An injected 5xx with Chargebee's body."""
    code = {503: "site_not_ready", 504: "gateway_timeout"}.get(status, "internal_error")
    return ChargebeeApiError(
        status,
        code,
        "Sorry, something went wrong when trying to process the request.",
        error_type="operation_failed",
    )
