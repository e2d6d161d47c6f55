"""Export and erase need the link mailed to the subscribed address, never a digest's token.

A digest gets forwarded: whoever holds one holds its manage token (footer, List-Unsubscribe,
mailto). That token still unsubscribes in one click, but export and erase only offer to mail
a short-lived link (one hour) to the subscribed address; the link's page has the real button.
See docs/decisions/rights-links.md.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.limits import limiter
from chalicelib.newsletter import rights, tokens
from chalicelib.newsletter.models import CONFIRMED, SUPPRESSED, UNSUBSCRIBED, Subscriber
from chalicelib.newsletter.outcomes import SubscriptionError
from tests.support.digest import add_subscriber, invoke, pump, schedule_event
from tests.support.fixtures import ArticleFactory
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    held_items,
    mails_to,
    page_form,
    path_of,
    post_form,
    post_json,
    rights_links,
    subscribe,
    token_of,
)

EVA = "eva@example.org"
LINK_SUBJECT = "Dit link til at hente eller slette dine data"


def _subscribed(client: Client, outbox: Outbox, email: str = EVA) -> str:
    """Sign ``email`` up and confirm it through the mail; its manage token."""
    assert subscribe(client, email).status_code == 202
    [mail] = mails_to(outbox, email)
    assert client.http.post(path_of(confirm_link(mail))).status_code == 200
    return tokens.manage_token(tokens.subscriber_id(email))


def _people() -> dict[str, list[dict[str, Any]]]:
    """What is stored about people: subscribers and ledger events (not the rate limits)."""
    items = held_items()
    return {"subscribers": items["subscribers"], "ledger": items["ledger"]}


def _link_mails(outbox: Outbox) -> list[Any]:
    return [mail for mail in outbox() if mail.subject == LINK_SUBJECT]


def _ask_for_link(client: Client, page_path: str) -> Any:
    """Open an export or erase page with a manage token and press its button, as a browser."""
    page = client.http.get(page_path)
    assert page.status_code == 200, page.body
    action, fields = page_form(page.body.decode())
    assert action == "/subscriptions/rights-link"
    return post_form(client, action, fields)


def _result_page(client: Client, response: Any) -> str:
    assert response.status_code == 303, response.body
    return str(client.http.get(path_of(response.headers["Location"])).body.decode())


def test_a_forwarded_digest_cannot_export_or_erase(
        client: Client, outbox: Outbox, add_articles: ArticleFactory) -> None:
    # Eva subscribes; a week later the digest comes, and she forwards it to Mallory.
    _subscribed(client, outbox)
    add_articles(1, category="metoder", prefix="metode", start=datetime.now(UTC) - timedelta(days=2))
    invoke(client, "digest_schedule", schedule_event(client))
    pump(client)
    [digest] = [mail for mail in mails_to(outbox, EVA) if mail.message["List-Unsubscribe"]]
    forwarded = message_from_bytes(digest.message.as_bytes(), policy=policy.default)
    footer = [line for line in digest.part("plain").splitlines() if "/subscriptions/unsubscribe?" in line]
    unsubscribe_url = footer[0].split(": ", 1)[1].strip()
    assert f"<{unsubscribe_url}>" in str(forwarded["List-Unsubscribe"])
    before = _people()

    # Mallory follows the footer to the page's "your data" links and presses their buttons.
    page = client.http.get(path_of(unsubscribe_url)).body.decode()
    manage = token_of(unsubscribe_url)
    export_page = f"/subscriptions/export?token={manage}"
    erase_page = f"/subscriptions/erase?token={manage}"
    assert export_page in page.replace("&amp;", "&") and erase_page in page.replace("&amp;", "&")
    for page_path in (export_page, erase_page):
        html = client.http.get(page_path).body.decode()
        action, fields = page_form(html)
        answer = post_form(client, action, fields)
        assert EVA not in answer.body.decode()  # no download of her data
        assert "Send mig et link" in html and EVA not in html
        shown = _result_page(client, answer)
        assert "Tjek din indbakke" in shown and EVA not in shown

    # Straight at the actions, as JSON or as a form, with the digest's token: refused.
    for path in ("/subscriptions/export", "/subscriptions/erase"):
        refused = post_json(client, path, {"token": manage})
        assert refused.status_code == 400, refused.body
        body = json.loads(refused.body)
        assert body["Code"] == "RightsLinkRequired" and "link" in body["Message"]
        assert EVA not in refused.body.decode()
        assert "Bed om et link først" in _result_page(client, post_form(client, path, [("token", manage)]))
    assert _people() == before  # nothing erased, nothing added

    # The links went to Eva's own address only (one mail: the second press was within the limit).
    [link_mail] = _link_mails(outbox)
    assert link_mail.recipients == [EVA]
    # And the digest's token still unsubscribes in one click (RFC 8058), as it must.
    one_click = post_form(client, path_of(unsubscribe_url), [("List-Unsubscribe", "One-Click")])
    assert one_click.status_code == 303
    assert Subscriber.get(tokens.subscriber_id(EVA), consistent_read=True).status == UNSUBSCRIBED


def test_export_through_the_mailed_link(client: Client, outbox: Outbox) -> None:
    manage = _subscribed(client, outbox)
    asked = _ask_for_link(client, f"/subscriptions/export?token={manage}")
    assert "Tjek din indbakke" in _result_page(client, asked)

    [mail] = _link_mails(outbox)
    assert mail.recipients == [EVA]
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["Content-Language"] == "da"
    assert "List-Unsubscribe" not in mail.message  # a personal mail, not a mailing
    export_url, erase_url = rights_links(mail)
    assert "Linkene virker i en time" in mail.part("plain") and "Linkene virker i en time" in mail.part("html")
    for url in (export_url, erase_url):
        assert url.replace("&", "&amp;") in mail.part("html")
    assert manage not in mail.part("plain")  # only the short-lived token opens her data
    issued = token_of(export_url)
    assert token_of(erase_url) == issued
    assert int(issued.split(".")[1]) - datetime.now(UTC).timestamp() == pytest.approx(3600, abs=60)

    # Her mail provider's scanner opens both links first: nothing happens.
    before = held_items()
    for url in (export_url, erase_url) * 3:
        assert client.http.get(path_of(url)).status_code == 200
    assert held_items() == before

    # She opens the export link and presses "Hent mine data".
    page = client.http.get(path_of(export_url)).body.decode()
    assert "Hent mine data" in page and "Send mig et link" not in page
    action, fields = page_form(page)
    assert action == "/subscriptions/export" and fields == [("token", issued)]
    download = post_form(client, action, fields)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(download.body)
    assert data["subscriber"]["email"] == EVA and data["subscriber"]["status"] == CONFIRMED
    assert [event["event"] for event in data["consent_events"]] == ["requested", "confirmed"]
    assert data["consent_events"][0]["source_ip"] == "127.0.0.1"
    assert "hash" not in download.body.decode()
    # A JSON client with the same link gets the same.
    again = json.loads(post_json(client, "/subscriptions/export", {"token": issued}).body)
    assert again["subscriber"] == data["subscriber"]


@pytest.mark.dynamodb  # the conditional claim and the erase on AWS's own emulator too
def test_erase_through_the_mailed_link(client: Client, outbox: Outbox) -> None:
    manage = _subscribed(client, outbox)
    asked = _ask_for_link(client, f"/subscriptions/erase?token={manage}")
    assert "Tjek din indbakke" in _result_page(client, asked)
    [mail] = _link_mails(outbox)
    _, erase_url = rights_links(mail)

    page = client.http.get(path_of(erase_url)).body.decode()
    assert "Slet mine data" in page and "Det kan ikke fortrydes" in page
    action, fields = page_form(page)
    assert action == "/subscriptions/erase"
    erased = post_form(client, action, fields)
    assert "Dine data er slettet" in _result_page(client, erased)
    items = held_items()
    # Left: only the per-IP counters of signups and challenges (keyed hashes of the IP, gone
    # within the hour); both mail claims (the confirmation's and the link's) are gone with her.
    assert items["subscribers"] == [] and items["ledger"] == []
    assert sorted(item["key"]["S"].split("#")[0] for item in items["ratelimits"]) == ["captcha-ip", "signup-ip"]
    # The same link afterwards: nothing left to show, and erasing again is harmless.
    rights_token = token_of(erase_url)
    nothing = json.loads(post_json(client, "/subscriptions/export", {"token": rights_token}).body)
    assert nothing["subscriber"] is None and nothing["consent_events"] == []
    assert post_json(client, "/subscriptions/erase", {"token": rights_token}).status_code == 200
    # Her old digest's token now asks for a link for nobody: the same answer, no mail.
    assert post_json(client, "/subscriptions/rights-link", {"token": manage}).status_code == 202
    assert len(_link_mails(outbox)) == 1


def test_an_expired_link_is_refused_with_the_danish_page_and_offers_a_new_one(
        client: Client, outbox: Outbox) -> None:
    manage = _subscribed(client, outbox)
    sid = tokens.subscriber_id(EVA)
    # The link was mailed 61 minutes ago (the clock moved back for the request, not waited for).
    issued_at = datetime.now(UTC) - timedelta(minutes=61)
    rights.request_link(manage, clock=lambda: issued_at)
    [mail] = _link_mails(outbox)
    export_url, erase_url = rights_links(mail)
    old = token_of(export_url)
    before = _people()

    for url in (export_url, erase_url):
        page = client.http.get(path_of(url))
        assert page.status_code == 410
        html = page.body.decode()
        assert "Linket er udløbet" in html and "virker kun i en time" in html
        assert "Hent mine data" not in html and "Slet mine data" not in html
    for path in ("/subscriptions/export", "/subscriptions/erase"):
        refused = post_json(client, path, {"token": old})
        assert refused.status_code == 410
        body = json.loads(refused.body)
        assert body["Code"] == "RightsLinkExpired" and "udløbet" in body["Message"]
        assert EVA not in refused.body.decode()
        assert "Linket er udløbet" in _result_page(client, post_form(client, path, [("token", old)]))
    assert _people() == before

    # Just inside and just past the hour, by the rights module's clock.
    assert rights.export(old, clock=lambda: issued_at + timedelta(minutes=59))["subscriber"]["email"] == EVA
    with pytest.raises(SubscriptionError) as expired:
        rights.erase(old, clock=lambda: issued_at + timedelta(minutes=60))
    assert expired.value.code == "RightsLinkExpired"
    assert Subscriber.get(sid, consistent_read=True).status == CONFIRMED

    # The expired page's button mails a fresh link (the interval has long passed), which works.
    action, fields = page_form(client.http.get(path_of(erase_url)).body.decode())
    assert action == "/subscriptions/rights-link"
    assert "Tjek din indbakke" in _result_page(client, post_form(client, action, fields))
    fresh = _link_mails(outbox)[-1]
    assert len(_link_mails(outbox)) == 2 and fresh.recipients == [EVA]
    assert post_json(client, "/subscriptions/export", {"token": token_of(rights_links(fresh)[0])}).status_code == 200


def test_forged_rights_links_are_refused(client: Client, outbox: Outbox) -> None:
    manage = _subscribed(client, outbox)
    _subscribed(client, outbox, "mallory@example.org")
    assert post_json(client, "/subscriptions/rights-link", {"token": manage}).status_code == 202
    [mail] = _link_mails(outbox)
    genuine = token_of(rights_links(mail)[0])
    sid, expires, tag = genuine.split(".")
    mallory = tokens.subscriber_id("mallory@example.org")
    forged = [
        f"{sid}.{expires}.{tag[:-1]}{'A' if tag[-1] != 'A' else 'B'}",  # tag changed
        f"{sid}.{int(expires) + 86400}.{tag}",  # expiry moved a day on
        f"{mallory}.{expires}.{tag}",  # another subscriber's id under Eva's tag
        f"{sid}.{expires}.{manage.split('.')[1]}",  # the manage token's tag in a rights token
        f"{sid}.{expires}", genuine[:-3], "x", f"{genuine}.x",
    ]
    before = _people()
    for token in forged:
        page = client.http.get(f"/subscriptions/export?token={token}")
        assert page.status_code == 404, token
        assert "Linket virker ikke" in page.body.decode()
        for path in ("/subscriptions/export", "/subscriptions/erase"):
            refused = post_json(client, path, {"token": token})
            assert refused.status_code == 404, (path, token)
            assert json.loads(refused.body)["Code"] == "InvalidLink"
        assert "Linket virker ikke" in _result_page(
            client, post_form(client, "/subscriptions/erase", [("token", token)]))
    assert _people() == before
    # A forged token cannot ask for a link to be mailed either.
    assert post_json(client, "/subscriptions/rights-link", {"token": forged[0]}).status_code == 404
    assert len(_link_mails(outbox)) == 1


def test_the_link_mail_is_limited_and_the_answer_never_tells(client: Client, outbox: Outbox) -> None:
    manage = _subscribed(client, outbox)
    answers = [post_json(client, "/subscriptions/rights-link", {"token": manage}) for _ in range(5)]
    assert {(a.status_code, a.body) for a in answers} == {(answers[0].status_code, answers[0].body)}
    assert answers[0].status_code == 202
    assert json.loads(answers[0].body)["status"] == "rights-link-sent"
    assert len(_link_mails(outbox)) == 1

    # Within five minutes nothing more is sent; after them, the next request mails again.
    now = datetime.now(UTC)
    rights.request_link(manage, clock=lambda: now + timedelta(seconds=rights.LINK_MAIL_INTERVAL_SECONDS - 5))
    assert len(_link_mails(outbox)) == 1
    rights.request_link(manage, clock=lambda: now + timedelta(seconds=rights.LINK_MAIL_INTERVAL_SECONDS + 5))
    assert len(_link_mails(outbox)) == 2
    assert "hvert femte minut" in _result_page(
        client, post_form(client, "/subscriptions/rights-link", [("token", manage)]))


def test_unknown_erased_and_suppressed_subscribers_get_the_same_answer_and_no_mail(
        client: Client, outbox: Outbox) -> None:
    manage = _subscribed(client, outbox)
    reference = post_json(client, "/subscriptions/rights-link", {"token": manage})
    suppressed = add_subscriber("afvist@example.org", status=SUPPRESSED)
    unknown = tokens.subscriber_id("aldrig@example.org")  # a genuine token, nobody behind it
    before = held_items()
    for sid in (suppressed, unknown):
        answer = post_json(client, "/subscriptions/rights-link", {"token": tokens.manage_token(sid)})
        assert (answer.status_code, answer.body) == (reference.status_code, reference.body)
    assert [mail.recipients for mail in _link_mails(outbox)] == [[EVA]]
    assert held_items() == before  # not even a mail claim for them


def test_the_aws_calls_of_the_link_request_and_the_pages(
        client: Client, outbox: Outbox, aws_calls: Counter[str]) -> None:
    manage = _subscribed(client, outbox)
    # Read the subscriber (consistent GetItem), take the mail claim (conditional PutItem), mail.
    aws_calls.clear()
    assert post_json(client, "/subscriptions/rights-link", {"token": manage}).status_code == 202
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.PutItem": 1, "sesv2.SendEmail": 1})
    # Within the interval: the claim's condition fails, and nothing is sent.
    aws_calls.clear()
    assert post_json(client, "/subscriptions/rights-link", {"token": manage}).status_code == 202
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.PutItem": 1})
    # Nobody behind the token: the read alone.
    aws_calls.clear()
    nobody = tokens.manage_token(tokens.subscriber_id("aldrig@example.org"))
    assert post_json(client, "/subscriptions/rights-link", {"token": nobody}).status_code == 202
    assert aws_calls == Counter({"dynamodb.GetItem": 1})

    # Opened with the digest's token the pages check signatures only; with the rights link they
    # read whether anything is still held (one GetItem each). The refused actions refuse
    # before any call.
    export_url, erase_url = rights_links(_link_mails(outbox)[0])
    aws_calls.clear()
    for path in (f"/subscriptions/export?token={manage}", f"/subscriptions/erase?token={manage}"):
        assert client.http.get(path).status_code == 200
    for path in ("/subscriptions/export", "/subscriptions/erase"):
        assert post_json(client, path, {"token": manage}).status_code == 400
    assert sum(aws_calls.values()) == 0
    for path in (path_of(export_url), path_of(erase_url)):
        assert client.http.get(path).status_code == 200
    assert aws_calls == Counter({"dynamodb.GetItem": 2})
    # Export with the link: the subscriber and their ledger.
    aws_calls.clear()
    assert post_json(client, "/subscriptions/export", {"token": token_of(export_url)}).status_code == 200
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.Query": 1})
    # Erase: the subscriber (the mailbox claim's key is their address), both mail claims and the
    # mailbox's count of the day's mails, the ledger, the subscriber (one transaction with the
    # figures' erased count), the events.
    aws_calls.clear()
    assert post_json(client, "/subscriptions/erase", {"token": token_of(erase_url)}).status_code == 200
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.Query": 1, "dynamodb.DeleteItem": 3,
                                 "dynamodb.TransactWriteItems": 1, "dynamodb.BatchWriteItem": 1})


@pytest.mark.no_aws
def test_rights_tokens_are_their_own_kind() -> None:
    sid = tokens.subscriber_id("a@example.org")
    now = datetime.now(UTC)
    token = tokens.rights_token(sid, now=now)
    assert tokens.rights_subscriber(token, now=now) == sid
    assert tokens.verify_manage_token(token) is None  # never a manage token
    assert tokens.link_request_subscriber(token) == sid
    assert tokens.link_request_subscriber(tokens.manage_token(sid)) == sid
    with pytest.raises(SubscriptionError) as refused:
        tokens.rights_subscriber(tokens.manage_token(sid), now=now)
    assert (refused.value.status, refused.value.code) == (400, "RightsLinkRequired")
    with pytest.raises(SubscriptionError) as late:
        tokens.rights_subscriber(token, now=now + timedelta(seconds=tokens.RIGHTS_LINK_SECONDS))
    assert (late.value.status, late.value.code) == (410, "RightsLinkExpired")
    assert len(token) <= 200  # the routes' limit on a token


def test_the_limit_is_a_claim_in_the_ratelimits_table(client: Client, outbox: Outbox) -> None:
    """The claim is keyed by a hash of the subscriber, never the address or the id."""
    manage = _subscribed(client, outbox)
    sid = tokens.subscriber_id(EVA)
    post_json(client, "/subscriptions/rights-link", {"token": manage})
    key = limiter.default_limiter().subject_key(rights.RIGHTS_MAIL_CLAIM, sid)
    [claim] = [item for item in held_items()["ratelimits"] if item["key"]["S"] == key]
    assert sid not in json.dumps(claim) and EVA not in json.dumps(claim)
    assert int(claim["expires_ttl"]["N"]) - datetime.now(UTC).timestamp() == pytest.approx(300, abs=30)
