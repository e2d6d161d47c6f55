"""The operators' figures: counters kept in the event's transaction against a query path over
the ledger, measured in one run against moto server.

Both ways are measured on the same N subscribers (a signup and a confirmation each):

- **write side**: each event's TransactWriteItems with the week's and month's counters
  (chalicelib/stats/counting.py) against the same transaction without them (the baseline):
  calls per event (must stay 1), write units per event (DynamoDB bills a transactional write
  2 units per item of up to 1 KB) and the time per event;
- **read side**: a month's figures from the counters (one Query on the site table) against a
  query path over the ledger, which today is keyed by subscriber and has no index by time:
  one Query per subscriber. (A new GSI by month would make that one paginated Query, still
  reading every event of the month, and add a GSI write to every event.)

    .venv/bin/python bench/figures.py [subscribers=300]
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)  # bench/captcha.py would hide the captcha package (bench/calls.py)


def bench(figure: str, value: str, baseline: str, ratio: float, goal: str) -> None:
    print("BENCH " + json.dumps({"figure": figure, "value": value, "baseline": baseline,
                                 "ratio": round(ratio, 4), "goal": goal}, ensure_ascii=False))


def main(argv: list[str]) -> int:
    subscribers = int(argv[0]) if argv else 300
    from devtools.stack import aws_stack

    with aws_stack(LOG_LEVEL="WARNING"):
        return run(subscribers)


def run(subscribers: int) -> int:
    from chalicelib.core.conditions import Transaction
    from chalicelib.newsletter.models import ConsentEvent, Subscriber
    from chalicelib.newsletter.store import NO_CONTEXT, SubscriberStore
    from chalicelib.stats import counting
    from devtools import call_counter
    from editor.stats import counters

    store = SubscriberStore()
    timings: dict[str, list[float]] = {"counted": [], "plain": []}
    calls: Counter[str] = Counter()
    expires = datetime.now(UTC) + timedelta(days=1)
    token_hash = hashlib.sha256(b"bench").hexdigest()  # stands in for a confirmation token's hash
    for number in range(subscribers):
        sid = f"bench-{number:05d}"
        with call_counter.counting(unique_id="bench-figures") as counted:
            started = time.perf_counter()
            store.request(sid, email=f"{sid}@example.org", topics=[], secret_hash=token_hash,
                          expires=expires, context=NO_CONTEXT, current=None)
            timings["counted"].append(time.perf_counter() - started)
            current = store.get(sid)
            assert current is not None
            started = time.perf_counter()
            store.confirm(sid, current, proof=None, context=NO_CONTEXT)
            timings["counted"].append(time.perf_counter() - started)
        calls += counted
        # The baseline: a transaction of the same two items (the subscriber, a ledger event)
        # without the counters.
        for kind in ("requested", "confirmed"):
            now = datetime.now(UTC)
            event = ConsentEvent(sid, f"{now.isoformat()}#plain-{kind}", event=kind, at=now)
            started = time.perf_counter()
            with Transaction(ConsentEvent) as transaction:
                transaction.update(Subscriber(sid), actions=[Subscriber.updated_at.set(now)],
                                   name="subscriber")
                transaction.save(event, condition=ConsentEvent.event_key.does_not_exist(), name="event")
            timings["plain"].append(time.perf_counter() - started)

    writes_per_event = calls["dynamodb.TransactWriteItems"] / (2 * subscribers)
    assert calls["dynamodb.GetItem"] == subscribers and len(calls) == 2, calls
    bench("figures: DynamoDB writes per counted event (signup, confirm)", f"{writes_per_event:g} call",
          "1 TransactWriteItems, as without counters", writes_per_event, "<= 1.00")
    # Items per transaction: subscriber + event (+ week + month counters).
    bench("figures: write units per event transaction", "8 WCU (4 items × 2)",
          "4 WCU (subscriber + event, 2 items × 2)", 2.0, "– (stated: +4 WCU per event)")
    counted_ms = statistics.median(timings["counted"]) * 1000
    plain_ms = statistics.median(timings["plain"]) * 1000
    bench("figures: time per event transaction with counters (moto server)", f"{counted_ms:.2f} ms",
          f"{plain_ms:.2f} ms without", counted_ms / plain_ms, "<= 3")

    # Read side: one month's figures.
    month = counting.month_of(datetime.now(UTC))
    with call_counter.counting(unique_id="bench-figures-read") as read_calls:
        started = time.perf_counter()
        figures = counters("month")[month]
        counters_ms = (time.perf_counter() - started) * 1000
    assert figures["requested"] == subscribers and figures["confirmed"] == subscribers, figures
    started = time.perf_counter()
    events = 0
    with call_counter.counting(unique_id="bench-figures-ledger") as ledger_calls:
        for number in range(subscribers):
            events += sum(1 for event in ConsentEvent.query(f"bench-{number:05d}")
                          if event.at.strftime("%Y-%m") == month and "#plain-" not in event.event_key)
        ledger_ms = (time.perf_counter() - started) * 1000
    assert events == 2 * subscribers, events
    read_queries = sum(read_calls.values())
    ledger_queries = sum(ledger_calls.values())
    print(f"{subscribers} subscribers: counters {read_queries} Query in {counters_ms:.1f} ms; "
          f"ledger path {ledger_queries} Queries in {ledger_ms:.1f} ms")
    bench(f"figures: reading a month ({subscribers} subscribers), counters vs ledger query path",
          f"{read_queries} Query, {counters_ms:.1f} ms", f"{ledger_queries} Queries, {ledger_ms:.1f} ms",
          counters_ms / ledger_ms, "<= 0.10")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
