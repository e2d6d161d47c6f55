"""Every mail we send, read as the receiving mail client reads it: the raw bytes moto server's
SES was given, checked by tests/support/mail_bytes.py, not through Python's ``email`` policy
(which decodes encoded-words where a client would not, and so hid a broken List-Unsubscribe).

Each mail kind is one case of ``KINDS``: a function that drives the real path (signup through
the API, the digest through its schedule and worker) and says what the recipient must read.
A new kind of mail is one more entry. The production URLs are used (.chalice/config.json), so
lines are as long as in the mails subscribers get.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.core import aws, mail
from chalicelib.core.config import get_settings
from chalicelib.digest import mail as digest_mail
from chalicelib.digest.weeks import digest_id_for, week_number
from chalicelib.newsletter import mails as signup_mails
from chalicelib.newsletter import tokens
from tests.support import mail_bytes
from tests.support.digest import add_subscriber, invoke, pump, schedule_event
from tests.support.fixtures import ArticleFactory
from tests.support.subscriptions import mails_to, settings_from_env, subscribe

Outbox = Callable[[], list[Any]]
PRODUCTION = {"API_URL": "https://borgerdialog.dk/api", "SITE_URL": "https://borgerdialog.dk"}
# A title as editors write them: Danish letters, a dash, longer than a header line.
DANISH_TITLE = ("Borgerinddragelse på Ærø og i Æbeltoft – erfaringer fra tre års dialogmøder med "
                "beboere, politikere og forvaltning")


@dataclass(frozen=True)
class Sent:
    raw: bytes
    plain: str  # the text part as devtools.outbox (Python's parser) reads it
    expected: mail_bytes.Expected


def expected(to: str, subject: str, *, one_click: bool = False,
             headers: dict[str, str] | None = None) -> mail_bytes.Expected:
    settings = get_settings()
    name, address = parseaddr(settings.mail_from)
    list_unsubscribe = None
    if one_click:
        token = tokens.manage_token(tokens.subscriber_id(to))
        list_unsubscribe = (f"{settings.api_url}/subscriptions/unsubscribe?token={token}",
                            f"mailto:{settings.unsubscribe_mailto}?subject=afmeld%20{token}")
    return mail_bytes.Expected(to=to, subject=subject, sender_name=name, sender_address=address,
                               list_unsubscribe=list_unsubscribe, headers=headers or {})


def only_mail_to(outbox: Outbox, address: str) -> Any:
    [sent] = mails_to(outbox, address)
    return sent


def confirm_mail(client: Client, outbox: Outbox, add_articles: ArticleFactory) -> Sent:
    address = "ny.laeser@example.org"
    assert subscribe(client, address).status_code == 202
    sent = only_mail_to(outbox, address)
    return Sent(sent.raw, sent.part("plain"), expected(
        address, signup_mails.SUBJECTS["confirm"], headers={"Auto-Submitted": "auto-generated"}))


def already_mail(client: Client, outbox: Outbox, add_articles: ArticleFactory) -> Sent:
    address = "allerede@example.org"
    add_subscriber(address)
    assert subscribe(client, address).status_code == 202
    sent = only_mail_to(outbox, address)
    return Sent(sent.raw, sent.part("plain"), expected(
        address, signup_mails.SUBJECTS["already"], headers={"Auto-Submitted": "auto-generated"}))


def digest(client: Client, outbox: Outbox, add_articles: ArticleFactory) -> Sent:
    from chalicelib.articles.model import Article

    [slug] = add_articles(1, category="cases", start=datetime.now(UTC) - timedelta(days=1))
    Article.get(slug).update(actions=[Article.title.set(DANISH_TITLE)])
    address = "laeser@example.org"
    add_subscriber(address)
    assert invoke(client, "digest_schedule", schedule_event(client))["outcome"] == "sent-to-queue"
    pump(client)
    sent = only_mail_to(outbox, address)
    week = week_number(digest_id_for(datetime.now(UTC)))
    subject = f"Nyt fra {digest_mail.SENDER_NAME}, uge {week}: {DANISH_TITLE}"
    return Sent(sent.raw, sent.part("plain"), expected(address, subject, one_click=True))


def rights_link_mail(client: Client, outbox: Outbox, add_articles: ArticleFactory) -> Sent:
    """The one-hour link to export or erase, asked for with the digest's manage token."""
    address = "mine.data@example.org"
    manage = tokens.manage_token(add_subscriber(address))
    request = {"token": manage}
    assert client.http.post("/subscriptions/rights-link", headers={"Content-Type": "application/json"},
                            body=json.dumps(request).encode()).status_code == 202
    sent = only_mail_to(outbox, address)
    return Sent(sent.raw, sent.part("plain"), expected(
        address, signup_mails.SUBJECTS["rights"], headers={"Auto-Submitted": "auto-generated"}))


def welcome_mail(client: Client, outbox: Outbox, add_articles: ArticleFactory) -> Sent:
    """The welcome after confirming, with the manage links."""
    address = "velkommen@example.org"
    assert subscribe(client, address).status_code == 202
    link = only_mail_to(outbox, address).part("plain").split("/subscriptions/confirm?", 1)[1].split()[0]
    assert client.http.post(f"/subscriptions/confirm?{link}").status_code == 200
    [sent] = [mail for mail in mails_to(outbox, address) if mail.subject == signup_mails.SUBJECTS["welcome"]]
    return Sent(sent.raw, sent.part("plain"), expected(
        address, signup_mails.SUBJECTS["welcome"], headers={"Auto-Submitted": "auto-generated"}))


