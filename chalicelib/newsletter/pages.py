"""The newsletter's HTML pages: the signup form without JavaScript, the pages behind mail
links (confirm, unsubscribe, export, erase) and the result page form posts lead to.

``GET /nyhedsbrev`` is the signup form with a fresh CAPTCHA in the HTML. A static page
cannot carry a fresh challenge, so the static /nyhedsbrev fetches one with its script;
without a script it links here. This page is the same template with the challenge filled
in, never cached (a challenge is single-use), so the whole signup works as plain HTML
forms: this page → POST /subscriptions → 303 to a result page. Its challenges carry no
proof of work (a browser without JavaScript cannot do one), so they are limited per IP
harder than ``POST /captcha``'s (``captcha.limit``); over the limit it is a Danish 429 page
with Retry-After (``challenges_limited_page``).

Mail scanners and link previews open every link in a mail, so these GETs only show a page
whose button POSTs (``newsletter.actions``); none of them changes anything. The export and
erase pages show their real button only for a rights link (the one mailed to the subscribed
address); opened from a digest (a manage token) they offer to mail that link. The
pages work without JavaScript, carry no inline script or style, are never cached, and send
no Referer (their URLs hold the link's token): the site's security headers. An AWS fault
on a page, or on its form post, is a Danish 503 page with Retry-After (``unavailable_page``,
which the route guard answers with); a signup form post over the per-IP limit is a Danish 429
page with Retry-After (``rate_limited_page``).
"""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib.core import faults
from chalicelib.core.config import get_settings
from chalicelib.core.guard import fault_page
from chalicelib.core.http import NO_STORE, wait_in_words
from chalicelib.newsletter.outcomes import (
    ALREADY_CONFIRMED,
    CONFIRMED_NOW,
    CROSS_SITE,
    ERASED,
    PREFERENCES_SAVED,
    RIGHTS_LINK_SENT,
    SIGNUP_ACCEPTED,
    UNSUBSCRIBED_NOW,
    SubscriptionError,
)
from chalicelib.site.headers import security_headers

bp = Blueprint(__name__)

HTML_TYPE = "text/html; charset=utf-8"

LINK_UNAVAILABLE = "LinkUnavailable"
TOO_MANY = "TooManyRequests"

