"""``digest`` commands of the CLI: preview a week's digest for one address, send it now.

    borgerdialog digest preview --week 2026-W48 --email laeser@example.org
    borgerdialog digest send        # schedule run + worker, against the command's stack
    borgerdialog digest runs        # the latest scheduled runs

``preview`` prints the mail whatever ``--quiet`` says: the mail is what was asked for.
``send`` runs the same code as the Lambda functions: the planner puts the subscribers on
the SQS queue, then this process receives from it and hands batches to the worker, as the
event source mapping would. Against the local stack the mails land in moto's SES
(``python -m devtools.outbox``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.core.clock import utcnow

if TYPE_CHECKING:
    from editor.progress import Output

EX_USAGE = 2


def add_commands(commands: Any, common: Callable[[argparse.ArgumentParser], None]) -> None:
    digest = commands.add_parser("digest", help="the weekly digest: preview, send now, runs")
    common(digest)
    actions = digest.add_subparsers(dest="digest_command", required=True, metavar="ACTION")
    preview = actions.add_parser("preview", help="print one subscriber's digest mail (headers, text, HTML)")
    preview.add_argument("--week", help="ISO week, e.g. 2026-W48 (default: this week)")
    preview.add_argument("--email", required=True, help="the subscriber's address")
    preview.add_argument("--topics", help="comma-separated categories, for an address that is not "
                                          "a subscriber (default: every category)")
    preview.set_defaults(run=_preview, needs_stack=True)
    send = actions.add_parser("send", help="run this week's digest now and send it")
    send.set_defaults(run=_send, needs_stack=True)
    runs = actions.add_parser("runs", help="the latest digest runs, newest first")
    runs.add_argument("--limit", type=int, default=10)
    runs.set_defaults(run=_runs, needs_stack=True)
    for action in (preview, send, runs):
        common(action)


def _articles_for(week: str) -> tuple[list[Any], str]:
    """The digest's articles if it exists, else those a run now would pick for that week."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.digest import mail as digest_mail
    from chalicelib.digest.models import DIGEST_PK, MARKER_PK, MARKER_SK, Digest, DigestMarker
    from chalicelib.digest.planner import FIRST_DIGEST_LOOKBACK, DigestPlanner, lead_image
    from chalicelib.digest.weeks import week_start

    try:
        record = Digest.get(DIGEST_PK, week)
        return [digest_mail.from_summary(a) for a in record.articles], \
            f"digest {week} as sent ({record.state})"
    except DoesNotExist:
        pass
    start = week_start(week)
    until = min(utcnow(), start + timedelta(days=7))
    try:
        since = DigestMarker.get(MARKER_PK, MARKER_SK).covered_until
    except DoesNotExist:
        since = start - FIRST_DIGEST_LOOKBACK
    found = DigestPlanner(paused=True).new_articles(since, until)
    articles = [digest_mail.DigestArticle(slug=a.slug, title=a.title, teaser=a.teaser, category=a.category,
                                          published_at=a.published_at, image=lead_image(a.slug))
                for a in found]
    return articles, \
        f"not sent yet: articles published {since:%Y-%m-%d %H:%M} – {until:%Y-%m-%d %H:%M} UTC"


def _preview(args: argparse.Namespace, output: Output) -> int:
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.articles import categories
    from chalicelib.digest import mail as digest_mail
    from chalicelib.digest.weeks import InvalidDigestId, digest_id_for, week_number
    from chalicelib.newsletter import tokens
    from chalicelib.newsletter.models import Subscriber

    week = args.week or digest_id_for(utcnow())
    try:
        number = week_number(week)
    except InvalidDigestId as problem:
        output.error(str(problem))
        return EX_USAGE
    email = args.email.strip().lower()
    sid = tokens.subscriber_id(email)
    try:
        subscriber = Subscriber.get(sid)
        topics: list[str] = [str(topic) for topic in subscriber.topics or []]
        who = f"subscriber {sid} ({subscriber.status})"
    except DoesNotExist:
        topics = [t.strip() for t in (args.topics or "").split(",") if t.strip()]
        unknown = [t for t in topics if not categories.is_category(t)]
        if unknown:
            output.error(f"unknown topic(s): {', '.join(unknown)}")
            return EX_USAGE
        who = "not a subscriber (preview only)"
    articles, source = _articles_for(week)
    print(f"# {week}: {source}; {len(articles)} article(s); {email}: {who}; "
          f"topics: {', '.join(topics) or 'all'}")
    message = digest_mail.compose(week=number, articles=articles, subscriber_id=sid, email=email,
                                  topics=topics)
    if message is None:
        print("# nothing in this subscriber's topics: no mail would be sent")
        return 0
    print(f"Subject: {message.subject}")
    for name, value in message.headers.items():
        print(f"{name}: {value}")
    print("\n----- text/plain -----\n" + message.text)
    print("----- text/html -----\n" + message.html)
    return 0


def _send(args: argparse.Namespace, output: Output) -> int:
    from chalicelib.core import aws
    from chalicelib.digest.planner import DigestPlanner
    from chalicelib.digest.queue import Queue
    from chalicelib.digest.worker import DigestWorker, Record

    queue = Queue()
    result = DigestPlanner(queue=queue).run()
    output.line(f"{result.digest_id}: {result.outcome}, {result.articles} article(s), "
                f"{result.enqueued} subscriber(s) put on the queue")
    worker = DigestWorker()
    sqs = aws.client("sqs")
    sent = skipped = failed = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                       VisibilityTimeout=300).get("Messages", [])
        if not messages:
            break
        records = [Record(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in messages]
        outcome = worker.process(records, lambda: 15 * 60 * 1000)
        queue.delete([record.receipt_handle for record in outcome.done])
        sent, skipped, failed = sent + outcome.sent, skipped + outcome.skipped, failed + len(outcome.retry)
        if result.enqueued:  # this run's fan-out is the total to show; a resumed one's is unknown
            output.step("send", min(sent + skipped, result.enqueued), result.enqueued)
        if outcome.retry:
            # Leave them for the next run or the DLQ, as Lambda would; do not spin on them.
            output.warning(f"{len(outcome.retry)} message(s) not done; they return to the queue")
            break
    output.summary(f"sent {sent}, skipped {skipped} (topics, already sent or no longer subscribed), "
                   f"not done {failed}")
    return 0 if failed == 0 else 1


def _runs(args: argparse.Namespace, output: Output) -> int:
    from chalicelib.digest.planner import runs

    for run in runs(limit=args.limit):
        output.line(f"{run.sk[:19]}  {run.digest_id}  {run.outcome:17} articles={run.articles} "
                    f"enqueued={run.enqueued}")
    return 0
