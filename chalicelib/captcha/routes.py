"""``POST /captcha``: a new challenge for the signup form (picture and audio URLs, and the
proof-of-work puzzle the site's script solves while the visitor types), limited per IP
(``captcha.limit``: over it, 429 + Retry-After and nothing drawn);
``GET /captcha/{captcha_id}/audio``: the challenge read aloud, rendered when asked for.

The audio answers bytes (``audio/wav``, ``Cache-Control: no-store``: every rendering
differs, and a used challenge must not play from a cache). API Gateway and Chalice return
bytes only to a request whose ``Accept`` names a binary type the API lists (app.py adds
``audio/*`` to Chalice's own list, which has ``audio/wav``): the site's script asks with
``Accept: audio/wav``; ``*/*`` (browsers' media requests) and ``audio/*`` work too. Any other
Accept gets a Danish 406 rather than Chalice's English 400. See docs/captcha.md#the-audio.

AWS being busy surfaces as ``CaptchaUnavailable`` (caused by the AWS error), which the
route guard answers with 503 + Retry-After like every other route.
"""

from __future__ import annotations

from chalice.app import Blueprint, Response

from chalicelib.core.http import JSON_TYPE, NO_STORE, dumps, error, wait_in_words

bp = Blueprint(__name__)

AUDIO_TYPE = "audio/wav"
# Media ranges in an Accept header that take audio/wav, and that app.api.binary_types
# lets Chalice answer with bytes (it checks the same way: the first match anywhere).
ACCEPTED_RANGES = ("*/*", "audio/*", AUDIO_TYPE)


@bp.route("/captcha", methods=["POST"])
def new_challenge() -> Response:
    # Loaded on the first challenge, not with every cold start.
    from chalicelib.captcha import challenges, limit
    from chalicelib.limits.limiter import RateLimited

    try:
        challenge = limit.new_challenge(bp.current_request, page=False)
    except RateLimited as limited:
        response = error(429, "TooManyRequests", "Der er hentet for mange billeder med tegn fra din "
                         f"netforbindelse på kort tid. Vent {wait_in_words(limited.retry_after)}, og prøv "
                         "så igen.")
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    headers: dict[str, str | list[str]] = {"Content-Type": JSON_TYPE, "Cache-Control": NO_STORE}
    return Response(body=dumps(challenges.challenge_json(challenge)), status_code=201, headers=headers)


def takes_wav(accept: str | None) -> bool:
    """Whether an Accept header takes audio/wav (parameters such as q are ignored, as
    Chalice's own check ignores them)."""
    ranges = {part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")}
    return any(wanted in ranges for wanted in ACCEPTED_RANGES)


@bp.route("/captcha/{captcha_id}/audio", methods=["GET"])
def challenge_audio(captcha_id: str) -> Response:
    request = bp.current_request
    if not takes_wav(request.headers.get("accept")):
        return error(406, "NotAcceptable", "Lyden kan kun hentes som audio/wav. Spørg med "
                                           "'Accept: audio/wav' (eller */*).")
    from chalicelib.captcha import challenges

    try:
        wav = challenges.challenge_audio(captcha_id)
    except challenges.CaptchaRejected as rejected:
        return error(404, "NotFoundError", rejected.message)
    headers: dict[str, str | list[str]] = {
        "Content-Type": AUDIO_TYPE, "Cache-Control": NO_STORE,
        "Content-Disposition": 'inline; filename="tegn.wav"',
    }
    return Response(body=wav, status_code=200, headers=headers)
