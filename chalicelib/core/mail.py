"""Outgoing mail: MIME built with Python's ``email`` package, sent raw through SES v2.

Raw MIME keeps every header we set (List-Unsubscribe, ...) and is what moto server stores
whole, so tests read back exactly what a recipient would get.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from chalicelib.core import aws
from chalicelib.core.config import get_settings


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


class HeaderInjection(ValueError):
    """A header value carried a line break."""


def build(mail: Mail, sender: str | None = None) -> EmailMessage:
    """multipart/alternative with a text and an HTML part, Danish."""
    message = EmailMessage()
    fields = {"From": sender or get_settings().mail_from, "To": mail.to, "Subject": mail.subject,
              **mail.headers}
    for name, value in fields.items():
        if "\r" in value or "\n" in value:
            raise HeaderInjection(f"header {name} contains a line break")
        message[name] = value
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=message["From"].addresses[0].domain or None)
    message.set_content(mail.text, charset="utf-8")
    message.add_alternative(mail.html, subtype="html", charset="utf-8")
    # After the parts: set_content() drops every Content-* header set before it.
    message["Content-Language"] = "da"
    return message


def send(mail: Mail) -> str:
    """Send one mail; returns SES's message id. SES errors propagate to the caller."""
    message = build(mail)
    request: dict[str, object] = {
        "FromEmailAddress": str(message["From"]),
        "Destination": {"ToAddresses": [mail.to]},
        "Content": {"Raw": {"Data": message.as_bytes()}},
    }
    configuration_set = get_settings().ses_configuration_set
    if configuration_set:
        request["ConfigurationSetName"] = configuration_set
    response = aws.client("sesv2").send_email(**request)
    return str(response["MessageId"])
