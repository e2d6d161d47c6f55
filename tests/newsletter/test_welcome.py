"""The welcome mail after confirming (issue 16): the manage links before the first digest,
sent once, also when the confirm is clicked again or SES fails the first time.
See docs/newsletter.md#confirm-unsubscribe-export-erase."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chalice.test import Client

from chalicelib.newsletter import mails, tokens
from tests.support.faults import MESSAGE_REJECTED, FaultInjector
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    mails_to,
    path_of,
    post_json,
    subscribe,
    token_of,
)

EMAIL = "velkommen@example.org"


def _welcomes(outbox: Outbox) -> list[Any]:
    return [mail for mail in mails_to(outbox, EMAIL) if mail.subject == mails.SUBJECTS["welcome"]]


def _confirm_token(client: Client, outbox: Outbox) -> str:
    assert subscribe(client, EMAIL, topics=["cases"]).status_code == 202
    [mail] = mails_to(outbox, EMAIL)
    return token_of(confirm_link(mail))


def test_confirming_sends_one_welcome_with_links_that_work(client: Client, outbox: Outbox,
                                                          aws_calls: Counter[str]) -> None:
    token = _confirm_token(client, outbox)
    aws_calls.clear()
    answer = post_json(client, "/subscriptions/confirm", {"token": token})
    assert answer.status_code == 200
    # The welcome's claim rides on the confirm's own transaction: one mail more, no extra write.
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1,
                                 "sesv2.SendEmail": 1})
    [welcome] = _welcomes(outbox)
    text = welcome.part("plain")
    assert "Du er nu tilmeldt nyhedsbrevet" in text and "mandag morgen" in text
    assert "Emner: Cases" in text and "/privatlivspolitik" in text
    manage = tokens.manage_token(tokens.subscriber_id(EMAIL))
    unsubscribe = f"/subscriptions/unsubscribe?token={manage}"
    assert unsubscribe in text and unsubscribe in welcome.part("html")
    # Clicking the confirmation again (or a retry, or a mail scanner's POST) sends no second one.
    for _ in range(2):
        again = post_json(client, "/subscriptions/confirm", {"token": token})
        assert again.status_code == 200
    assert len(_welcomes(outbox)) == 1
    # The welcome's unsubscribe link works.
    [link] = [word for word in text.split() if unsubscribe in word]
    assert client.http.get(path_of(link)).status_code == 200
    assert post_json(client, "/subscriptions/unsubscribe", {"token": manage}).status_code == 200


def test_a_welcome_ses_refused_is_sent_by_the_next_click_and_only_once(
        client: Client, outbox: Outbox, faults: FaultInjector) -> None:
    token = _confirm_token(client, outbox)
    faults.inject("sesv2.SendEmail", MESSAGE_REJECTED, times=1)
    first = post_json(client, "/subscriptions/confirm", {"token": token})
    # The confirm stands, and says so; the welcome is what is missing.
    assert first.status_code == 200 and b'"confirmed"' in first.body
    assert _welcomes(outbox) == []
    second = post_json(client, "/subscriptions/confirm", {"token": token})
    assert second.status_code == 200 and b"already-confirmed" in second.body
    assert len(_welcomes(outbox)) == 1
    assert post_json(client, "/subscriptions/confirm", {"token": token}).status_code == 200
    assert len(_welcomes(outbox)) == 1
