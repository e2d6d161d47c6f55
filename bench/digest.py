"""A digest to 10,000 subscribers against moto server: SES calls, DynamoDB calls per
subscriber, and the achieved send rate against the configured max send rate.

The whole path runs as in AWS: the planner pages digest-index onto the real SQS queue,
``--workers`` concurrent workers (threads standing in for concurrent Lambdas, each with
its own pacer at rate / workers) receive batches of 10, send and delete, until the queue
is empty. Calls are counted at the botocore clients (SendEmail recipients too); the
server side is the deliveries table, where every sent mail carries SES's message id.

    .venv/bin/python bench/digest.py [--subscribers 10000] [--rate 14] [--workers 4]

The goal: 10,000 mails inside one 15-minute window at 14 mails/s (SES's usual production
rate) needs >= 0.95 of the rate. At 14/s a run takes ~12 minutes of sending; pacing is
rate-independent, so a higher ``--rate`` (with more ``--workers``) gives the same fraction
sooner, as long as moto server keeps up with rate x 3 requests/s on the machine.

moto server runs with devtools/moto_transactions.py: moto's own TransactWriteItems
deep-copies every table it touches for its rollback, so each claim cost time and memory in
proportion to the subscribers table (10,000 stalled at about one claim per second, past
10 GB). With the item-level rollback, measured 2026-11-28 on the shared 2-core machine:
10,000 subscribers, 10,000 SendEmail, 0 duplicates, 2.0004 DynamoDB calls per subscriber,
14.00 mails/s = 1.000 of 14/s (715 s of sending, 12.5 min in all).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REGION = "eu-north-1"
WINDOW_S = 15 * 60
GOAL_RATE = 14.0


def bench_line(figure: str, value: str, baseline: str, ratio: float, goal: str) -> None:
    print("BENCH " + json.dumps({"figure": figure, "value": value, "baseline": baseline,
                                 "ratio": round(ratio, 4), "goal": goal}, ensure_ascii=False))


def main() -> int:
    parser = argparse.ArgumentParser(description="Digest fan-out and send benchmark")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=GOAL_RATE, help="configured max send rate (mails/s)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    from devtools.stack import aws_stack

    with aws_stack(ROOT / ".local" / "bench-digest-moto.log", DIGEST_MAX_SEND_RATE=str(args.rate),
                   DIGEST_WORKERS=str(args.workers), SES_CONFIGURATION_SET=""):
        return run(args)


def run(args: argparse.Namespace) -> int:
    from chalicelib.core import aws
    from chalicelib.digest.handlers import WORKER_BATCH_SIZE
    from chalicelib.digest.models import Delivery
    from chalicelib.digest.planner import DigestPlanner
    from chalicelib.digest.queue import Queue
    from chalicelib.digest.worker import DigestWorker, Record
    from chalicelib.newsletter import tokens
    from chalicelib.newsletter.models import CONFIRMED, DIGEST_PARTITION, Subscriber
    from devtools.seed_articles import add_articles
    now = datetime.now(UTC)
    # Three articles in three topics, published in the past week.
    add_articles(3, categories=["cases", "metoder", "erfaringer"], prefix="ugens-artikel",
                 start=now - timedelta(days=1, hours=3))
    print(f"Writing {args.subscribers} confirmed subscribers ...", flush=True)
    with Subscriber.batch_write() as batch:
        for number in range(args.subscribers):
            email = f"laeser{number:05d}@example.org"
            batch.save(Subscriber(tokens.subscriber_id(email), email=email, status=CONFIRMED,
                                  topics=[], created_at=now, updated_at=now, confirmed_at=now,
                                  digest_partition=DIGEST_PARTITION))

    calls: Counter[str] = Counter()
    lock = threading.Lock()

    per_recipient: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        with lock:
            calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def recipients(params: dict[str, Any], **_: Any) -> None:
        with lock:
            per_recipient.update(params["Destination"]["ToAddresses"])

    clients = [Delivery._get_connection().connection.client, Subscriber._get_connection().connection.client,
               aws.client("sqs"), aws.client("sesv2"), aws.client("ses")]
    from chalicelib.digest.models import Digest
    clients.append(Digest._get_connection().connection.client)
    for client in {id(c): c for c in clients}.values():
        client.meta.events.register("before-call.*.*", count, unique_id="bench-count")
    aws.client("sesv2").meta.events.register("before-parameter-build.sesv2.SendEmail", recipients,
                                             unique_id="bench-recipients")

    started = time.monotonic()
    result = DigestPlanner().run(lambda: 15 * 60 * 1000)
    fanout_s = time.monotonic() - started
    planner_calls = +calls
    print(f"Fan-out: {result.enqueued} on the queue in {fanout_s:.1f} s "
          f"({planner_calls['dynamodb.Query']} Query, {planner_calls['sqs.SendMessageBatch']} "
          f"SendMessageBatch, {planner_calls['dynamodb.Scan']} Scan)", flush=True)
    calls.clear()

    queue = Queue()
    send_times: list[float] = []

    def worker_loop() -> None:
        from chalicelib.core import mail

        def send(message: mail.Mail) -> str:
            message_id = mail.send(message)
            with lock:
                send_times.append(time.monotonic())
            return message_id

        worker = DigestWorker(send=send)  # its own pacer: rate / workers, as one Lambda
        sqs = aws.client("sqs")
        empty = 0
        while empty < 3:
            messages = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=WORKER_BATCH_SIZE,
                                           VisibilityTimeout=300).get("Messages", [])
            if not messages:
                empty += 1
                continue
            empty = 0
            records = [Record(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in messages]
            outcome = worker.process(records, lambda: 60_000)
            if outcome.done:
                queue.delete([record.receipt_handle for record in outcome.done])

    print(f"Sending with {args.workers} workers at {args.rate:g} mails/s in total ...", flush=True)
    threads = [threading.Thread(target=worker_loop) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    worker_calls = +calls  # before the checks below add their own

    # Server side: the deliveries that carry the message id SES (moto) answered with. Reading
    # every stored mail back through /moto-api/data.json is too slow at this size, and moto's
    # SentLast24Hours counts a raw mail's recipients twice (Destination and To header).
    duplicates = sum(c - 1 for c in per_recipient.values() if c > 1)
    recorded = sum(1 for _ in Delivery.query(result.digest_id, filter_condition=Delivery.message_id.exists()))
    n = args.subscribers
    ses_calls = worker_calls["sesv2.SendEmail"]
    dynamodb = {name: c for name, c in worker_calls.items() if name.startswith("dynamodb.")}
    dynamodb_per = sum(dynamodb.values()) / n
    elapsed = send_times[-1] - send_times[0] if len(send_times) > 1 else float("nan")
    achieved = (len(send_times) - 1) / elapsed
    fraction = achieved / args.rate
    at_goal_rate_s = n / (GOAL_RATE * fraction)

    print(f"SES SendEmail calls:   {ses_calls} for {n} subscribers; distinct recipients "
          f"{len(per_recipient)}, duplicates {duplicates}, deliveries with an SES message id {recorded}")
    print(f"DynamoDB calls:        {dict(sorted(dynamodb.items()))} = {dynamodb_per:.4f} per subscriber")
    print(f"Send rate:             {achieved:.2f} mails/s over {elapsed:.1f} s = {fraction:.3f} of the "
          f"configured {args.rate:g}/s")
    print(f"At {GOAL_RATE:g} mails/s:         {n} mails take {at_goal_rate_s:.0f} s "
          f"({'inside' if at_goal_rate_s <= WINDOW_S else 'OUTSIDE'} the {WINDOW_S} s window)")
    bench_line(f"digest SES SendEmail calls for {n} subscribers", str(ses_calls), str(n), ses_calls / n,
               "== 1.00")
    bench_line("digest duplicate mails", str(duplicates), f"{n} recipients", duplicates / n, "== 0")
    bench_line("digest DynamoDB calls per subscriber", f"{dynamodb_per:.4f}",
               "2 (claim + mark)", dynamodb_per / 2, "<= 1.01 (constant)")
    bench_line("digest send rate vs configured max send rate", f"{achieved:.2f} mails/s",
               f"{args.rate:g} mails/s", fraction, ">= 0.95")
    ok = (ses_calls == n == recorded and duplicates == 0 and len(per_recipient) == n
          and fraction >= 0.95)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
