"""The per-IP limit on new challenges: count one for the visitor's address, then make it.

Two scopes, each a sliding hour (``limits.limiter``), each counted with the one conditional
``UpdateItem`` of the limiter, so a challenge costs 1 S3 PUT and 2 DynamoDB writes (the count,
the item), and one over the limit 1 write (2 when the previous hour's weight refuses it) and
no picture:

- ``captcha-ip``: ``POST /captcha``, whose challenges carry a proof-of-work puzzle
  (``CAPTCHA_IP_LIMIT_PER_HOUR``, 60);
- ``captcha-page-ip``: the no-JavaScript signup page (``GET /nyhedsbrev``, and the form page
  again after a refused answer), whose challenges carry none, so a signup can skip the work
  there: ``CAPTCHA_PAGE_IP_LIMIT_PER_HOUR`` (6) bounds how many an address gets that way.

The address is ``core.cdn``'s (the viewer's, only with CloudFront's origin secret), an IPv6
address counted as its /64. Over the limit: ``RateLimited`` (the routes answer 429 +
Retry-After: JSON, or the Danish page). A challenge whose making fails through AWS has its
count given back, so a fault does not use up the visitor's quota; the limiter's own AWS
fault is ``CaptchaUnavailable`` like the challenge's. Why not fold the count into the
challenge item: docs/decisions/proof-of-work.md; the figures: docs/captcha.md#limits-on-challenges.
"""

from __future__ import annotations

import logging

from chalice.app import Request

from chalicelib.captcha.challenges import CaptchaUnavailable, Challenge, create_challenge
from chalicelib.core import cdn, faults
from chalicelib.core.config import get_settings
from chalicelib.limits.limiter import Hit, RateLimited, default_limiter
from chalicelib.limits.subjects import ip_subject

log = logging.getLogger(__name__)

API_SCOPE = "captcha-ip"
PAGE_SCOPE = "captcha-page-ip"
HOUR = 3600


def new_challenge(request: Request, *, page: bool) -> Challenge:
    """A challenge for this request's visitor, counted against their address: with a
    proof-of-work puzzle from ``POST /captcha``, without one for the no-JavaScript ``page``.
    Raises ``RateLimited`` over the limit and ``CaptchaUnavailable`` when AWS is busy."""
    settings = get_settings()
    limiter = default_limiter()
    scope, limit = ((PAGE_SCOPE, settings.captcha_page_ip_limit_per_hour) if page
                    else (API_SCOPE, settings.captcha_ip_limit_per_hour))
    try:
        counted = limiter.hit(scope, ip_subject(cdn.client_ip(request)), limit=limit, window_seconds=HOUR)
    except RateLimited:
        raise
    except Exception as problem:
        if faults.classify(problem) is None:
            raise  # a bug or a missing permission: a 500, logged
        raise CaptchaUnavailable(str(problem)) from problem
    try:
        return create_challenge(work=not page)
    except CaptchaUnavailable:
        _give_back(counted)
        raise


def _give_back(counted: Hit) -> None:
    """Best effort: the visitor's 503 is the answer either way."""
    try:
        default_limiter().refund(counted)
    except Exception as problem:
        log.warning("Could not refund the count of a challenge that failed: %s", problem)

