"""Subscriber ids and the tokens in mail links.

- ``subscriber_id(email)``: 128 bits of HMAC over the normalised address. Deterministic, so
  one address is one item; keyed, so the id reveals nothing without the app secret.
- ``manage_token(id)``: id + HMAC tag, in every digest (footer, List-Unsubscribe, mailto). It
  is stateless, so every unsubscribe link in every mail ever sent keeps working (RFC 8058
  expects that). It unsubscribes, and asks for a rights link; it never opens anyone's data,
  because a digest gets forwarded.
- ``rights_token(id, now=)``: ``<id>.<expiry>.<tag>``, valid for ``RIGHTS_LINK_SECONDS`` (one
  hour), mailed only to the subscribed address; export and erase take nothing else.
  ``rights_subscriber(token, now=)`` checks it (tag first, then expiry, against the caller's
  clock); ``link_request_subscriber(token)`` is who may be mailed a new one (a manage token,
  or a genuine rights token even when expired). See docs/decisions/rights-links.md.
- ``new_secret()`` / ``hash_secret()``: random one-time secrets that are stored only as a hash.
- ``request_secret(request_id, id)``: the confirmation secret of one signup request, keyed
  by its CAPTCHA id (used once), so a retry of that same request after a fault finds its
  own record and mails the same link, instead of writing a second one.
- ``confirm_token(id, secret)`` / ``split_confirm_token``: ``<id>.<secret>`` in the link.
- ``manage_subscriber(token)``: the id in a genuine manage token, or the Danish
  ``InvalidLink`` refusal every link page shows.

Rotating APP_SECRET changes every id and invalidates every link: it needs a migration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime

from chalicelib.core.config import get_settings
from chalicelib.newsletter.outcomes import invalid_link, rights_link_expired, rights_link_required

_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_TAG_CHARS = 22  # 132 bits of the HMAC, base64url
# <subscriber id>.<expiry, epoch seconds>.<tag>: its own shape and its own derived key, so no
# manage token (or any other tag) can pass for one.
_RIGHTS_RE = re.compile(r"^([0-9a-f]{32})\.([0-9]{10})\.([A-Za-z0-9_-]{22})$")
RIGHTS_LINK_SECONDS = 3600  # long enough to open the mail, short enough that an old one is dead


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def subscriber_id(normalised_email: str) -> str:
    key = get_settings().secret_for("subscriber-id")
    return hmac.new(key, normalised_email.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _tag(purpose: str, value: str) -> str:
    key = get_settings().secret_for(purpose)
    return _b64(hmac.new(key, value.encode(), hashlib.sha256).digest())[:_TAG_CHARS]


def manage_token(sid: str) -> str:
    return f"{sid}.{_tag('manage', sid)}"


def verify_manage_token(token: str) -> str | None:
    """The subscriber id inside a genuine manage token, else None (constant-time check)."""
    sid, _, tag = token.partition(".")
    if not _ID_RE.match(sid) or len(tag) != _TAG_CHARS:
        return None
    return sid if hmac.compare_digest(tag, _tag("manage", sid)) else None


def new_secret() -> str:
    """A random one-time secret: 128 bits, URL-safe."""
    return _b64(secrets.token_bytes(16))


def request_secret(request_id: str, sid: str) -> str:
    """As unguessable as ``new_secret()`` without the app secret (132 bits of HMAC), but the
    same for the same request: ``request_id`` is single-use (a CAPTCHA id)."""
    return _tag("confirm-request", f"{request_id}|{sid}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def one_click_unsubscribe_url(sid: str) -> str:
    """The List-Unsubscribe URL: GET shows a page with a button, POST unsubscribes (RFC 8058)."""
    return f"{get_settings().api_url}/subscriptions/unsubscribe?token={manage_token(sid)}"


def manage_subscriber(token: str) -> str:
    """The subscriber id in a genuine manage link (no AWS call), else ``InvalidLink``."""
    sid = verify_manage_token(token)
    if sid is None:
        raise invalid_link()
    return sid


def rights_token(sid: str, *, now: datetime) -> str:
    """The token of a mailed export/erase link: good until ``now`` + one hour."""
    value = f"{sid}.{int(now.timestamp()) + RIGHTS_LINK_SECONDS}"
    return f"{value}.{_tag('rights', value)}"


def _genuine_rights(token: str) -> tuple[str, int] | None:
    """(subscriber id, expiry) of a token we signed, expired or not; else None."""
    found = _RIGHTS_RE.match(token)
    if found is None:
        return None
    sid, expires, tag = found.groups()
    if not hmac.compare_digest(tag, _tag("rights", f"{sid}.{expires}")):
        return None
    return sid, int(expires)


def rights_subscriber(token: str, *, now: datetime) -> str:
    """The subscriber id in a genuine, unexpired rights token (no AWS call). Else: a manage
    token is ``RightsLinkRequired`` (it must never open data), an expired one
    ``RightsLinkExpired``, anything else ``InvalidLink``. The tag is checked before the
    expiry, so "expired" is only ever said of a link we issued."""
    genuine = _genuine_rights(token)
    if genuine is None:
        raise rights_link_required() if verify_manage_token(token) is not None else invalid_link()
    sid, expires = genuine
    if now.timestamp() >= expires:
        raise rights_link_expired()
    return sid


def link_request_subscriber(token: str) -> str:
    """Whom a new rights link may be mailed to: the subscriber of a manage token, or of a
    rights token we issued, even an expired one (its page offers a new link). Either way the
    mail goes only to the subscribed address. Else ``InvalidLink``."""
    sid = verify_manage_token(token)
    if sid is not None:
        return sid
    genuine = _genuine_rights(token)
    if genuine is None:
        raise invalid_link()
    return genuine[0]


def rights_urls(token: str) -> dict[str, str]:
    """The export and erase pages of a rights token, as the link mail names them."""
    api_url = get_settings().api_url
    return {"export_url": f"{api_url}/subscriptions/export?token={token}",
            "erase_url": f"{api_url}/subscriptions/erase?token={token}"}


def confirm_token(sid: str, secret: str) -> str:
    """``<subscriber_id>.<secret>``: finds the subscriber in one GetItem; only the secret's
    hash is stored, so the table alone cannot confirm anyone."""
    return f"{sid}.{secret}"


def split_confirm_token(token: str) -> tuple[str, str]:
    """(subscriber id, secret) of a confirmation token's shape, else ``InvalidLink``."""
    sid, _, secret = token.partition(".")
    if not _ID_RE.match(sid) or not 16 <= len(secret) <= 64:
        raise invalid_link()
    return sid, secret


def confirm_url(token: str) -> str:
    return f"{get_settings().api_url}/subscriptions/confirm?token={token}"

