"""The subscribers table: one item per normalised address, keyed by ``subscriber_id``.

``subscriber_id`` is derived from the address (``tokens.subscriber_id``), so a second
signup for the same address lands on the same key and a conditional write decides, and
links in mails carry the id, never the address.

States: ``pending`` (signed up, not confirmed; expires via ``expires_ttl``), ``confirmed``,
``unsubscribed``, ``suppressed`` (hard bounce or complaint: never mailed again).
``digest_partition`` is set exactly while a subscriber is confirmed, which makes
``digest-index`` a sparse list of everyone who gets the digest.
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.config import get_settings
from chalicelib.models.base import region

PENDING = "pending"
CONFIRMED = "confirmed"
UNSUBSCRIBED = "unsubscribed"
SUPPRESSED = "suppressed"
STATUSES = (PENDING, CONFIRMED, UNSUBSCRIBED, SUPPRESSED)
DIGEST_PARTITION = "confirmed"


class DigestIndex(GlobalSecondaryIndex["Subscriber"]):
    class Meta:
        index_name = "digest-index"
        projection = AllProjection()

    digest_partition = UnicodeAttribute(hash_key=True)
    subscriber_id = UnicodeAttribute(range_key=True)


class Subscriber(Model):
    class Meta:
        table_name = get_settings().subscribers_table
        region = region()

    subscriber_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    status = UnicodeAttribute()
    topics = ListAttribute(of=UnicodeAttribute, default=list)  # empty: every category
    consent_version = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    confirmed_at = UTCDateTimeAttribute(null=True)
    unsubscribed_at = UTCDateTimeAttribute(null=True)
    suppressed_at = UTCDateTimeAttribute(null=True)
    suppressed_reason = UnicodeAttribute(null=True)
    # The confirmation token is kept only as a hash; the raw token exists only in the mail.
    confirm_token_hash = UnicodeAttribute(null=True)
    confirm_expires_at = UTCDateTimeAttribute(null=True)
    digest_partition = UnicodeAttribute(null=True)
    expires_ttl = NumberAttribute(null=True)  # epoch seconds; DynamoDB TTL cleans up
    # event_key of the ``requested`` ledger event the current confirmation token belongs to:
    # confirming makes that event permanent (older items lack it; their events never expire).
    request_event_key = UnicodeAttribute(null=True)

    digest_index = DigestIndex()
