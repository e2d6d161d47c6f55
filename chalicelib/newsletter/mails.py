"""The newsletter's own mails (templates ``mail/<kind>.txt|html``, Danish): the signup's
confirmation and "already subscribed" reminder, the welcome after confirming (sent by
``newsletter.lifecycle``), and the link to export or erase one's data
(``rights``, sent by ``newsletter.rights``). Their only visitor-typed text is the address."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.articles import categories
from chalicelib.core.config import get_settings

SUBJECTS = {
    "confirm": "Bekræft din tilmelding til nyhedsbrevet fra Center for Borgerdialog",
    "already": "Du er allerede tilmeldt nyhedsbrevet fra Center for Borgerdialog",
    "rights": "Dit link til at hente eller slette dine data",
    "welcome": "Velkommen til nyhedsbrevet fra Center for Borgerdialog",
}


# The centre's postal address for the mails' footer (mail/_layout.html). PLACEHOLDER: the
# centre has not given it yet (content/sider/om.md has the same gap); empty shows nothing.
POSTAL_ADDRESS = ""


def topic_labels(slugs: Sequence[str]) -> list[str]:
    """The categories' names as the mail shows them, in the order given."""
    known = categories.by_slug()
    return [known[slug].label for slug in slugs if slug in known]


def send(kind: str, to: str, context: dict[str, Any]) -> str:
    """Render and send one of these mails; returns SES's message id. SES errors propagate."""
    from chalicelib.core import mail
    from chalicelib.core.templating import render

    settings = get_settings()
    full = {"manage_token": None, **context, "email": to, "site_url": settings.site_url,
            "api_url": settings.api_url, "postal_address": POSTAL_ADDRESS}
    return mail.send(mail.Mail(
        to=to, subject=SUBJECTS[kind],
        text=render(f"mail/{kind}.txt", **full), html=render(f"mail/{kind}.html", **full),
        headers={"Auto-Submitted": "auto-generated"},
    ))
