"""The shared mail sender and link tokens that signup and digest build on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.core import mail
from chalicelib.newsletter import tokens


def test_a_sent_mail_reads_back_whole_from_the_outbox(outbox: Callable[[], list[Any]]) -> None:
    sid = tokens.subscriber_id("laeser@example.org")
    message_id = mail.send(mail.Mail(
        to="laeser@example.org",
        subject="Bekræft din tilmelding",
        text="Hej – tryk på linket.",
        html="<p>Hej – tryk på linket.</p>",
        headers={"List-Unsubscribe": f"<{tokens.one_click_unsubscribe_url(sid)}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    ))
    [sent] = outbox()
    assert sent.message_id == message_id
    assert sent.recipients == ["laeser@example.org"]
    assert sent.subject == "Bekræft din tilmelding"
    assert sent.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert sent.message["From"].addresses[0].addr_spec == "nyhedsbrev@borgerdialog.dk"
    assert sent.part("plain").strip() == "Hej – tryk på linket."
    assert "<p>Hej – tryk på linket.</p>" in sent.part("html")


@pytest.mark.no_aws
def test_header_injection_is_refused_before_sending() -> None:
    with pytest.raises(mail.HeaderInjection):
        mail.build(mail.Mail(to="a@example.org", subject="Hej\r\nBcc: x@example.org", text="t", html="h"))


@pytest.mark.no_aws
def test_subscriber_ids_and_manage_tokens() -> None:
    sid = tokens.subscriber_id("a@example.org")
    assert sid == tokens.subscriber_id("a@example.org") != tokens.subscriber_id("b@example.org")
    assert len(sid) == 32
    token = tokens.manage_token(sid)
    assert tokens.verify_manage_token(token) == sid
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), tokens.subscriber_id("b@example.org")
                   + token[32:], "", ".", "x" * 200, sid):
        assert tokens.verify_manage_token(forged) is None


@pytest.mark.no_aws
def test_one_time_secrets_are_random_and_stored_as_hashes() -> None:
    secrets = {tokens.new_secret() for _ in range(1000)}
    assert len(secrets) == 1000
    secret = secrets.pop()
    assert len(secret) >= 22 and tokens.hash_secret(secret) != secret
