"""Unsubscribe by mail: the ``mailto:`` half of the digest's List-Unsubscribe header.

The header pre-fills ``Subject: afmeld <manage token>`` to ``UNSUBSCRIBE_MAILTO``. SES
email receiving publishes each such mail to SNS ("Received" notification, see
infra/inbound.yaml); this module finds the token in the subject and unsubscribes through
the same service the one-click link uses, with ``method="mailto"`` in the ledger.

- The token is the authentication, as in the https link: who sent the mail does not
  matter (forwarders break SPF and DKIM), so those verdicts are logged, not required.
- A mail SES judged spam or a virus (verdict FAIL) is dropped unread.
- Nothing is ever mailed back: a reply to a forged sender would be backscatter.
- Junk (no token, a forged or cut token, another recipient) is logged and dropped, never
  raised: SNS would retry it, and retrying cannot fix it. AWS faults do raise, so SNS
  retries those. Unsubscribing is idempotent, so a second delivery changes nothing.

No Chalice here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from email.header import decode_header, make_header
from typing import Any

from chalicelib.core.config import get_settings
from chalicelib.newsletter import tokens

log = logging.getLogger(__name__)

# A manage token (tokens.manage_token): 32 hex digits, a dot, 22 base64url characters.
# Searched anywhere in the subject, so "Re: ", "SV: ", "Fwd: " and the "afmeld" word in any
# case are all fine; a mail client that left the mailto's %20 encoded is fine too.
_TOKEN = re.compile(r"(?<![0-9A-Za-z_-])([0-9a-fA-F]{32})\.([A-Za-z0-9_-]{22})(?![A-Za-z0-9_-])")
_REJECTED = "FAIL"


@dataclass(frozen=True)
class Outcome:
    address: str  # the sender, as SES saw it
    outcome: str  # unsubscribed | no-token | invalid-token | spam | virus | not-for-us


def _decoded(subject: str) -> str:
    """The subject with RFC 2047 words (=?UTF-8?Q?afmeld_...?=) decoded; as is if malformed."""
    try:
        return str(make_header(decode_header(subject)))
    except (ValueError, LookupError, UnicodeError):
        return subject


def _subjects(mail: Mapping[str, Any]) -> Iterator[str]:
    """SES's parsed subject first, then the raw Subject headers (SES may pass those encoded)."""
    common = mail.get("commonHeaders")
    if isinstance(common, Mapping) and isinstance(common.get("subject"), str):
        yield common["subject"]
    headers = mail.get("headers")
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, Mapping) and str(header.get("name", "")).lower() == "subject":
            yield str(header.get("value", ""))


def token_in(mail: Mapping[str, Any]) -> str | None:
    """The first manage-token-shaped string in the mail's subject, else None (not yet verified)."""
    for subject in _subjects(mail):
        found = _TOKEN.search(_decoded(subject).replace("%20", " "))
        if found:
            # The id is hex, which some clients upper-case; the tag is case-sensitive as sent.
            return f"{found.group(1).lower()}.{found.group(2)}"
    return None


def _object(value: Any) -> Mapping[str, Any]:
    """A JSON object of the notification, or an empty one where junk has something else."""
    return value if isinstance(value, Mapping) else {}


def _verdict(receipt: Mapping[str, Any], name: str) -> str:
    verdict = receipt.get(name)
    return str(verdict.get("status", "")) if isinstance(verdict, Mapping) else ""


def _for_us(notification: Mapping[str, Any]) -> bool:
    receipt = _object(notification.get("receipt"))
    mail = _object(notification.get("mail"))
    recipients = receipt.get("recipients") or mail.get("destination") or []
    if not isinstance(recipients, list):
        return False
    wanted = get_settings().unsubscribe_mailto.strip().lower()
    return any(str(address).strip().lower() == wanted for address in recipients)


def handle(notification: Mapping[str, Any]) -> Outcome:
    """Apply one SES "Received" notification (already parsed JSON)."""
    from chalicelib.newsletter import lifecycle
    from chalicelib.newsletter.store import NO_CONTEXT

    mail = _object(notification.get("mail"))
    receipt = _object(notification.get("receipt"))
    sender = str(mail.get("source", ""))
    message_id = str(mail.get("messageId", ""))
    if not _for_us(notification):
        log.info("Received mail %s is not for the unsubscribe address; dropped", message_id)
        return Outcome(sender, "not-for-us")
    for name, outcome in (("spamVerdict", "spam"), ("virusVerdict", "virus")):
        if _verdict(receipt, name) == _REJECTED:
            log.warning("Unsubscribe mail %s failed the %s check; dropped", message_id, outcome)
            return Outcome(sender, outcome)
    token = token_in(mail)
    if token is None:
        log.info("Unsubscribe mail %s has no token in its subject; dropped", message_id)
        return Outcome(sender, "no-token")
    if tokens.verify_manage_token(token) is None:
        log.warning("Unsubscribe mail %s carries a token that does not verify; dropped", message_id)
        return Outcome(sender, "invalid-token")
    lifecycle.unsubscribe(
        token, NO_CONTEXT,
        "mailto", {"ses_message_id": message_id[:200],
                   "spf": _verdict(receipt, "spfVerdict"), "dkim": _verdict(receipt, "dkimVerdict")})
    log.info("Unsubscribe mail %s handled (spf %s, dkim %s)", message_id,
             _verdict(receipt, "spfVerdict"), _verdict(receipt, "dkimVerdict"))
    return Outcome(sender, "unsubscribed")
