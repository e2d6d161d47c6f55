"""The deliveries table: one item per (digest, subscriber), the proof a digest mail was
claimed and sent.

A worker claims the pair with a conditional put before it calls SES and records SES's
message id after, so a retried SQS message finds the claim and never mails twice. Items
expire (``expires_ttl``) once no retry can come for them any more.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from chalicelib.config import get_settings
from chalicelib.models.base import region

CLAIMED = "claimed"  # SES was (or is about to be) called; outcome not yet recorded
SENT = "sent"  # SES accepted the mail; message_id says which


class Delivery(Model):
    class Meta:
        table_name = get_settings().deliveries_table
        region = region()

    digest_id = UnicodeAttribute(hash_key=True)  # "2026-W48"
    subscriber_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)  # SES's id: bounces and complaints name it
    expires_ttl = NumberAttribute()  # epoch seconds
