"""``python -m editor replay-failed``: give events the functions could not handle back to them.

An asynchronously invoked function (``ses_notifications``: bounces, complaints, unsubscribe
mails; ``digest_schedule``) that fails three times has its event sent to the stage's
async-failures queue by its on-failure destination (infra/merged.py). Each message there is
Lambda's failure record: ``requestContext.functionArn`` names the function and
``requestPayload`` is the original event. This command invokes that function again with that
event, asynchronously as the first time, and deletes the message once Lambda has accepted
the event; an event that fails again comes back to the queue by the same destination.

    python -m editor replay-failed --dry-run   # what is waiting, per function
    python -m editor replay-failed             # replay it all

The queue is ``ASYNC_FAILURE_QUEUE`` or ``borgerdialog-<STAGE>-async-failures``. Replaying
is safe: the handlers' writes are conditional (a bounce already recorded is not recorded
twice). docs/operations.md#replaying-failed-events.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Replay:
    replayed: Counter[str] = field(default_factory=Counter)  # function -> events replayed
    waiting: Counter[str] = field(default_factory=Counter)  # function -> events seen (dry run)
    unreadable: list[str] = field(default_factory=list)  # message ids that are no failure record


def queue_name(env: dict[str, str] | None = None) -> str:
    env = dict(os.environ if env is None else env)
    return env.get("ASYNC_FAILURE_QUEUE") or f"borgerdialog-{env.get('STAGE', 'local')}-async-failures"


def replay(sqs: Any, lambda_client: Any, queue_url: str, *, dry_run: bool = False) -> Replay:
    """Replay (or, with ``dry_run``, count) every failure record in the queue."""
    result = Replay()
    seen: set[str] = set()
    idle = 0
    # A replay deletes what it handled and hides an unreadable message for the rest of the
    # run; a dry run leaves every message visible at once, so it stops after receiving only
    # messages it has seen (three times: SQS returns a sample of a queue, not all of it).
    while idle < 3:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=0 if dry_run else 300,
                                       WaitTimeSeconds=0).get("Messages", [])
        fresh = [message for message in messages if message["MessageId"] not in seen]
        idle = 0 if fresh else idle + 1
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                record = json.loads(message["Body"])
                function = str(record["requestContext"]["functionArn"])
                payload = record["requestPayload"]
            except (ValueError, KeyError, TypeError):
                # Not Lambda's failure record: leave it for a person to read.
                result.unreadable.append(message["MessageId"])
                continue
            if dry_run:
                result.waiting[function] += 1
                continue
            lambda_client.invoke(FunctionName=function, InvocationType="Event",
                                 Payload=json.dumps(payload).encode("utf-8"))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            result.replayed[function] += 1
    return result


def _run(args: argparse.Namespace, output: Any = None) -> int:
    import boto3

    sqs = boto3.client("sqs")
    name = args.queue or queue_name()
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    result = replay(sqs, boto3.client("lambda"), url, dry_run=args.dry_run)
    counts = result.waiting if args.dry_run else result.replayed
    verb = "waiting" if args.dry_run else "replayed"
    for function, count in sorted(counts.items()):
        print(f"{verb:9}  {count:4}  {function}")
    for message_id in result.unreadable:
        print(f"unreadable message {message_id} left in {name}", file=sys.stderr)
    print(f"{sum(counts.values())} event(s) {verb} from {name}")
    return 1 if result.unreadable else 0


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    command = commands.add_parser(
        "replay-failed", help="invoke functions again with the events in the async-failures queue")
    common(command)
    command.add_argument("--dry-run", action="store_true", help="only count what is waiting")
    command.add_argument("--queue",
                         help="default: ASYNC_FAILURE_QUEUE or borgerdialog-<STAGE>-async-failures")
    command.set_defaults(run=_run, needs_stack=True)
