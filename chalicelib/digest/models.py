"""The digest's records.

**Deliveries table**: one item per (digest, subscriber), the proof a digest mail was
claimed and sent. A worker claims the pair with a conditional put before it calls SES and
records SES's message id after, so a retried SQS message finds the claim and never mails
twice. Items expire (``expires_ttl``) once no retry can come for them any more.

**Site table** (pk + sk: small site-wide records); the digest keeps three kinds there:

- ``Digest`` (pk ``digest``, sk the digest id): one per digest that goes out, made once
  with a conditional put, carrying the articles it covers and how far its fan-out got;
- ``DigestMarker`` (pk ``digest-marker``, sk ``last``): the last digest that went out and
  the publish time it covered up to, where the next one starts;
- ``DigestRun`` (pk ``digest-run``, sk the run's UTC time): every scheduled run, also the
  ones that found nothing new or were paused.
"""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable

CLAIMED = "claimed"  # SES was (or is about to be) called; outcome not yet recorded
SENT = "sent"  # SES accepted the mail; message_id says which


class Delivery(Model):
    """The claim, then the record, of one digest mail to one subscriber."""

    class Meta(StageTable):
        table_name = get_settings().deliveries_table

    digest_id = UnicodeAttribute(hash_key=True)  # "2026-W48"
    subscriber_id = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    claimed_at = UTCDateTimeAttribute()
    sent_at = UTCDateTimeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)  # SES's id: bounces and complaints name it
    expires_ttl = NumberAttribute()  # epoch seconds

DIGEST_PK = "digest"
MARKER_PK, MARKER_SK = "digest-marker", "last"
RUN_PK = "digest-run"

FANNING_OUT = "fanning-out"  # the fan-out has started and not yet reached the last page
ENQUEUED = "enqueued"  # every eligible subscriber is on the queue


class DigestImage(MapAttribute[str, str]):
    """An article's lead image as the mail shows it: a JPEG or PNG on the site."""

    url = UnicodeAttribute()
    width = NumberAttribute()
    height = NumberAttribute()
    alt = UnicodeAttribute()


class ArticleSummary(MapAttribute[str, str]):
    slug = UnicodeAttribute()
    title = UnicodeAttribute()
    teaser = UnicodeAttribute()
    category = UnicodeAttribute()
    published_at = UTCDateTimeAttribute()
    image = DigestImage(null=True)  # the lead image, when the article has one


class Digest(Model):
    """One week's digest: its articles and how far its fan-out got."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True, default=DIGEST_PK)
    sk = UnicodeAttribute(range_key=True)  # the digest id
    since = UTCDateTimeAttribute()  # exclusive
    until = UTCDateTimeAttribute()  # inclusive
    articles = ListAttribute(of=ArticleSummary)
    state = UnicodeAttribute()
    # DynamoDB's LastEvaluatedKey of the last subscriber page enqueued (JSON), so a run
    # that stopped before its time ran out resumes there.
    fanout_cursor = UnicodeAttribute(null=True)
    enqueued = NumberAttribute(default=0)
    # The run fanning out holds this lease; another run (a retry, the next cron firing)
    # takes over only once it has passed, so two runs never fan out side by side.
    lease_until = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class DigestMarker(Model):
    """Where the next digest starts: the publish time the last one covered."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True, default=MARKER_PK)
    sk = UnicodeAttribute(range_key=True, default=MARKER_SK)
    digest_id = UnicodeAttribute()
    covered_until = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()


class DigestRun(Model):
    """One scheduled run and what it found, for the operator."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True, default=RUN_PK)
    sk = UnicodeAttribute(range_key=True)  # "<UTC ISO time>#<random>"
    digest_id = UnicodeAttribute()
    # sent-to-queue | resumed | already-enqueued | already-running | nothing-new | paused
    outcome = UnicodeAttribute()
    articles = NumberAttribute(default=0)
    enqueued = NumberAttribute(default=0)
