"""Billing API answers classified once: 429 and 5xx are transient, other 4xx permanent."""

from __future__ import annotations

from typing import Any

import httpx

from bridge.errors import BridgeError, PermanentError, TransientError


class BillingApiError(PermanentError):
    """The billing platform refused the request as it stands."""

    def __init__(
        self, message: str, *, code: str, status: int, param: str | None = None, body: Any = None
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.param = param
        self.body = body


class BillingApiUnavailable(TransientError):
    """Rate limited, failing or unreachable: retry later."""


def classify(vendor: str, resp: httpx.Response) -> BridgeError:
    """The error a non-2xx answer stands for; the message names vendor, status and cause."""
    try:
        body: Any = resp.json()
    except ValueError:
        body = {"raw": resp.text[:300]}
    if vendor == "orb":
        code = str(body.get("type", "")).rsplit("#", 1)[-1] or str(resp.status_code)
        detail = body.get("detail") or body.get("title") or resp.reason_phrase
        param = None
    else:
        code = str(body.get("api_error_code", resp.status_code))
        detail = body.get("message") or resp.reason_phrase
        param = body.get("param")
    message = f"{vendor} answered {resp.status_code} {code}: {detail}"
    if resp.status_code == 429 or resp.status_code >= 500:
        retry = resp.headers.get("Retry-After")
        return BillingApiUnavailable(
            message, code=code, retry_after=float(retry) if retry and retry.isdigit() else None
        )
    return BillingApiError(message, code=code, status=resp.status_code, param=param, body=body)


async def send(vendor: str, http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request; network failures become transient errors, non-2xx classified errors."""
    try:
        resp = await http.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise BillingApiUnavailable(f"{vendor} {method} {url} timed out", code="TIMEOUT") from exc
    except httpx.TransportError as exc:
        raise BillingApiUnavailable(
            f"{vendor} {method} {url} failed: {exc!r}", code="CONNECTION_ERROR"
        ) from exc
    if resp.status_code >= 300:
        raise classify(vendor, resp)
    return resp
