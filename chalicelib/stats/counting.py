"""Counters of the newsletter's events, kept in the transaction that writes the event.

Every consent-ledger event the subscriber store writes adds 1 to a counter named after the
event's kind (``requested``, ``confirmed``, ``unsubscribed``, ``bounced``, ``complained``, and
any kind added later, by its own name), in the week and the month of the event. ``SPLIT_BY``
says which detail also splits a kind (``unsubscribed.one-click``). A subscriber who joins
the digest (confirms) adds 1 to ``subscribers``, ``topic.<topic>`` (``topic.*``: every
topic) and ``frequency.<frequency>``; one who leaves it (unsubscribes, is suppressed or
erased while confirmed) subtracts the same: the sum of these deltas up to a period is the
number of subscribers at its end. A bounce or complaint that names its digest also counts on
that digest.

The counters are site-table items (pk ``figures-week`` / ``figures-month`` /
``figures-digest``, sk ``<period>#<shard>``): updates with ADD inside the event's
TransactWriteItems, so they count exactly the events that were written, once, and no extra
call is made. The shard (one of ``SHARDS``, at random) spreads concurrent transactions over
several items, so two signups in the same second rarely conflict on one counter item; the
reader adds the shards up. Cost: 2 more items per event transaction (week + month), 2 write
units each as transactional writes; no item holds anything about a person.
docs/operations.md#figures.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.operand import Path

from chalicelib.core.conditions import Transaction
from chalicelib.stats.models import DIGEST, MONTH, WEEK, FigureCounter

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition
    from pynamodb.expressions.update import Action
    from pynamodb.models import Model

# The digest a mail belongs to, in a header of its own: SES's bounce and complaint events
# carry the mail's headers back, so those count on that digest.
DIGEST_HEADER = "X-Borgerdialog-Digest"
SHARDS = 8
ALL_TOPICS = "*"
DEFAULT_FREQUENCY = "weekly"  # every subscriber gets the weekly digest until they can choose

# Ledger event kind -> the detail key whose value also splits it into its own counter.
SPLIT_BY: dict[str, str] = {"unsubscribed": "method"}
# Ledger event kind -> metric name in CloudWatch (chalicelib/stats/metrics.py); a kind not
# named here is counted in DynamoDB all the same, and sent as a metric under its own name.
METRIC_NAMES: dict[str, str] = {
    "requested": "SignupsRequested",
    "confirmed": "SignupsConfirmed",
    "unsubscribed": "Unsubscribed",
    "bounced": "Bounced",
    "complained": "Complained",
}


class Member(Protocol):
    """What the counters need of a subscriber: the topics and frequency they get."""

    @property
    def topics(self) -> Any: ...  # a list of topic slugs (pynamodb types it as its attribute)


def week_of(at: datetime) -> str:
    year, week, _ = at.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def month_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def event_counters(kind: str, detail: Mapping[str, str] | None) -> list[str]:
    """The counters one ledger event adds 1 to."""
    names = [kind]
    split = SPLIT_BY.get(kind)
    if split and detail and detail.get(split):
        names.append(f"{kind}.{detail[split]}")
    return names


def member_counters(member: Member) -> list[str]:
    """The gauges a subscriber is counted in while they get the digest."""
    topics = list(member.topics or []) or [ALL_TOPICS]
    frequency = str(getattr(member, "frequency", None) or DEFAULT_FREQUENCY)
    return ["subscribers", *(f"topic.{topic}" for topic in topics), f"frequency.{frequency}"]


def changes(kind: str | None, detail: Mapping[str, str] | None, *, joined: Member | None = None,
            left: Member | None = None) -> dict[str, int]:
    """Counter name -> amount for one event and the digest membership it changes."""
    amounts: dict[str, int] = {}
    for name in event_counters(kind, detail) if kind else []:
        amounts[name] = amounts.get(name, 0) + 1
    for member, sign in ((joined, 1), (left, -1)):
        for name in member_counters(member) if member is not None else []:
            amounts[name] = amounts.get(name, 0) + sign
    return {name: amount for name, amount in amounts.items() if amount}


def _actions(amounts: Mapping[str, int]) -> list[Action]:
    actions: list[Action] = []
    for name, amount in sorted(amounts.items()):
        attribute = NumberAttribute(attr_name=name)
        attribute.attr_name = name  # the name DynamoDB stores, whatever characters it has
        actions.append(Path(attribute).add(amount))
    return actions


def _item(kind: str, period: str) -> FigureCounter:
    return FigureCounter(kind, f"{period}#{secrets.randbelow(SHARDS)}")


class CountedTransaction(Transaction):
    """A ``Transaction`` whose ledger events are counted: ``record`` saves the event and adds
    the counter updates to the same TransactWriteItems; after it commits, the events are
    also written as CloudWatch metrics (``metrics.emit``)."""

    def __init__(self, model: type[Model]) -> None:
        super().__init__(model)
        self._counted: list[str] = []

    def record(self, event: Any, *, condition: Condition | None, joined: Member | None = None,
               left: Member | None = None, digest: str | None = None) -> None:
        """Save ``event`` (a ledger item, named ``event``) and count it in its week and month,
        and on ``digest`` when given; ``joined``/``left``: the digest membership it changes."""
        self.save(event, condition=condition, name="event")
        detail = event.detail.as_dict() if event.detail is not None else None  # a MapAttribute
        self.count(str(event.event), event.at, detail, joined=joined, left=left, digest=digest)

    def count(self, kind: str | None, at: datetime, detail: Mapping[str, str] | None = None, *,
              joined: Member | None = None, left: Member | None = None,
              digest: str | None = None) -> None:
        amounts = changes(kind, dict(detail) if detail else None, joined=joined, left=left)
        if not amounts:
            return
        actions = _actions(amounts)
        self.update(_item(WEEK, week_of(at)), actions=actions, name="figures-week")
        self.update(_item(MONTH, month_of(at)), actions=actions, name="figures-month")
        if digest and kind:
            self.update(_item(DIGEST, digest), actions=_actions({kind: 1}), name="figures-digest")
        if kind:
            self._counted.append(kind)

    def __enter__(self) -> CountedTransaction:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        super().__exit__(kind, error, traceback)
        if kind is None and self._counted:
            from chalicelib.stats import metrics

            metrics.emit(metrics.counts(METRIC_NAMES.get(k, k) for k in self._counted))


def digest_of(mail: Mapping[str, Any]) -> str:
    """The digest an SES notification's ``mail`` object names (its headers, or a ``digest``
    message tag), or "" when it names none (an identity notification without headers)."""
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == DIGEST_HEADER.lower():
            return str(header.get("value", ""))[:20]
    tags = mail.get("tags")
    if isinstance(tags, dict) and isinstance(tags.get("digest"), list) and tags["digest"]:
        return str(tags["digest"][0])[:20]
    return ""


def totals(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Raw site-table items of one kind -> period -> counter -> sum over the shards."""
    periods: dict[str, dict[str, int]] = {}
    for item in items:
        period = str(item["sk"]).rsplit("#", 1)[0]
        counters = periods.setdefault(period, {})
        for name, value in item.items():
            if name in ("pk", "sk"):
                continue
            counters[name] = counters.get(name, 0) + int(value)
    return periods
