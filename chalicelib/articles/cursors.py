"""Opaque, signed pagination cursors.

A cursor carries DynamoDB's LastEvaluatedKey plus the name of the query it belongs to,
signed with a key derived from the app secret. A cursor that was edited, truncated or
taken from another query fails verification and becomes a 400, never a DynamoDB error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from chalicelib.core.config import get_settings

_MAC_BYTES = 16
MAX_LENGTH = 1024


class InvalidCursor(ValueError):
    """The cursor was not made by this app for this query."""


def _key() -> bytes:
    return get_settings().secret_for("cursor")


def encode(query: str, last_key: dict[str, Any]) -> str:
    payload = json.dumps({"q": query, "k": last_key}, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(_key(), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


def decode(query: str, cursor: str) -> dict[str, Any]:
    """The LastEvaluatedKey inside ``cursor``, if it is genuine and made for ``query``."""
    if len(cursor) > MAX_LENGTH:
        raise InvalidCursor("cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError) as error:
        raise InvalidCursor("cursor is not valid base64url") from error
    mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
    expected = hmac.new(_key(), payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise InvalidCursor("cursor was altered or made by another deployment")
    data = json.loads(payload)
    if data.get("q") != query:
        raise InvalidCursor("cursor belongs to another list")
    key = data.get("k")
    if not isinstance(key, dict):
        raise InvalidCursor("cursor has no position")
    return key