# What the result page says after a form post: fixed texts keyed by outcome or error code,
# so a crafted result URL can show nothing but our own words.
RESULTS: dict[str, tuple[str, str]] = {
    # The same words for a new, pending, confirmed or suppressed address (no enumeration);
    # the wait and the day's mails are the settings' (``_signup_accepted``).
    SIGNUP_ACCEPTED: ("Tjek din indbakke", ""),
    CONFIRMED_NOW: ("Tak – du er tilmeldt", "Din tilmelding er bekræftet. Du får nyhedsbrevet, "
                            "når der er nye artikler."),
    ALREADY_CONFIRMED: ("Du er allerede tilmeldt", "Din tilmelding var allerede bekræftet. "
                                "Du behøver ikke gøre mere."),
    PREFERENCES_SAVED: ("Dine valg er gemt", "Fremover får du nyhedsbrevet med de emner og så ofte, som du "
                        "har valgt. Du kan altid ændre det igen med linket nederst i vores mails."),
    "NotSubscribed": ("Du er ikke tilmeldt", "Adressen er ikke tilmeldt nyhedsbrevet, så der er ingen valg "
                      "at ændre. Tilmeld dig igen på vores hjemmeside, hvis du vil have det."),
    "UnknownFormat": ("Formularen kunne ikke læses", "Genindlæs siden og prøv igen."),
    "UnknownFrequency": ("Vælg hvor ofte", "Vælg, om du vil have nyhedsbrevet hver uge eller én gang om "
                         "måneden, og prøv igen."),
    UNSUBSCRIBED_NOW: ("Du er afmeldt", "Du får ikke flere nyhedsbreve fra os. Du kan altid "
                               "tilmelde dig igen på vores hjemmeside."),
    ERASED: ("Dine data er slettet", "Vi har slettet din tilmelding og loggen over dit samtykke, "
                     "og vi sender dig ikke flere mails. Vi har ingen oplysninger om dig tilbage."),
    # The same words whether a mail went out or not (unknown address, a link sent minutes
    # ago): the page tells nobody whether the address is still ours.
    RIGHTS_LINK_SENT: ("Tjek din indbakke", "Vi har sendt et link til den adresse, du er tilmeldt med, "
                       "hvis vi har data om dig. Med linket kan du hente eller slette dine data i en "
                       "time. Kommer der ingen mail inden for et par minutter, så kig i spam-mappen. "
                       "Vi sender højst ét link hvert femte minut."),
    "InvalidEmail": ("Tjek e-mailadressen", "Det ligner ikke en e-mailadresse, vi kan sende til. Skriv "
                     "én adresse som navn@eksempel.dk, kun med almindelige bogstaver før @."),
    "InvalidFormPage": ("Formularen kunne ikke læses", "Formularen sagde ikke, hvilken af vores sider den "
                        "står på. Genindlæs siden og prøv igen."),
    "ConsentRequired": ("Samtykke mangler", "Sæt flueben ved samtykket for at tilmelde dig."),
    "ConsentOutdated": ("Samtykketeksten er ændret", "Genindlæs siden, læs den nye tekst og tilmeld "
                        "dig igen."),
    "UnknownTopic": ("Ukendt emne", "Vælg emner fra listen i formularen."),
    "UnknownField": ("Formularen kunne ikke læses", "Formularen indeholdt et felt, vi ikke kender. "
                     "Genindlæs siden og prøv igen."),
    "MissingField": ("Et felt mangler", "Udfyld alle felter i formularen og prøv igen."),
    "WrongType": ("Formularen kunne ikke læses", "Genindlæs siden og prøv igen."),
    "MalformedBody": ("Formularen kunne ikke læses", "Genindlæs siden og prøv igen."),
    "MalformedJson": ("Formularen kunne ikke læses", "Genindlæs siden og prøv igen."),
    "PayloadTooLarge": ("For meget data", "Formularen sendte mere, end vi tager imod. Genindlæs siden "
                        "og prøv igen."),
    "CaptchaMissing": ("Skriv tegnene", "Skriv tegnene fra billedet eller lydfilen og prøv igen."),
    "CaptchaUnknown": ("Prøv igen", "Billedet med tegn er ikke længere gyldigt. Genindlæs siden og "
                       "prøv med et nyt."),
    "CaptchaExpired": ("Prøv igen", "Billedet med tegn er udløbet. Genindlæs siden og prøv med et nyt."),
    "CaptchaWrong": ("Forkerte tegn", "Tegnene passede ikke. Gå tilbage og prøv igen."),
    "CaptchaUsed": ("Prøv igen", "Billedet med tegn er allerede brugt. Genindlæs siden og prøv med "
                    "et nyt."),
    "CaptchaExhausted": ("Prøv igen", "Der er gættet forkert for mange gange. Genindlæs siden og prøv "
                         "med et nyt billede."),
    TOO_MANY: ("For mange tilmeldinger", "Der er kommet for mange tilmeldinger fra din "
                        "netforbindelse. Prøv igen senere."),
    "ServiceUnavailable": ("Prøv igen om lidt", "Vi kunne ikke gennemføre tilmeldingen lige nu. "
                           "Genindlæs siden om lidt for at sende formularen igen, eller gå tilbage "
                           "og send den igen."),
    # A link page, or its form post, met an AWS fault: the link still works.
    LINK_UNAVAILABLE: ("Prøv igen om lidt", "Vi kunne ikke gennemføre det lige nu, fordi en af vores "
                       "tjenester har travlt. Linket virker stadig: genindlæs siden om lidt for at "
                       "prøve igen."),
    "InvalidLink": ("Linket virker ikke", "Linket er ugyldigt eller bruges ikke længere. Kopiér hele "
                    "linket fra den nyeste mail, eller tilmeld dig igen."),
    "MissingToken": ("Linket virker ikke", "Linket mangler en del. Kopiér hele linket fra mailen."),
    "ExpiredLink": ("Linket er udløbet", "Bekræftelseslinket er udløbet. Tilmeld dig igen, så sender "
                    "vi et nyt."),
    "Unsubscribed": ("Du er afmeldt", "Du har afmeldt nyhedsbrevet efter denne tilmelding. Tilmeld "
                     "dig igen, hvis du vil have det."),
    "Suppressed": ("Vi kan ikke sende til adressen", "Mails til denne adresse er blevet afvist, så vi "
                   "sender ikke længere til den. Skriv til os, hvis det er en fejl."),
    "Busy": ("Prøv igen", "Tilmeldingen blev ændret samtidig. Prøv igen."),
    "RightsLinkRequired": ("Bed om et link først", "Linket fra nyhedsbrevet kan kun afmelde. Åbn det "
                           "igen og tryk på »Send mig et link«, så sender vi et link til at hente "
                           "eller slette dine data til den adresse, du er tilmeldt med."),
    "RightsLinkExpired": ("Linket er udløbet", "Et link til at hente eller slette dine data virker kun "
                          "i en time. Åbn linket i mailen igen, så kan du bede om et nyt."),
    # A form post from another site's page (400): nothing was done.
    CROSS_SITE: ("Formularen kom fra en anden hjemmeside", "Af sikkerhedshensyn tager vi kun imod "
                 "formularer fra vores egen hjemmeside, så vi har ikke gjort noget. Vil du tilmelde dig "
                 "nyhedsbrevet, så brug formularen på vores hjemmeside. Kom du fra et link i en mail "
                 "fra os, så åbn linket igen."),
}
SUCCESSES = frozenset({SIGNUP_ACCEPTED, CONFIRMED_NOW, ALREADY_CONFIRMED,
                       UNSUBSCRIBED_NOW, ERASED, RIGHTS_LINK_SENT, PREFERENCES_SAVED})


