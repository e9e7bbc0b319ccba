"""The optional API key: checked by the HTTP middleware for ``/v1/`` and by ``/v1/live`` before it accepts."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from impasto.runtime.serve.errors import ApiError


def check_key(api_key: str | None, headers: Mapping[str, str], query: Mapping[str, str]) -> None:
    """401 unless the request carries ``api_key`` (X-API-Key header, ``Authorization: Bearer``, or ``?key=``);
    nothing to check when no key is set. Compared in constant time."""
    if not api_key:
        return
    given = headers.get("x-api-key") or query.get("key") or ""
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        given = given or bearer[7:]
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong API key (header X-API-Key)")
