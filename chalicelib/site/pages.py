"""What the Lambda itself renders of the site, and the addresses both sides agree on.

The editor's site build (``editor.site``) renders every page into the bucket; the API
renders only the signup page with a fresh challenge for visitors without JavaScript
(``newsletter.pages``), and the digest mail links to articles by the same addresses.
"""

from __future__ import annotations

from typing import Any

SITE_NAME = "Center for Borgerdialog"
SITE_DESCRIPTION = "Nyt om erfaringer, cases, metoder, udgivelser om borgerdialog."


def article_key(slug: str) -> str:
    """The bucket key, and so the address below the site's root, of an article's page."""
    return f"artikler/{slug}"


def signup_page(site_url: str, api_url: str, *, captcha: dict[str, str] | None = None,
                error: str | None = None, captcha_error: str | None = None,
                filled: dict[str, Any] | None = None, footer: dict[str, Any] | None = None) -> str:
    """The signup page: static (no challenge: the script fetches one) or the API's
    no-JavaScript form page with a fresh ``captcha`` ({captcha_id, image_url, audio_url});
    after a refused answer, with ``captcha_error`` beside the answer field and what the
    visitor had ``filled`` in ({email, topics, consent}). ``footer``: the editors' footer
    (links, contact block), which only the site build knows."""
    import json

    from chalicelib.captcha.words import NEW_PICTURE_AFTER
    from chalicelib.core import templating
    from chalicelib.newsletter import consent

    page = {"title": f"Nyhedsbrev – {SITE_NAME}",
            "description": f"Tilmeld dig nyhedsbrev fra {SITE_NAME}: {SITE_DESCRIPTION}",
            "canonical": f"{site_url}/nyhedsbrev"}
    text = templating.render("site/newsletter.html", site_url=site_url, api_url=api_url, page=page,
                             captcha=captcha, error=error, noindex=captcha is not None,
                             captcha_error=captcha_error, filled=filled,
                             # The script says the same words as the form page after a refusal.
                             captcha_messages=json.dumps(NEW_PICTURE_AFTER, ensure_ascii=False),
                             # The one consent text (data/consent.json); the signup checks
                             # that the version the form showed is still the current one.
                             consent=consent.current(),
                             # The page's own address, recorded in the consent log (the static
                             # page's, or the API's no-JavaScript page's).
                             form_page=f"{api_url if captcha is not None else site_url}/nyhedsbrev",
                             section="nyhedsbrev", footer=footer)
    return text.rstrip("\n") + "\n"
