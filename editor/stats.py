"""``borgerdialog stats``: the newsletter's and the digest's figures for a week or a month,
and a chart of the last 12 months.

    borgerdialog stats                         # this month, and stats.svg
    borgerdialog stats --week 2026-W48         # one ISO week
    borgerdialog stats --month 2026-11 --chart figures.svg

Only our own events are counted: signups, confirmations, unsubscribes (by link, one-click,
mail), bounces, complaints and erasures, from the counters the subscriber store keeps in the
transaction of each event (chalicelib/stats/counting.py); per digest, what its deliveries
record (the deliveries table, one Query per digest) and the bounces and complaints SES
attributed to it. No open pixel, no click redirect, nothing about a reader. No Scan: one
Query per kind of counter, one for the digests, one per digest of the period.
docs/operations.md#figures.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from editor.progress import Output

EX_USAGE = 2
WEEK_RE = re.compile(r"^\d{4}-W\d{2}$")
MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
EVENT_ROWS = (("requested", "signups requested"), ("confirmed", "confirmed"),
              ("unsubscribed", "unsubscribed"), ("bounced", "bounced"), ("complained", "complained"),
              ("erased", "erased"))
METHODS = {"page": "link", "one-click": "one-click", "mailto": "mail", "api": "api"}
GAUGES = ("subscribers", "topic.", "frequency.")


class UsageError(ValueError):
    """A period the command cannot read: the message says what to write instead."""


@dataclass(frozen=True)
class Period:
    kind: str  # "week" | "month"
    id: str  # "2026-W48" | "2026-11"
    start: datetime
    end: datetime  # exclusive


def week_period(week: str) -> Period:
    from chalicelib.digest.weeks import InvalidDigestId, week_start

    if not WEEK_RE.match(week):
        raise UsageError(f"not a week: {week!r}; write e.g. 2026-W48")
    try:
        start = week_start(week)
    except InvalidDigestId as problem:
        raise UsageError(f"not a week: {week!r}; write e.g. 2026-W48") from problem
    return Period("week", week, start, start + timedelta(days=7))


def month_period(month: str) -> Period:
    found = MONTH_RE.match(month)
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise UsageError(f"not a month: {month!r}; write e.g. 2026-11")
    year, number = int(found.group(1)), int(found.group(2))
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return Period("month", month, start, end)


def last_months(month: str, count: int = 12) -> list[str]:
    """``count`` month ids ending with ``month``, oldest first."""
    year, number = int(month[:4]), int(month[5:7])
    ids = []
    for _ in range(count):
        ids.append(f"{year:04d}-{number:02d}")
        year, number = (year, number - 1) if number > 1 else (year - 1, 12)
    return ids[::-1]


@dataclass
class DigestFigures:
    digest_id: str
    recipients: int  # put on the queue by the fan-out (confirmed then)
    sent: int  # SES accepted the mail
    skipped: int  # nothing in their topics, or no longer confirmed when their turn came
    failed: int  # claimed, but no SES message id recorded (outcome unknown)
    bounced: int
    complained: int
    seconds: float | None  # from the first claim to the last mail SES accepted
    at_rate_seconds: float | None  # the least the sent mails take at SES's rate


@dataclass
class Figures:
    period: Period
    events: dict[str, int] = field(default_factory=dict)
    subscribers: dict[str, int] = field(default_factory=dict)  # at the end of the period
    digests: list[DigestFigures] = field(default_factory=list)


def _items(pk: str) -> Iterator[dict[str, Any]]:
    """Every item of one partition of the site table, values as Python numbers and strings
    (raw: a counter item's attributes are its counters, which no model declares)."""
    from chalicelib.stats.models import FigureCounter

    connection = FigureCounter._get_connection()
    start: dict[str, Any] | None = None
    while True:
        page = connection.query(pk, exclusive_start_key=start)
        for raw in page.get("Items", []):
            yield {name: (int(value["N"]) if "N" in value else value.get("S"))
                   for name, value in raw.items()}
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def counters(kind: str) -> dict[str, dict[str, int]]:
    """Period id -> counter -> value, for ``week`` or ``month`` (one paginated Query)."""
    from chalicelib.stats import counting, models

    pk = {"week": models.WEEK, "month": models.MONTH, "digest": models.DIGEST}[kind]
    return counting.totals(_items(pk))


def is_gauge(name: str) -> bool:
    return name == "subscribers" or name.startswith(GAUGES[1:])


def split(periods: Mapping[str, Mapping[str, int]], upto: str) -> tuple[dict[str, int], dict[str, int]]:
    """The events of period ``upto`` and the subscribers at its end (the gauges' deltas of
    every period up to it added up)."""
    events = {name: value for name, value in periods.get(upto, {}).items() if not is_gauge(name)}
    subscribers: dict[str, int] = {}
    for period, values in periods.items():
        if period <= upto:
            for name, value in values.items():
                if is_gauge(name):
                    subscribers[name] = subscribers.get(name, 0) + value
    return events, {name: value for name, value in subscribers.items() if value}


def digest_figures(period: Period, rate: Callable[[], float]) -> list[DigestFigures]:
    """The digests made in the period, from their records and deliveries."""
    from chalicelib.digest.models import DIGEST_PK, SENT, Delivery, Digest
    attributed = counters("digest")
    found = []
    for digest in Digest.query(DIGEST_PK):
        if not period.start <= digest.created_at < period.end:
            continue
        claimed = sent = 0
        first: datetime | None = None
        last: datetime | None = None
        for delivery in Delivery.query(digest.sk):
            claimed += 1
            first = min(first or delivery.claimed_at, delivery.claimed_at)
            if delivery.status == SENT:
                sent += 1
                if delivery.sent_at is not None:
                    last = max(last or delivery.sent_at, delivery.sent_at)
        recipients = int(digest.enqueued or 0)
        if not recipients and not claimed:
            # A run that found nobody to send to (a monthly digest while everyone reads the
            # weekly one): no mail went out, as `digest runs` leaves it out too.
            continue
        bounces = attributed.get(digest.sk, {})
        found.append(DigestFigures(
            digest_id=digest.sk, recipients=recipients, sent=sent,
            skipped=max(0, recipients - claimed), failed=claimed - sent,
            bounced=bounces.get("bounced", 0), complained=bounces.get("complained", 0),
            seconds=(last - first).total_seconds() if first and last else None,
            at_rate_seconds=sent / rate() if sent else None))
    return sorted(found, key=lambda figures: figures.digest_id)


def read(period: Period, rate: Callable[[], float]) -> Figures:
    events, subscribers = split(counters(period.kind), period.id)
    return Figures(period, events, subscribers, digest_figures(period, rate))


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def table(figures: Figures) -> list[str]:
    """The figures as lines of text, for a person to read."""
    events, lines = figures.events, [f"Figures for {figures.period.kind} {figures.period.id} (UTC)"]
    for name, label in EVENT_ROWS:
        value = events.get(name, 0)
        note = ""
        if name == "confirmed":
            note = f"  confirmation rate {_percent(value, events.get('requested', 0))}"
        if name == "unsubscribed":
            methods = [f"{METHODS.get(key[13:], key[13:])} {count}" for key, count in sorted(events.items())
                       if key.startswith("unsubscribed.")]
            note = f"  ({', '.join(methods)})" if methods else ""
        lines.append(f"  {label:<20} {value:>6}{note}")
    known = {name for name, _ in EVENT_ROWS}
    for name, value in sorted(events.items()):  # kinds added later, by their own name
        if name not in known and "." not in name:
            lines.append(f"  {name:<20} {value:>6}")
    subscribers = figures.subscribers
    lines.append(f"Subscribers at the end of {figures.period.id}: {subscribers.get('subscribers', 0)}")
    topics = sorted((name[6:], value) for name, value in subscribers.items() if name.startswith("topic."))
    frequencies = sorted((name[10:], value) for name, value in subscribers.items()
                         if name.startswith("frequency."))
    lines.append("  by topic: " + (", ".join(
        f"{'every topic' if topic == '*' else topic} {value}" for topic, value in topics) or "-"))
    lines.append("  by frequency: " + (", ".join(f"{name} {value}" for name, value in frequencies) or "-"))
    if not figures.digests:
        lines.append("Digests: none in this period")
        return lines
    lines.append("Digests:")
    lines.append(f"  {'digest':<9} {'recipients':>10} {'sent':>6} {'skipped':>7} {'failed':>6} "
                 f"{'bounces':>7} {'complaints':>10}  send time (at SES rate)")
    for digest in figures.digests:
        took = "-" if digest.seconds is None else f"{digest.seconds:.1f} s"
        least = "-" if digest.at_rate_seconds is None else f"{digest.at_rate_seconds:.1f} s"
        lines.append(f"  {digest.digest_id:<9} {digest.recipients:>10} {digest.sent:>6} {digest.skipped:>7} "
                     f"{digest.failed:>6} {digest.bounced:>7} {digest.complained:>10}  {took} ({least})")
    return lines


def monthly_series(month: str) -> list[tuple[str, dict[str, int], int]]:
    """For each of the 12 months ending with ``month``: its events and the subscribers at its end."""
    periods = counters("month")
    series = []
    for each in last_months(month):
        events, subscribers = split(periods, each)
        series.append((each, events, subscribers.get("subscribers", 0)))
    return series


# -- the command ------------------------------------------------------------------------------


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    stats = commands.add_parser("stats", help="the newsletter's and digest's figures for a week or "
                                              "month, and a chart of the last 12 months")
    when = stats.add_mutually_exclusive_group()
    when.add_argument("--week", help="an ISO week, e.g. 2026-W48")
    when.add_argument("--month", help="a month, e.g. 2026-11 (default: this month)")
    stats.add_argument("--chart", type=Path, default=Path("stats.svg"), metavar="FILE",
                       help="write the chart of the last 12 months here (SVG; default: stats.svg)")
    stats.set_defaults(run=_run, needs_stack=True)
    common(stats)


def _rate() -> Callable[[], float]:
    """SES's send rate, asked once and only when a digest was sent."""
    from chalicelib.core.config import get_settings
    from chalicelib.digest.pacing import account_max_send_rate

    known: list[float] = []

    def rate() -> float:
        if not known:
            configured = get_settings().digest_max_send_rate
            known.append(configured or account_max_send_rate()[0])
        return known[0]
    return rate


def _run(args: argparse.Namespace, output: Output) -> int:
    from editor import stats_chart

    now = datetime.now(UTC)
    try:
        period = (week_period(args.week) if args.week
                  else month_period(args.month or now.strftime("%Y-%m")))
    except UsageError as problem:
        output.error(str(problem))
        return EX_USAGE
    figures = read(period, _rate())
    for line in table(figures):
        output.line(line)
    month = period.id if period.kind == "month" else _month_of(period.start)
    chart = stats_chart.render(monthly_series(month))
    args.chart.write_text(chart, encoding="utf-8")
    output.line(f"Chart of the 12 months up to {month}: {args.chart}")
    return 0


def _month_of(moment: datetime | date) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"