def _signup_accepted() -> str:
    settings = get_settings()
    return ("Tak! Vi sender en mail om tilmeldingen til adressen. Er du ikke tilmeldt i forvejen, "
            "er der et link i mailen, som du skal trykke på for at bekræfte. Er der ingen mail inden "
            "for et par minutter, så kig i spam-mappen. Er den heller ikke der, kan du tilmelde dig "
            f"igen om {wait_in_words(settings.confirm_mail_interval_minutes * 60)}: vi sender højst "
            f"{_COUNT_WORDS.get(settings.confirm_mails_per_day, str(settings.confirm_mails_per_day))} "
            "mails om tilmelding til den samme adresse i døgnet.")


_COUNT_WORDS = {1: "én", 2: "to", 3: "tre", 4: "fire", 5: "fem"}


def _result(status: str) -> tuple[str, str]:
    heading, message = RESULTS[status]
    return (heading, _signup_accepted()) if status == SIGNUP_ACCEPTED else (heading, message)


def result_message(status: str) -> str:
    return _result(status)[1]


def _page(template: str, status_code: int = 200, **context: Any) -> Response:
    from chalicelib.core.templating import render

    settings = get_settings()
    body = render(template, site_url=settings.site_url, api_url=settings.api_url, **context)
    # The site's own security headers (one list with the CDN's): no-referrer, so a token in
    # this page's URL never leaks; a CSP that allows no inline script or style.
    headers = {**security_headers(local_http=not settings.deployed),
               "Content-Type": HTML_TYPE, "Cache-Control": "no-store"}
    return Response(body=body, status_code=status_code, headers=dict(headers))


def _token() -> str:
    """The link's token; SubscriptionError (400 MissingToken) when the link lacks it."""
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    token = query.get("token")
    if not token or len(token) > 200:
        raise SubscriptionError(400, "MissingToken", "")
    return token


def _problem_page(problem: SubscriptionError) -> Response:
    heading, message = RESULTS.get(problem.code, ("Noget gik galt", problem.message))
    return _page("subscriptions/result.html", problem.status, heading=heading, message=message,
                 success=False)


