"""Outgoing mail: MIME built with Python's ``email`` package, sent raw through SES v2.

Raw MIME keeps every header we set (List-Unsubscribe, ...) and is what moto server stores
whole, so tests read back exactly what a recipient would get.

On the wire (tests/core/test_mail_bytes.py checks the raw bytes; docs/newsletter.md#mail-on-the-wire):

- SES v2 ``SendEmail`` with ``Content.Raw`` sends the bytes as given. It asks for a header and
  a body split by one blank line, each header field at most once, properly formed MIME parts,
  content outside 7-bit ASCII encoded, no line over 1,000 characters with its CRLF (RFC 5321),
  7-bit ASCII addresses (no SMTPUTF8) and a non-ASCII sender name as RFC 2047 encoded-words.
  It replaces ``Date`` and ``Message-ID`` with its own; we still write valid ones, so the
  message is whole before it reaches SES (and in moto server's outbox).
- Lines end in CRLF (``policy.SMTP``); both parts are quoted-printable, so the message is 7-bit
  and its lines short whatever the templates hold.
- We write every top-level field ourselves and the policy only serialises it
  (``refold_source="none"``): Python's folder turns a ``List-Unsubscribe`` whose URL is
  longer than a line into encoded-words, where RFC 2369/8058 clients (Gmail, Yahoo, Apple
  Mail) then find no URI and one-click unsubscribe silently breaks; and it writes encoded-words
  over RFC 2047's 75 characters and drops the spaces around some of them in long subjects.
- So: ``To`` and ``Mail.headers`` (``List-Unsubscribe``, ``List-Unsubscribe-Post``, ``List-Id``,
  ``Auto-Submitted``) go out verbatim, ASCII only, folded only after a comma between two
  ``<…>`` items; encoded-words (UTF-8, "B") only in a non-ASCII ``Subject`` and ``From``
  display name, whole characters, at most 75 characters each; ``From`` is
  ``display name <address>``; ``Date`` RFC 5322 with a numeric zone; ``Message-ID``
  ``<…@sender's domain>``; lines folded before 78 characters wherever a field allows it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from chalicelib.core import aws
from chalicelib.core.config import get_settings

# CRLF line endings; a field stored with set_raw() goes out exactly as we folded it.
POLICY = policy.SMTP.clone(refold_source="none")
MAX_LINE = 998  # octets without the CRLF (RFC 5322 §2.1.1)
FOLD_AT = 78  # RFC 5322's "SHOULD" line length
ENCODED_WORD_MAX = 75  # RFC 2047 §2
_BETWEEN_ITEMS = re.compile(r"(?<=>),[ \t]*(?=<)")  # the comma between two <…> items
_ATOMS = re.compile(r"^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*$")


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    # Further fields (the List-* headers), written verbatim: printable ASCII, see verbatim_field.
    headers: dict[str, str] = field(default_factory=dict)


class HeaderInjection(ValueError):
    """A header value carried a line break."""


def _pack(name: str, words: list[str]) -> str:
    """``words`` joined by spaces, a fold (CRLF before the space) before a word that would take
    the line past 78 characters; the value that follows ``name: ``."""
    lines: list[str] = []
    line = f"{name}:"
    for number, word in enumerate(words):
        if number and word and len(line) + 1 + len(word) > FOLD_AT:
            lines.append(line)
            line = ""
        line += f" {word}"
    lines.append(line)
    return "\r\n".join(lines)[len(name) + 2:]


def _too_long(name: str, value: str) -> bool:
    return any(len(line) > MAX_LINE for line in f"{name}: {value}".split("\r\n"))


def encoded_words(text: str, first_room: int = ENCODED_WORD_MAX) -> list[str]:
    """``text`` as RFC 2047 "B" encoded-words of UTF-8: each at most 75 characters (the first at
    most ``first_room``) and of whole characters (§5), so every piece decodes on its own."""
    words: list[str] = []
    chunk = b""
    for char in text:
        room = first_room if not words else ENCODED_WORD_MAX
        candidate = chunk + char.encode("utf-8")
        if chunk and len(f"=?utf-8?b?{base64.b64encode(candidate).decode()}?=") > room:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
            chunk = char.encode("utf-8")
        else:
            chunk = candidate
    words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
    return words


def _room(name: str) -> int:
    return min(ENCODED_WORD_MAX, FOLD_AT - len(name) - 2)


def unstructured_field(name: str, text: str) -> str:
    """A Subject: printable ASCII as it is (folded at spaces), anything else, and ASCII that
    would read as an encoded-word, as encoded-words."""
    if text.isascii() and text.isprintable() and "=?" not in text:
        value = _pack(name, text.split(" "))
        if not _too_long(name, value):
            return value
    return _pack(name, encoded_words(text, _room(name)))


def ascii_address(address: str) -> str:
    """A bare address for the wire: SES sends no SMTPUTF8, so ASCII only (signup makes it so)."""
    if not address.isascii() or not address.isprintable() or "@" not in address or " " in address:
        raise ValueError(f"not a bare ASCII address: {address!r}")
    return address


def mailbox_field(name: str, mailbox: str) -> str:
    """``display name <address>``: the name as atoms, a quoted-string, or (not ASCII, or
    holding "=?") encoded-words; the address bare inside the brackets."""
    display, address = parseaddr(mailbox)
    address = f"<{ascii_address(address)}>"
    if not display:
        return _pack(name, [address])
    if _ATOMS.match(display) and "=?" not in display:
        words = display.split(" ")
    elif display.isascii() and display.isprintable() and "=?" not in display:
        # Not "=?" inside quotes: RFC 2047 says it reads literally there, some clients decode it.
        words = ['"' + display.replace("\\", "\\\\").replace('"', '\\"') + '"']
    else:
        words = encoded_words(display, _room(name))
    return _pack(name, [*words, address])


def verbatim_field(name: str, value: str) -> str:
    """``value`` as it goes on the wire after ``name: ``: one line, or folded (CRLF + space)
    only after the comma between two ``<…>`` items, never inside one."""
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"header {name} must be printable ASCII to go out verbatim")
    items = _BETWEEN_ITEMS.split(value)
    lines = [f"{name}: {items[0]}"]
    for item in items[1:]:
        if len(lines[-1]) + 2 + len(item) <= FOLD_AT:
            lines[-1] += f", {item}"
        else:
            lines[-1] += ","
            lines.append(f" {item}")
    folded = "\r\n".join(lines)[len(name) + 2:]
    if _too_long(name, folded):
        raise ValueError(f"header {name} has an item longer than a line may be")
    return folded


def build(mail: Mail, sender: str | None = None) -> EmailMessage:
    """multipart/alternative with a text and an HTML part, Danish, ready for the wire."""
    message = EmailMessage(policy=POLICY)
    sender = sender or get_settings().mail_from
    for name, value in {"From": sender, "To": mail.to, "Subject": mail.subject, **mail.headers}.items():
        if "\r" in value or "\n" in value:
            raise HeaderInjection(f"header {name} contains a line break")
    message.set_raw("From", mailbox_field("From", sender))
    message.set_raw("To", verbatim_field("To", ascii_address(mail.to)))
    message.set_raw("Subject", unstructured_field("Subject", mail.subject))
    for name, value in mail.headers.items():
        message.set_raw(name, verbatim_field(name, value))
    message.set_raw("Date", format_datetime(datetime.now(UTC)))
    message.set_raw("Message-ID", make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2]))
    message.set_content(mail.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(mail.html, subtype="html", charset="utf-8", cte="quoted-printable")
    # After the parts: set_content() drops every Content-* header set before it.
    message["Content-Language"] = "da"
    return message


def wire_value(message: EmailMessage, name: str) -> str:
    """A field as written (unfolded), e.g. the encoded ``From`` SES wants as FromEmailAddress."""
    return next(str(value) for key, value in message.raw_items() if key.lower() == name.lower()
                ).replace("\r\n", "")


def send(mail: Mail) -> str:
    """Send one mail; returns SES's message id. SES errors propagate to the caller."""
    message = build(mail)
    request: dict[str, object] = {
        "FromEmailAddress": wire_value(message, "From"),
        "Destination": {"ToAddresses": [mail.to]},
        "Content": {"Raw": {"Data": message.as_bytes()}},
    }
    configuration_set = get_settings().ses_configuration_set
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    response = aws.client("sesv2").send_email(**request)
    return str(response["MessageId"])
