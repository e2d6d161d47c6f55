"""The signup's limits: one mail per mailbox.

- One mailbox, many addresses: ``victim+0@``, ``victim+1@``, ``v.i.c.t.i.m@googlemail.com``
  get one confirmation mail between them per mail interval, sent to the address as typed.

See docs/newsletter.md#limits.
"""

from __future__ import annotations

from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import Subscriber
from tests.support.faults import MESSAGE_REJECTED, THROTTLING, FaultInjector, assert_clean_unavailable
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    held_items,
    path_of,
    post_json,
    settings_from_env,
    signup_fields,
    subscribe,
)

# ---------------------------------------------------------------------------- one mailbox


def _records(*emails: str) -> dict[str, str | None]:
    """Each address's subscriber record: its status, or None."""
    found: dict[str, str | None] = {}
    for email in emails:
        try:
            found[email] = Subscriber.get(tokens.subscriber_id(email), consistent_read=True).status
        except Subscriber.DoesNotExist:
            found[email] = None
    return found


def test_one_mailbox_gets_one_mail_however_its_addresses_are_typed(client: Client, outbox: Outbox) -> None:
    typed = ["victim+0@gmail.com", "victim+1@gmail.com", "v.i.c.t.i.m@googlemail.com",
             "Victim+Nyhedsbrev@GMail.com", "victim@gmail.com"]
    answers = [subscribe(client, email) for email in typed]
    # The same answer for each (no enumeration), and one mail, to the address as typed first.
    assert {(answer.status_code, answer.body) for answer in answers} == {(answers[0].status_code, answers[0].body)}
    assert answers[0].status_code == 202
    [mail] = outbox()
    assert mail.recipients == ["victim+0@gmail.com"]
    # The record is the address as typed; the others wrote nothing (no mail, nothing to confirm).
    assert _records("victim+0@gmail.com", "victim+1@gmail.com", "victim@gmail.com") == {
        "victim+0@gmail.com": "pending", "victim+1@gmail.com": None, "victim@gmail.com": None}
    assert Subscriber.get(tokens.subscriber_id("victim+0@gmail.com")).email == "victim+0@gmail.com"
    # Another mailbox is not held up by it.
    assert subscribe(client, "victim.two@gmail.com").status_code == 202
    assert [m.recipients for m in outbox()] == [["victim+0@gmail.com"], ["victim.two@gmail.com"]]


def test_a_tagged_address_is_a_real_subscriber_and_its_mailbox_is_free_again_after_the_interval(
        client: Client, outbox: Outbox) -> None:
    from chalicelib.limits.model import RateLimit

    with settings_from_env(CONFIRM_MAIL_INTERVAL_HOURS="1"):
        assert subscribe(client, "name+news@example.org").status_code == 202
        assert subscribe(client, "name@example.org").status_code == 202  # within the hour: no mail
        [first] = outbox()
        assert first.recipients == ["name+news@example.org"]
        assert client.http.post(path_of(confirm_link(first))).status_code == 200
        assert _records("name+news@example.org")["name+news@example.org"] == "confirmed"
        # The hour passes: the mailbox's claim has ended, so its other address is mailed.
        for item in RateLimit.scan():
            item.update(actions=[RateLimit.expires_ttl.set(1)])
        assert subscribe(client, "name@example.org").status_code == 202
    assert [m.recipients for m in outbox()] == [["name+news@example.org"], ["name@example.org"]]

    # Erasing the tagged address removes its mailbox's claim too: only the per-IP count is left.
    manage = tokens.manage_token(tokens.subscriber_id("name+news@example.org"))
    assert post_json(client, "/subscriptions/erase", {"token": manage}).status_code == 200
    manage = tokens.manage_token(tokens.subscriber_id("name@example.org"))
    assert post_json(client, "/subscriptions/erase", {"token": manage}).status_code == 200
    left = held_items()
    assert left["subscribers"] == [] and left["ledger"] == []
    assert [item["key"]["S"].split("#")[0] for item in left["ratelimits"]] == ["signup-ip"]


def test_a_retry_after_a_lost_release_mails_while_the_mailbox_stays_claimed(
        client: Client, outbox: Outbox, faults: FaultInjector) -> None:
    """SES refuses the mail and the claim's release fails too: the visitor gets a 503; another
    address of the same mailbox meanwhile gets no mail; the retry of the same request takes its
    own leftover claim over and sends the one mail."""
    fields = signup_fields(client, "victim+0@gmail.com")
    faults.inject("sesv2.SendEmail", MESSAGE_REJECTED, times=1)
    faults.inject("dynamodb.DeleteItem", THROTTLING)  # a signup deletes nothing but the claim
    first = post_json(client, "/subscriptions", fields)
    assert faults.injected["dynamodb.DeleteItem ThrottlingException"] == 1
    faults.clear()
    assert_clean_unavailable(first.status_code, first.headers, first.body.decode())

    assert subscribe(client, "vic.tim+1@googlemail.com").status_code == 202
    assert outbox() == []
    assert post_json(client, "/subscriptions", fields).status_code == 202
    [mail] = outbox()
    assert mail.recipients == ["victim+0@gmail.com"]
    assert client.http.post(path_of(confirm_link(mail))).status_code == 200
