"""The consent ledger: append-only events per subscriber (requested, confirmed,
unsubscribed, bounced, complained, ...). Written with ``event_key.does_not_exist()`` so an
event is never overwritten; ``event_key`` sorts by time.

Events about a signup that is not (yet) confirmed carry the pending subscriber's
``expires_ttl``, so DynamoDB's TTL deletes them with it; confirming removes it from the
``requested`` event that was confirmed (the proof of consent), in the confirm's transaction."""

from __future__ import annotations

from pynamodb.attributes import (
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from chalicelib.config import get_settings
from chalicelib.models.base import region


class ConsentEvent(Model):
    class Meta:
        table_name = get_settings().ledger_table
        region = region()

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
