"""``GET /nyhedsbrev``: the signup form with a fresh CAPTCHA in the HTML, for visitors
without JavaScript.

A static page cannot carry a fresh challenge, so the static /nyhedsbrev fetches one with
its script; without a script it links here. This page is the same template with the
challenge filled in, never cached (a challenge is single-use), so the whole signup works
as plain HTML forms: this page → POST /subscriptions → 303 to a result page.
"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.api.http import NO_STORE

bp = Blueprint(__name__)

HTML_TYPE = "text/html; charset=utf-8"


@bp.route("/nyhedsbrev", methods=["GET"])
def signup_form() -> Response:
    from chalicelib import captcha
    from chalicelib.config import get_settings
    from chalicelib.site.headers import security_headers
    from chalicelib.site.pages import signup_page

    settings = get_settings()
    # The site's security headers here too, for whoever reaches the API without the CDN.
    headers: dict[str, str | list[str]] = {**security_headers(local_http=not settings.deployed),
                                           "Content-Type": HTML_TYPE, "Cache-Control": NO_STORE}
    try:
        challenge = captcha.create_challenge()
    except captcha.CaptchaUnavailable:
        body = signup_page(settings.site_url, settings.api_url,
                           error="Vi kunne ikke lave et billede med tegn lige nu. Prøv igen om lidt.")
        return Response(body=body, status_code=503, headers={**headers, "Retry-After": "5"})
    fresh = {"captcha_id": challenge.captcha_id, "image_url": challenge.image_url,
             "audio_url": challenge.audio_url}
    return Response(body=signup_page(settings.site_url, settings.api_url, captcha=fresh),
                    status_code=200, headers=headers)
