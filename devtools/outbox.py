"""The local outbox: every mail the app sent through moto server's SES, parsed.

    python -m devtools.outbox [--last N]     # with AWS_ENDPOINT_URL pointing at moto server
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass(frozen=True)
class SentMail:
    message_id: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes  # the bytes SES was given, as on the wire (tests/support/mail_bytes.py reads them)

    @property
    def to(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def part(self, subtype: str) -> str:
        """The decoded text of the ``text/<subtype>`` part (``plain`` or ``html``), with line
        breaks as a reader sees them (``\\n``; on the wire they are CRLF)."""
        found = self.message.get_body(preferencelist=(subtype,))
        if found is None or found.get_content_subtype() != subtype:
            raise LookupError(f"no text/{subtype} part")
        return str(found.get_content()).replace("\r\n", "\n")


def read(endpoint_url: str | None = None) -> list[SentMail]:
    """All raw mails moto server's SES holds, oldest first."""
    url = (endpoint_url or os.environ["AWS_ENDPOINT_URL"]).rstrip("/") + "/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=30) as response:
        data = json.load(response)
    mails: list[SentMail] = []
    for raw in data.get("ses", {}).get("RawMessage", []):
        wire = raw["raw_data"].encode("utf-8")  # moto decodes SES's bytes as UTF-8
        parsed = message_from_bytes(wire, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        mails.append(SentMail(message_id=raw["id"], recipients=sorted(set(raw["destinations"])),
                              message=parsed, raw=wire))
    return mails


def main() -> None:
    parser = argparse.ArgumentParser(description="Show the mails sent through the local SES.")
    parser.add_argument("--last", type=int, default=10, help="how many of the newest to show")
    args = parser.parse_args()
    mails = read()
    print(f"{len(mails)} mail(s) in the local outbox")
    for mail in mails[-args.last:]:
        print("=" * 72)
        print(f"To: {mail.to}\nSubject: {mail.subject}")
        for name in ("List-Unsubscribe", "List-Unsubscribe-Post"):
            if mail.message[name]:
                print(f"{name}: {mail.message[name]}")
        print()
        print(mail.part("plain"))


if __name__ == "__main__":
    main()
