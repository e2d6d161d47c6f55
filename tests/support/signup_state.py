"""What a signup leaves in the tables, for comparing a signup that met a fault with one that
did not (the fault tests of signup, mail links and the mail claim)."""

from __future__ import annotations

from typing import Any

from chalice.test import Client

from chalicelib.newsletter import tokens
from tests.support.subscriptions import Outbox, confirm_link, held_items, mails_to, path_of

REFERENCE = "reference@example.org"
# Per address: written once per signup, differs between two signups only in these values.
VOLATILE = {"subscriber_id", "email", "created_at", "updated_at", "confirm_token_hash",
            "confirm_expires_at", "expires_ttl", "subject", "event_key", "at",
            "request_event_key"}


def stored_shape(email: str) -> dict[str, Any]:
    """What is stored for one address's signup, without the values that differ per signup."""
    sid = tokens.subscriber_id(email)
    items = held_items()

    def plain(item: dict[str, Any]) -> dict[str, Any]:
        return {name: value for name, value in item.items() if name not in VOLATILE}

    return {
        "subscribers": [plain(item) for item in items["subscribers"] if item["subscriber_id"]["S"] == sid],
        "ledger": [plain(item) for item in items["ledger"] if item["subject"]["S"] == sid],
    }


def shared_totals() -> dict[str, Any]:
    """The tables' totals: per-IP hits (in every window still held), mail claims held,
    challenges solved or not."""
    items = held_items()
    limits = items["ratelimits"]
    return {
        "ip hits": sum(int(value["N"]) for item in limits if item["key"]["S"].startswith("signup-ip#")
                       for name, value in item.items() if name.startswith("w")),
        "mail claims": sum(item["key"]["S"].startswith("confirm-mail#") for item in limits),
        "challenges": sorted(("solved_at" in item, "solved_by" in item, item["wrong_answers"]["N"])
                             for item in items["challenges"]),
        "reserved": sum("reserved_for" in item for item in items["challenges"]),
    }


def one_mail_that_confirms(client: Client, outbox: Outbox, email: str) -> None:
    [mail] = mails_to(outbox, email)
    assert mail.subject.startswith("Bekræft din tilmelding")
    assert client.http.post(path_of(confirm_link(mail))).status_code == 200