def unavailable_page(found: faults.Transient) -> Response:
    """For a browser (a link page, its form post) meeting an AWS fault: the Danish 503 page
    with Retry-After, as the route guard's JSON 503 says to API clients. Reloading it repeats
    the same request, which is what works once the fault clears."""
    return result_response(LINK_UNAVAILABLE, 503, {"Retry-After": str(found.retry_after)})


def rate_limited_page(retry_after: int) -> Response:
    """For a signup form post over the per-IP limit: the Danish 429 page with Retry-After and
    the wait in words. The limit spent the post's CAPTCHA, so the visitor signs up again from
    the form (a new picture), not by reloading this page."""
    message = (f"Der er kommet for mange tilmeldinger fra din netforbindelse på kort tid. Vent cirka "
               f"{wait_in_words(retry_after)}, og tilmeld dig så igen fra siden med tilmeldingsformularen.")
    response = _page("subscriptions/result.html", 429, heading=RESULTS[TOO_MANY][0], message=message,
                     success=False)
    response.headers["Retry-After"] = str(retry_after)
    return response


def challenges_limited_page(retry_after: int) -> Response:
    """For the no-JavaScript signup page over the per-IP limit on its challenges: the Danish
    429 page with Retry-After and the wait in words. Nothing was drawn or stored."""
    message = (f"Der er hentet mange billeder med tegn fra din netforbindelse på kort tid. Vent cirka "
               f"{wait_in_words(retry_after)}, og genindlæs så siden med tilmeldingsformularen.")
    response = _page("subscriptions/result.html", 429, heading="For mange billeder med tegn",
                     message=message, success=False)
    response.headers["Retry-After"] = str(retry_after)
    return response


@bp.route("/nyhedsbrev", methods=["GET"])
def signup_form() -> Response:
    return _form_with_new_picture(bp.current_request, 200)


def signup_form_again(request: Request, code: str, fields: dict[str, Any]) -> Response:
    """A form post whose answer (or proof of work) was refused (``code``: CaptchaWrong,
    CaptchaExpired, ProofOfWorkMissing, ...): the form page again, 400, with a new picture, the
    message beside the answer field and what the visitor had filled in, so they type only the
    new characters. The new picture counts against the page's per-IP limit like any other."""
    from chalicelib.captcha.words import NEW_PICTURE_AFTER

    topics = fields.get("topics")
    filled = {"email": fields.get("email") if isinstance(fields.get("email"), str) else "",
              "topics": [t for t in topics if isinstance(t, str)] if isinstance(topics, list) else [],
              "consent": fields.get("consent") is True}
    return _form_with_new_picture(request, 400, captcha_error=NEW_PICTURE_AFTER[code], filled=filled)


def _form_with_new_picture(request: Request, status_code: int, **form: Any) -> Response:
    from chalicelib.captcha import challenges, limit
    from chalicelib.limits.limiter import RateLimited
    from chalicelib.site.pages import signup_page

    settings = get_settings()
    # The site's security headers here too, for whoever reaches the API without the CDN.
    headers: dict[str, str | list[str]] = {**security_headers(local_http=not settings.deployed),
                                           "Content-Type": HTML_TYPE, "Cache-Control": NO_STORE}
    try:
        challenge = limit.new_challenge(request, page=True)
    except RateLimited as limited:
        return challenges_limited_page(limited.retry_after)
    except challenges.CaptchaUnavailable:
        body = signup_page(settings.site_url, settings.api_url,
                           error="Vi kunne ikke lave et billede med tegn lige nu. Prøv igen om lidt.")
        return Response(body=body, status_code=503, headers={**headers, "Retry-After": "5"})
    fresh = {"captcha_id": challenge.captcha_id, "image_url": challenge.image_url,
             "audio_url": challenge.audio_url}
    return Response(body=signup_page(settings.site_url, settings.api_url, captcha=fresh, **form),
                    status_code=status_code, headers=headers)


