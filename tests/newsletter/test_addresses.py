"""``addresses.mailbox``: which addresses the signup's mail limit counts as one mailbox.

The rules and the providers checked are in docs/newsletter.md#one-mailbox-many-addresses; the
signup's side (one mail per mailbox, sent to the address as typed) is in test_limits.py.
"""

from __future__ import annotations

import pytest

from chalicelib.newsletter.addresses import mailbox, normalise

# (as typed, the mailbox it counts as, why)
MAILBOXES: list[tuple[str, str, str]] = [
    ("victim@example.org", "victim@example.org", "no tag: the address itself"),
    ("victim+0@example.org", "victim@example.org", "+tag dropped on any domain"),
    ("victim+nyhedsbrev+2@example.org", "victim@example.org", "from the first +"),
    ("Victim+News@Example.ORG", "victim@example.org", "case, as normalised"),
    ("anne-marie@example.dk", "anne-marie@example.dk", "a hyphen is part of the name"),
    ("first.last@example.dk", "first.last@example.dk", "dots count outside Gmail"),
    ("+nyhedsbrev@example.org", "+nyhedsbrev@example.org", "no name before the tag: kept whole"),
    ("v.i.c.t.i.m@gmail.com", "victim@gmail.com", "Gmail ignores dots"),
    ("Victim.Name+news@GoogleMail.com", "victimname@gmail.com", "googlemail.com is gmail.com"),
    ("victim+0@googlemail.com", "victim@gmail.com", "Gmail +tag"),
    ("first.last@google-workspace.example", "first.last@google-workspace.example",
     "Google Workspace domains keep their dots"),
    ("first.last+x@outlook.com", "first.last@outlook.com", "Outlook.com: +tag yes, dots count"),
    ("first.last@hotmail.com", "first.last@hotmail.com", "Hotmail is not merged with Outlook.com"),
    ("name+shop@icloud.com", "name@icloud.com", "iCloud: +tag"),
    ("name@me.com", "name@me.com", "me.com is not merged with icloud.com"),
    ("base-keyword@yahoo.com", "base-keyword@yahoo.com", "Yahoo's -addresses are kept"),
    ("eva+x@Blåbær.DK", "eva@xn--blbr-roah.dk", "an IDN domain, as punycode"),
]


@pytest.mark.no_aws
@pytest.mark.parametrize(("typed", "expected", "why"), MAILBOXES, ids=[case[2] for case in MAILBOXES])
def test_addresses_of_one_mailbox_share_one_key(typed: str, expected: str, why: str) -> None:
    found = mailbox(normalise(typed))
    assert found == expected, why
    # The key is itself an address of that mailbox, and its own mailbox.
    assert normalise(found) == found
    assert mailbox(found) == found