KINDS: dict[str, Callable[[Client, Outbox, ArticleFactory], Sent]] = {
    "welcome": welcome_mail,
    "confirm": confirm_mail,
    "already": already_mail,
    "digest": digest,
    "rights-link": rights_link_mail,
}


@pytest.fixture
def production_urls() -> Iterator[None]:
    with settings_from_env(**PRODUCTION):
        yield


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_mail_kind_is_right_on_the_wire(kind: str, production_urls: None, client: Client,
                                             outbox: Outbox, add_articles: ArticleFactory) -> None:
    sent = KINDS[kind](client, outbox, add_articles)
    reading = mail_bytes.read(sent.raw, sent.expected)
    assert reading.problems == [], "\n".join(reading.problems)
    # The reader and the outbox (Python's parser) read the same text: neither lost anything.
    assert reading.parts[0].text == sent.plain
    assert '<html lang="da">' in reading.parts[1].text


@pytest.mark.no_aws
@pytest.mark.parametrize("api_url", [
    "https://borgerdialog.dk/api",
    "https://dev.borgerdialog.dk/api",
    "https://k3x9q2w7e1.execute-api.eu-north-1.amazonaws.com/api",  # a stage without a domain
])
def test_list_unsubscribe_reads_literally_on_the_raw_bytes(api_url: str) -> None:
    """RFC 8058 clients look for ``<https://…>`` in the field as written; an encoded-word
    (what Python's folder makes of a long URL) hides it, and one-click breaks silently."""
    with settings_from_env(API_URL=api_url):
        sid = tokens.subscriber_id("laeser@example.org")
        composed = digest_mail.compose(
            week=48, subscriber_id=sid, email="laeser@example.org", topics=[],
            articles=[digest_mail.DigestArticle("a", "Artikel", "Teaser", "cases", datetime.now(UTC))])
        assert composed is not None
        raw = mail.build(composed).as_bytes()
        wanted = digest_mail.list_unsubscribe(sid)
    [field] = [f for f in mail_bytes.header_fields(raw) if f.key == "list-unsubscribe"]
    assert field.value == wanted, field.lines
    assert all(line.endswith(">,") for line in field.lines[:-1]), field.lines  # folded at the comma
    assert wanted.startswith(f"<{api_url}/subscriptions/unsubscribe?token=")


@pytest.mark.no_aws
@pytest.mark.parametrize("subject", [
    DANISH_TITLE,
    "Bekræft din tilmelding",
    "Æ" * 120,  # encoded-words of whole characters, each at most 75 long
    "Et ord der er for langt: " + "x" * 200,
    "Emoji 🎉 og en familie 👩‍👩‍👧",
    "Titel med =?utf-8?q?kode?= i",  # must not read as an encoded-word
    'Hvad er "borgerdialog"? (del 2): æ, ø & å',
])
@pytest.mark.parametrize("sender", [
    "Center for Borgerdialog <nyhedsbrev@borgerdialog.dk>",
    "Center for Borgerdialog – Nyhedsbrev <nyhedsbrev@borgerdialog.dk>",
    '"Borgerdialog, Center for" <nyhedsbrev@borgerdialog.dk>',
    "Centér for Borgérdialog og Æbeltoft Kommunes fælles nyhedsbrev om borgerinddragelse "
    "<nyhedsbrev@borgerdialog.dk>",
])
def test_subjects_and_sender_names_read_back_exactly(subject: str, sender: str) -> None:
    with settings_from_env(MAIL_FROM=sender):
        raw = mail.build(mail.Mail(to="laeser@example.org", subject=subject, text="Hej æøå\n",
                                   html='<html lang="da"><p>Hej æøå</p></html>')).as_bytes()
        problems = mail_bytes.problems(raw, expected("laeser@example.org", subject))
    assert problems == [], "\n".join(problems)


@pytest.mark.no_aws
def test_a_field_that_cannot_go_out_verbatim_is_refused_not_encoded() -> None:
    def build(**headers: str) -> None:
        mail.build(mail.Mail(to="a@example.org", subject="Hej", text="t", html="h", headers=headers))

    with pytest.raises(ValueError, match="ASCII"):
        build(**{"List-Id": "Nyhedsbrev fra Æbeltoft <nyhedsbrev.borgerdialog.dk>"})
    with pytest.raises(ValueError, match="longer than a line"):
        build(**{"List-Unsubscribe": f"<https://borgerdialog.dk/{'x' * 1000}>"})
    with pytest.raises(ValueError, match="ASCII"):
        mail.build(mail.Mail(to="læser@example.org", subject="Hej", text="t", html="h"))


def test_ses_is_told_the_sender_as_the_from_field_reads(outbox: Outbox) -> None:
    """SES wants a non-ASCII sender name RFC 2047-encoded in FromEmailAddress as well."""
    requests: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        requests.append(params)

    ses = aws.client("sesv2")
    ses.meta.events.register("provide-client-params.sesv2.SendEmail", record, unique_id="record-from")
    try:
        with settings_from_env(MAIL_FROM="Center for Borgerdialog – Nyhedsbrev <nyhedsbrev@borgerdialog.dk>"):
            mail.send(mail.Mail(to="laeser@example.org", subject="Hej", text="t", html="h"))
    finally:
        ses.meta.events.unregister("provide-client-params.sesv2.SendEmail", unique_id="record-from")
    [sent] = outbox()
    [request] = requests
    [from_field] = [f for f in mail_bytes.header_fields(sent.raw) if f.key == "from"]
    assert request["FromEmailAddress"].isascii()
    assert request["FromEmailAddress"] == "".join(from_field.lines).split(":", 1)[1].strip()