@bp.route("/subscriptions/confirm", methods=["GET"])
@fault_page(unavailable_page)
def confirm_page() -> Response:
    from chalicelib.newsletter import lifecycle  # pynamodb: only when a link is opened

    try:
        token = _token()
        state = lifecycle.confirm_state(token).state
    except SubscriptionError as problem:
        return _problem_page(problem)
    if state in ("pending", "confirmed"):
        return _page("subscriptions/confirm.html", token=token, confirmed=state == "confirmed")
    code = {"expired": "ExpiredLink", "unsubscribed": "Unsubscribed", "suppressed": "Suppressed"}[state]
    return _problem_page(SubscriptionError(410 if state == "expired" else 409, code, ""))


def _held(sid: str) -> str | None:
    """The subscriber's status now (one GetItem), or None when nothing is held (erased, or
    never here): the pages after an action say what is true now."""
    from chalicelib.newsletter.store import default_store

    current = default_store().get(sid)
    return None if current is None else str(current.status)


def _manage_page(template: str) -> Response:
    from chalicelib.newsletter import tokens

    try:
        token = _token()
        sid = tokens.manage_subscriber(token)
    except SubscriptionError as problem:
        return _problem_page(problem)
    status = _held(sid)
    # Already unsubscribed, suppressed or erased: no button that would change nothing.
    return _page(template, token=token, subscribed=status in ("pending", "confirmed"),
                 held=status is not None)


def _rights_page(template: str) -> Response:
    """Export or erase: the real button for a rights link, unless nothing is held any more
    (after an erase: one GetItem says so, and the page offers the signup instead); for a
    manage link (a digest, maybe forwarded) the offer to mail a rights link; for an expired
    rights link the offer of a new one (410). Only a valid rights link costs an AWS call."""
    from chalicelib.core.clock import utcnow
    from chalicelib.newsletter import tokens

    try:
        token = _token()
    except SubscriptionError as problem:
        return _problem_page(problem)
    try:
        sid = tokens.rights_subscriber(token, now=utcnow())
    except SubscriptionError as problem:
        if problem.code == "RightsLinkRequired":
            return _page(template, token=token, mode="ask")
        if problem.code == "RightsLinkExpired":
            return _page(template, problem.status, token=token, mode="expired")
        return _problem_page(problem)
    return _page(template, token=token, mode="act" if _held(sid) is not None else "empty")


@bp.route("/subscriptions/unsubscribe", methods=["GET"])
@fault_page(unavailable_page)
def unsubscribe_page() -> Response:
    return _manage_page("subscriptions/unsubscribe.html")


@bp.route("/subscriptions/preferences", methods=["GET"])
@fault_page(unavailable_page)
def preferences_page() -> Response:
    """Topics and frequency, as they are now (one GetItem); its form posts them."""
    from chalicelib.articles import categories
    from chalicelib.newsletter import preferences

    try:
        token = _token()
        chosen = preferences.current(token)
    except SubscriptionError as problem:
        return _problem_page(problem)
    return _page("subscriptions/preferences.html", token=token, chosen=chosen,
                 categories=categories.all_categories())


@bp.route("/subscriptions/export", methods=["GET"])
@fault_page(unavailable_page)
def export_page() -> Response:
    return _rights_page("subscriptions/export.html")


@bp.route("/subscriptions/erase", methods=["GET"])
@fault_page(unavailable_page)
def erase_page() -> Response:
    return _rights_page("subscriptions/erase.html")


def export_view(data: dict[str, Any], token: str) -> Response:
    """The export as a Danish page (a form post of the export page's "Se dine data")."""
    return _page("subscriptions/export_view.html", data=data, token=token)


@bp.route("/subscriptions/result", methods=["GET"])
def result_page() -> Response:
    query: dict[str, str] = dict(bp.current_request.query_params or {})
    status = query.get("status", "")
    if status not in RESULTS:
        return _page("subscriptions/result.html", 404, heading="Siden findes ikke",
                     message="Der er ingen besked at vise her.", success=False)
    return result_response(status)


def result_response(status: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The result page for ``status`` (a key of RESULTS), as a response of its own."""
    heading, message = _result(status)
    response = _page("subscriptions/result.html", status_code, heading=heading, message=message,
                     success=status in SUCCESSES)
    response.headers.update(headers or {})
    return response
