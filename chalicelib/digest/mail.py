"""One subscriber's digest mail: their topics' articles, Danish HTML + text, and the
RFC 8058 one-click unsubscribe headers that are theirs alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from chalicelib.articles import categories
from chalicelib.core.config import get_settings
from chalicelib.core.mail import Mail
from chalicelib.digest.models import ArticleSummary
from chalicelib.newsletter import tokens

SENDER_NAME = "Center for Borgerdialog"


@dataclass(frozen=True)
class DigestImage:
    url: str
    width: int
    height: int
    alt: str


@dataclass(frozen=True)
class DigestArticle:
    slug: str
    title: str
    teaser: str
    category: str
    published_at: datetime
    image: DigestImage | None = None


def from_summary(summary: ArticleSummary) -> DigestArticle:
    """An article as the digest record keeps it (``models.ArticleSummary``)."""
    image = summary.image
    return DigestArticle(slug=summary.slug, title=summary.title, teaser=summary.teaser,
                         category=summary.category, published_at=summary.published_at,
                         image=DigestImage(url=image.url, width=int(image.width), height=int(image.height),
                                           alt=image.alt) if image is not None else None)


def for_topics(articles: Sequence[DigestArticle], topics: Sequence[str]) -> list[DigestArticle]:
    """The articles a subscriber asked for: those in their topics, or all if they chose none."""
    if not topics:
        return list(articles)
    wanted = set(topics)
    return [article for article in articles if article.category in wanted]


def article_url(slug: str) -> str:
    """The article's page on the static site (the object key the site renders it to)."""
    from chalicelib.site.pages import article_key

    return f"{get_settings().site_url}/{article_key(slug)}"


def _date(moment: datetime) -> str:
    months = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august",
              "september", "oktober", "november", "december")
    return f"{moment.day}. {months[moment.month - 1]} {moment.year}"


def list_unsubscribe(subscriber_id: str) -> str:
    """``<https one-click URL>, <mailto:...>``: the https one for RFC 8058 clients (Gmail,
    Yahoo, Apple Mail), the mailto for the rest; both carry this subscriber's token."""
    settings = get_settings()
    subject = quote(f"afmeld {tokens.manage_token(subscriber_id)}")
    return (f"<{tokens.one_click_unsubscribe_url(subscriber_id)}>, "
            f"<mailto:{settings.unsubscribe_mailto}?subject={subject}>")


MAIL_IMAGE_WIDTH = 552  # the mail's 600 px column less its padding


def _mail_image(image: DigestImage | None) -> dict[str, str | int] | None:
    """The lead image at the mail's column width; its height keeps the proportions, so the
    mail does not jump when the picture arrives."""
    if image is None:
        return None
    width = min(MAIL_IMAGE_WIDTH, image.width)
    return {"url": image.url, "alt": image.alt, "width": width,
            "height": max(1, round(image.height * width / image.width))}


def compose(*, articles: Sequence[DigestArticle], subscriber_id: str, email: str,
            topics: Sequence[str], week: int | None = None, period: str | None = None) -> Mail | None:
    """The mail, or None when nothing in the digest is in the subscriber's topics. ``period``
    names the digest's period ("uge 48", "december 2026": ``weeks.period_label``); ``week``
    is the short form for a weekly one."""
    chosen = for_topics(articles, topics)
    if not chosen:
        return None
    from chalicelib.core import templating  # Jinja2 loads on the first mail, not on import

    labels = {category.slug: category.label for category in categories.all_categories()}
    unsubscribe_url = tokens.one_click_unsubscribe_url(subscriber_id)
    from chalicelib.newsletter.mails import POSTAL_ADDRESS

    label = period or f"uge {week}"
    context = {
        "period": label,
        "site_url": get_settings().site_url,
        # The mail layout's footer (mail/_layout.html): the reader's own links.
        "api_url": get_settings().api_url,
        "manage_token": tokens.manage_token(subscriber_id),
        "postal_address": POSTAL_ADDRESS,
        "articles": [{"title": a.title, "teaser": a.teaser, "url": article_url(a.slug),
                      "category": labels.get(a.category, a.category), "date": _date(a.published_at),
                      "image": _mail_image(a.image)}
                     for a in chosen],
        "topics": [labels.get(topic, topic) for topic in topics],
        "unsubscribe_url": unsubscribe_url,
    }
    count = len(chosen)
    subject = f"Nyt fra {SENDER_NAME}, {label}: " + (
        chosen[0].title if count == 1 else f"{count} nye artikler")
    return Mail(
        to=email,
        subject=subject,
        text=templating.render("mail/digest.txt", **context),
        html=templating.render("mail/digest.html", **context),
        headers={
            "List-Unsubscribe": list_unsubscribe(subscriber_id),
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": f"Nyhedsbrev fra {SENDER_NAME} <nyhedsbrev.borgerdialog.dk>",
        },
    )
