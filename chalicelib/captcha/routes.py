"""``POST /captcha``: a new challenge for the signup form (picture and audio URLs).

AWS being busy surfaces as ``CaptchaUnavailable`` (caused by the AWS error), which the
route guard answers with 503 + Retry-After like every other route.
"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.core.http import JSON_TYPE, NO_STORE, dumps

bp = Blueprint(__name__)


@bp.route("/captcha", methods=["POST"])
def new_challenge() -> Response:
    from chalicelib.captcha import challenges  # loads on the first challenge, not with every cold start

    challenge = challenges.create_challenge()
    headers: dict[str, str | list[str]] = {"Content-Type": JSON_TYPE, "Cache-Control": NO_STORE}
    return Response(body=dumps(challenges.challenge_json(challenge)), status_code=201, headers=headers)
