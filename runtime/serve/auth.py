"""The optional API key: checked by the HTTP middleware for ``/v1/`` and by ``/v1/live`` before it accepts.

Over HTTP the key comes from headers only (``X-API-Key`` or ``Authorization: Bearer``): a key in the query string
ends up in access logs, proxies and browser history. ``?key=`` is taken on the WebSocket alone, where a browser
cannot set headers.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from impasto.runtime.serve.errors import ApiError


def check_key(
    api_key: str | None, headers: Mapping[str, str], query: Mapping[str, str], allow_query: bool = False
) -> None:
    """401 unless the request carries ``api_key`` (X-API-Key header, ``Authorization: Bearer``, or ``?key=`` when
    ``allow_query``); nothing to check when no key is set. Compared in constant time."""
    if not api_key:
        return
    if not allow_query and "key" in query:
        raise ApiError(401, "unauthorized", "the API key goes in a header (X-API-Key), not in the URL")
    given = headers.get("x-api-key") or (query.get("key") if allow_query else None) or ""
    bearer = headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        given = given or bearer[7:]
    if not hmac.compare_digest(given.encode(), api_key.encode()):
        raise ApiError(401, "unauthorized", "missing or wrong API key (header X-API-Key)")
