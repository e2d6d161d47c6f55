"""The newsletter's two tables: subscribers and the consent ledger.

**Subscribers**: one item per normalised address, keyed by ``subscriber_id``, which is
derived from the address (``newsletter.tokens.subscriber_id``), so a second signup for the
same address lands on the same key and a conditional write decides; links in mails carry
the id, never the address.

States: ``pending`` (signed up, not confirmed; expires via ``expires_ttl``), ``confirmed``,
``unsubscribed``, ``suppressed`` (hard bounce or complaint: never mailed again).
``digest_partition`` is set exactly while a subscriber is confirmed, which makes
``digest-index`` a sparse list of everyone who gets the digest: ``confirmed`` for the
weekly digest, ``confirmed-monthly`` for the monthly one (their ``frequency``).

**Consent ledger**: append-only events per subscriber (requested, confirmed, unsubscribed,
preferences-changed, bounced, complained). Written with ``event_key.does_not_exist()`` so an event is never
overwritten; ``event_key`` sorts by time. Events about a signup that is not (yet) confirmed
carry the pending subscriber's ``expires_ttl``, so DynamoDB's TTL deletes them with it;
confirming removes it from the ``requested`` event that was confirmed (the proof of
consent), in the confirm's transaction.

Only ``newsletter.store.SubscriberStore`` changes a subscriber's status, always together
with its ledger event (docs/newsletter.md).
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable

PENDING = "pending"
CONFIRMED = "confirmed"
UNSUBSCRIBED = "unsubscribed"
SUPPRESSED = "suppressed"
STATUSES = (PENDING, CONFIRMED, UNSUBSCRIBED, SUPPRESSED)
# How often a subscriber gets the digest (their preference; no value = weekly, as before it
# could be chosen). Each frequency is its own partition of ``digest-index``, so the digest
# reads only the subscribers of the digest it sends (docs/digest.md#frequency).
WEEKLY = "weekly"
MONTHLY = "monthly"
FREQUENCIES = (WEEKLY, MONTHLY)
DIGEST_PARTITION = "confirmed"  # weekly (the name every confirmed item has carried)
MONTHLY_PARTITION = "confirmed-monthly"


def digest_partition_for(frequency: str | None) -> str:
    """The ``digest-index`` partition of a confirmed subscriber with this frequency."""
    return MONTHLY_PARTITION if frequency == MONTHLY else DIGEST_PARTITION


class DigestIndex(GlobalSecondaryIndex["Subscriber"]):
    class Meta:
        index_name = "digest-index"
        projection = AllProjection()

    digest_partition = UnicodeAttribute(hash_key=True)
    subscriber_id = UnicodeAttribute(range_key=True)


class Subscriber(Model):
    """One address, keyed by the id derived from it; changed only by the subscriber store."""

    class Meta(StageTable):
        table_name = get_settings().subscribers_table

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
    # When the welcome mail was claimed (set with the confirm, or by a later claim): at most
    # one welcome per subscriber, removed again only when its send failed.
    welcomed_at = UTCDateTimeAttribute(null=True)
    frequency = UnicodeAttribute(null=True)  # weekly (also when missing) or monthly

    digest_index = DigestIndex()


class ConsentEvent(Model):
    """One event of a subscriber's consent ledger: written once, never changed but its expiry."""

    class Meta(StageTable):
        table_name = get_settings().ledger_table

    subject = UnicodeAttribute(hash_key=True)  # subscriber_id
    event_key = UnicodeAttribute(range_key=True)  # "<UTC ISO time>#<random id>"
    event = UnicodeAttribute()  # requested | confirmed | unsubscribed | bounced | complained | ...
    at = UTCDateTimeAttribute()
    source_ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    form_url = UnicodeAttribute(null=True)
    consent_version = UnicodeAttribute(null=True)
    detail = MapAttribute[str, str](null=True)
    expires_ttl = NumberAttribute(null=True)  # epoch seconds: only while the signup is pending
