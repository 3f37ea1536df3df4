"""Orb's RFC 7807 error bodies, with the documentation URLs the SDK matches to pick its exception."""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.withorb.com/reference/error-responses"

# (status, type anchor, title) as Orb documents them.
KINDS: dict[str, tuple[int, str, str]] = {
    "validation": (400, "400-request-validation-errors", "There was an error validating the request."),
    "constraint": (400, "400-constraint-violation", "The request violates a constraint."),
    "duplicate": (400, "400-duplicate-resource-creation", "A resource with this identifier already exists."),
    "auth": (401, "401-authentication-error", "Authentication failure."),
    "not_found": (404, "404-resource-not-found", "A specified resource was not found."),
    "url_not_found": (404, "404-url-not-found", "The requested URL was not found."),
    "conflict": (409, "409-resource-conflict", "Resource conflict."),
    "too_large": (413, "413-request-too-large", "The request is too large."),
    "rate_limit": (429, "429-too-many-requests", "Too many requests."),
    "internal": (500, "500-internal-server-error", "Internal server error."),
}


class OrbError(Exception):
    """An Orb API error; `body` is what Orb answers, `status` its HTTP status."""

    def __init__(self, kind: str, detail: str | None, **extra: Any) -> None:
        status, anchor, title = KINDS[kind]
        super().__init__(detail or title)
        self.status = status
        self.body: dict[str, Any] = {
            "type": f"{DOCS}#{anchor}",
            "status": status,
            "title": title,
            "detail": detail,
            **extra,
        }


def not_found(resource: str, identifier: str) -> OrbError:
    """404 as Orb words it: `Could not find a resource of type Plan with identifier: …`."""
    return OrbError(
        "not_found", f"Could not find a resource of type {resource} with identifier: {identifier}."
    )


def invalid(param: str, message: str) -> OrbError:
    """400 request-validation error naming the parameter at fault."""
    return OrbError("validation", f"{param}: {message}", validation_errors=[f"{param}: {message}"])
