"""Response helpers shared by the blueprints: CDN cache headers, ETags, JSON errors, a
Retry-After in Danish words."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from chalice.app import Request, Response

JSON_TYPE = "application/json; charset=utf-8"

# Public reads: browsers keep a minute, the CDN five; the CDN may serve a stale copy while
# it refetches, and for a day if the origin fails, so an outage degrades to old content.
PUBLIC_CACHE = "public, max-age=60, s-maxage=300, stale-while-revalidate=60, stale-if-error=86400"
# Negative answers are cached briefly, so a new article shows up soon after publishing.
ERROR_CACHE = "public, max-age=30, s-maxage=60, stale-if-error=300"
NO_STORE = "no-store"


def dumps(payload: Any) -> str:
    """Canonical JSON: the same data always gives the same bytes, hence the same ETag."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def etag_for(body: str) -> str:
    return '"' + hashlib.sha256(body.encode("utf-8")).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: weak comparison, a list of tags, or ``*``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


def _header(request: Request, name: str) -> str | None:
    value = request.headers.get(name) if request.headers else None
    return str(value) if value is not None else None


def cached_json(request: Request, payload: Any, cache_control: str = PUBLIC_CACHE) -> Response:
    """200 with ETag and CDN headers, or 304 with no body when the client has this version."""
    body = dumps(payload)
    etag = etag_for(body)
    headers: dict[str, str | list[str]] = {
        "Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding",
    }
    if _matches(_header(request, "if-none-match"), etag):
        return Response(body="", status_code=304, headers=headers)
    return Response(body=body, status_code=200, headers={**headers, "Content-Type": JSON_TYPE})


def error(status: int, code: str, message: str, cache_control: str = NO_STORE) -> Response:
    """The same ``{"Code", "Message"}`` body Chalice's errors have, with our headers."""
    headers: dict[str, str | list[str]] = {"Content-Type": JSON_TYPE, "Cache-Control": cache_control}
    return Response(
        body=dumps({"Code": code, "Message": message}),
        status_code=status,
        headers=headers,
    )


def wait_in_words(seconds: int) -> str:
    """A Retry-After in Danish, rounded up to whole minutes: "et minut", "12 minutter", "en time"."""
    minutes = math.ceil(seconds / 60)
    return "et minut" if minutes <= 1 else "en time" if minutes >= 60 else f"{minutes} minutter"
