"""The ratelimits table: short-lived counters and claims, keyed by what is limited.

- fixed-window counters (``<scope>#<subject>#<window start>``), bumped with one atomic,
  conditional ``ADD`` so concurrent requests can never count past the limit;
- claims (``<scope>#<subject>``) held until ``expires_ttl``, taken with one conditional put
  (e.g. "a confirmation mail went to this address less than 24 h ago"), each carrying the
  random id of the attempt that took it, so only that attempt can give it back.

``expires_ttl`` is checked in code: DynamoDB's TTL deletes expired items only eventually.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable


class RateLimit(Model):
    """A window's counter or a claim, keyed by scope and the subject's keyed hash."""

    class Meta(StageTable):
        table_name = get_settings().ratelimits_table

    key = UnicodeAttribute(hash_key=True)
    hits = NumberAttribute(null=True)  # counters only (``count`` would shadow Model.count)
    expires_ttl = NumberAttribute()  # epoch seconds: end of the window or of the claim
    attempt = UnicodeAttribute(null=True)  # claims only: the random id of the attempt holding it
    request = UnicodeAttribute(null=True)  # claims only: keyed hash of the request it was taken for
