"""The ratelimits table: short-lived counters and claims, keyed by what is limited.

- sliding-window counters (``<scope>#<subject>``): one number attribute per fixed window,
  ``w<window start>`` (so a new window needs no reset, and the current and previous windows
  come back from the one atomic, conditional ``ADD`` that counts an event; see
  ``limiter.Limiter.hit``). They are not declared below: their names change with time;
- claims (``<scope>#<subject>``) held until ``expires_ttl``, taken with one conditional put
  (e.g. "a confirmation mail went to this mailbox less than 24 h ago"), each carrying the
  random id of the attempt that took it, so only that attempt can give it back.

A claim's ``expires_ttl`` is checked in code, and a counter reads only the windows it names:
DynamoDB's TTL deletes expired items only eventually.
"""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable


class RateLimit(Model):
    """A subject's counter (its windows' counts in ``w<start>`` attributes) or a claim, keyed by
    scope and the subject's keyed hash."""

    class Meta(StageTable):
        table_name = get_settings().ratelimits_table

    key = UnicodeAttribute(hash_key=True)
    # Epoch seconds: the end of a claim, or of the window after a counter's latest one.
    expires_ttl = NumberAttribute()
    attempt = UnicodeAttribute(null=True)  # claims only: the random id of the attempt holding it
    request = UnicodeAttribute(null=True)  # claims only: keyed hash of the request it was taken for
