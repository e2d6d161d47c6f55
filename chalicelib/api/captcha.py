"""``POST /captcha``: a new challenge for the signup form (picture and audio URLs)."""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib import captcha
from chalicelib.api.http import JSON_TYPE, NO_STORE, dumps, error

bp = Blueprint(__name__)


@bp.route("/captcha", methods=["POST"])
def new_challenge() -> Response:
    try:
        challenge = captcha.create_challenge()
    except captcha.CaptchaUnavailable:
        response = error(503, "ServiceUnavailable",
                         "Vi kunne ikke lave et nyt billede lige nu. Prøv igen om lidt.")
        response.headers["Retry-After"] = "5"
        return response
    headers: dict[str, str | list[str]] = {"Content-Type": JSON_TYPE, "Cache-Control": NO_STORE}
    return Response(body=dumps(captcha.challenge_json(challenge)), status_code=201, headers=headers)
