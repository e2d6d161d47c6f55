"""The operators' figures (chalicelib/stats/, editor/stats.py): events driven through the API,
the SES notification handler and the digest, then ``borgerdialog stats`` checked exactly."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.newsletter import tokens
from chalicelib.newsletter.store import default_store
from chalicelib.stats import counting, metrics
from editor import cli
from tests.newsletter.test_mailto_unsubscribe import deliver, received, unsubscribe_subject
from tests.support.browser import ARTIFACTS
from tests.support.digest import invoke, notify, pump, schedule_event
from tests.support.fixtures import SES_FIXTURES, ArticleFactory
from tests.support.subscriptions import (
    confirm_link,
    mails_to,
    post_form,
    post_json,
    signup_fields,
    subscribe,
    token_of,
)

Outbox = Callable[[], list[Any]]


def sign_up(client: Client, outbox: Outbox, email: str, topics: list[str], *, confirm: bool = True) -> str:
    assert subscribe(client, email, topics=topics).status_code == 202
    if confirm:
        link = confirm_link(mails_to(outbox, email)[-1])
        assert post_json(client, "/subscriptions/confirm", {"token": token_of(link)}).status_code == 200
    return tokens.subscriber_id(email)


def ses_event(fixture: str, address: str, digest_id: str) -> dict[str, Any]:
    """An SES event-publishing notification (they carry the mail's headers) for ``address``,
    about a mail of digest ``digest_id``, sent now."""
    notification: dict[str, Any] = json.loads((SES_FIXTURES / fixture).read_text(encoding="utf-8"))
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for part in ("bounce", "complaint"):
        if part in notification:
            notification[part]["timestamp"] = now
            for recipient in notification[part].get("bouncedRecipients", []) + notification[part].get(
                    "complainedRecipients", []):
                recipient["emailAddress"] = address
    notification["mail"]["destination"] = [address]
    notification["mail"]["headers"] = [{"name": "To", "value": address},
                                       {"name": counting.DIGEST_HEADER, "value": digest_id}]
    return notification


def this_month() -> str:
    now = datetime.now(UTC)
    if now.day == 1 and now.hour == 0 and now.minute < 5:
        pytest.skip("a month is turning over: the events would land on both sides")
    return now.strftime("%Y-%m")


@pytest.mark.dynamodb
def test_stats_counts_every_kind_of_event_exactly(client: Client, outbox: Outbox, add_articles: ArticleFactory,
                                                  aws_calls: Counter[str],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    month = this_month()
    add_articles(1, category="cases", prefix="case", start=datetime.now(UTC) - timedelta(days=1))
    add_articles(1, category="metoder", prefix="metode", start=datetime.now(UTC) - timedelta(days=1))
    ids = {email: sign_up(client, outbox, email, topics) for email, topics in (
        ("a@example.org", []), ("b@example.org", ["cases"]), ("laeser@example.org", []),
        ("e@example.org", ["cases"]), ("f@example.org", []), ("g@example.org", ["metoder", "cases"]),
        ("h@example.org", []), ("i@example.org", ["metoder"]), ("j@example.org", ["udgivelser"]))}
    sign_up(client, outbox, "d@example.org", [], confirm=False)  # never confirmed
    # Unsubscribed three ways: one-click, the page's form, a mail to the List-Unsubscribe address.
    manage = tokens.manage_token(ids["a@example.org"])
    assert post_form(client, f"/subscriptions/unsubscribe?token={manage}",
                     [("List-Unsubscribe", "One-Click")]).status_code == 303
    assert post_form(client, "/subscriptions/unsubscribe",
                     [("token", tokens.manage_token(ids["b@example.org"]))]).status_code == 303
    assert deliver(client, received(unsubscribe_subject(ids["laeser@example.org"])))[0]["outcome"] == "unsubscribed"
    # Erased (a confirmed subscriber: one less), the way rights.erase does it.
    store = default_store()
    store.erase(ids["i@example.org"], store.get(ids["i@example.org"]))
    # The digest: e, f, g, h, j confirmed; j's topic has nothing this week.
    planned = invoke(client, "digest_schedule", schedule_event(client))
    assert planned["enqueued"] == 5
    pump(client)
    digest_id = planned["digest_id"]
    assert len([mail for mail in outbox() if "uge" in mail.subject]) == 4
    # SES reports a bounce and a complaint about it (twice each: SNS delivers at least once).
    bounce = ses_event("bounce-permanent.json", "e@example.org", digest_id)
    complaint = ses_event("complaint.json", "f@example.org", digest_id)
    for _ in range(2):
        notify(client, bounce)
        notify(client, complaint)

    aws_calls.clear()
    ARTIFACTS.mkdir(exist_ok=True)
    chart = ARTIFACTS / "stats-figures.svg"
    assert cli.main(["stats", "--month", month, "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    table = out[out.index(f"Figures for month {month}"):]
    took = re.search(r"\d+\.\d s \(\d+\.\d s\)", table)
    assert took, table
    assert table.splitlines()[:14] == [
        f"Figures for month {month} (UTC)",
        "  signups requested        10",
        "  confirmed                 9  confirmation rate 90.0 %",
        "  unsubscribed              3  (mail 1, one-click 1, link 1)",
        "  bounced                   1",
        "  complained                1",
        "  erased                    1",
        f"Subscribers at the end of {month}: 3",
        "  by topic: every topic 1, cases 1, metoder 1, udgivelser 1",
        "  by frequency: weekly 3",
        "Digests:",
        "  digest    recipients   sent skipped failed bounces complaints  send time (at SES rate)",
        f"  {digest_id}           5      4       1      0       1          1  {took.group(0)}",
        f"Chart of the 12 months up to {month}: {chart}",
    ]
    # Reading the figures is Queries only: never a Scan, never a write.
    assert {call for call in aws_calls if call.startswith("dynamodb.")} == {"dynamodb.Query"}
    assert "<svg" in chart.read_text(encoding="utf-8")

    # The week holds the same events (all of them happened now), and the counters are sharded
    # items whose sum is the figure.
    week = counting.week_of(datetime.now(UTC))
    assert cli.main(["stats", "--week", week, "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    assert "  signups requested        10" in out and f"Subscribers at the end of {week}: 3" in out


def test_a_period_that_is_no_period_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["stats", "--month", "2026-13"]) == 2
    assert "write e.g. 2026-11" in capsys.readouterr().err
    assert cli.main(["stats", "--week", "uge 48"]) == 2
    assert "write e.g. 2026-W48" in capsys.readouterr().err


@pytest.mark.dynamodb  # ADD on counter items inside a transaction, as DynamoDB itself takes it
def test_signup_confirm_and_unsubscribe_make_no_extra_call(client: Client, outbox: Outbox,
                                                            aws_calls: Counter[str]) -> None:
    """The counters ride in the event's own transaction: the designed calls of bench/calls.py."""
    fields = signup_fields(client, "ny@example.org", topics=[])
    aws_calls.clear()
    assert post_json(client, "/subscriptions", fields).status_code == 202
    assert aws_calls == Counter({"dynamodb.UpdateItem": 3, "dynamodb.GetItem": 1, "dynamodb.PutItem": 1,
                                 "dynamodb.TransactWriteItems": 1, "sesv2.SendEmail": 1})
    link = confirm_link(mails_to(outbox, "ny@example.org")[-1])
    aws_calls.clear()
    assert post_json(client, "/subscriptions/confirm", {"token": token_of(link)}).status_code == 200
    # ... and the welcome mail, claimed in that same transaction.
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1, "sesv2.SendEmail": 1})
    aws_calls.clear()
    manage = tokens.manage_token(tokens.subscriber_id("ny@example.org"))
    assert post_form(client, f"/subscriptions/unsubscribe?token={manage}",
                     [("List-Unsubscribe", "One-Click")]).status_code == 303
    assert aws_calls == Counter({"dynamodb.GetItem": 1, "dynamodb.TransactWriteItems": 1})
    # ... and each of those transactions carried the week's and the month's counters.
    from editor.stats import counters

    now = datetime.now(UTC)
    for kind, period in (("week", counting.week_of(now)), ("month", counting.month_of(now))):
        assert counters(kind)[period] == {"requested": 1, "confirmed": 1, "unsubscribed": 1,
                                          "unsubscribed.one-click": 1, "subscribers": 0, "topic.*": 0,
                                          "frequency.weekly": 0}


def test_counters_never_count_a_refused_transaction_and_metrics_are_emf(
        client: Client, outbox: Outbox, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("METRICS_EMF", "1")
    sid = sign_up(client, outbox, "to.gange@example.org", [])
    link = confirm_link(mails_to(outbox, "to.gange@example.org")[0])  # the last is the welcome
    # The same link again: the confirm's transaction is refused, nothing more is counted.
    post_json(client, "/subscriptions/confirm", {"token": token_of(link)})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [sorted(k for k in line if k not in ("_aws", "Stage")) for line in lines] == [
        ["SignupsRequested"], ["SignupsConfirmed"]]
    assert lines[1]["_aws"]["CloudWatchMetrics"][0] == {
        "Namespace": metrics.NAMESPACE, "Dimensions": [["Stage"]],
        "Metrics": [{"Name": "SignupsConfirmed", "Unit": "Count"}]}
    assert lines[1]["Stage"] == "local" and lines[1]["SignupsConfirmed"] == 1
    from editor.stats import counters

    months = counters("month")
    assert months[counting.month_of(datetime.now(UTC))]["confirmed"] == 1
    assert default_store().get(sid) is not None


def test_a_preference_change_moves_the_subscriber_between_topics_and_frequencies(
        client: Client, outbox: Outbox) -> None:
    """Issue 16's preferences: counted as an event by its name, and the gauges follow the
    subscriber from weekly/every topic to monthly/metoder in the change's own transaction."""
    sid = sign_up(client, outbox, "skifter@example.org", [])
    token = tokens.manage_token(sid)
    answer = post_json(client, "/subscriptions/preferences",
                       {"token": token, "topics": ["metoder"], "frequency": "monthly"})
    assert answer.status_code == 200, answer.body
    from editor.stats import counters

    month = counters("month")[counting.month_of(datetime.now(UTC))]
    assert month["preferences-changed"] == 1
    assert (month["subscribers"], month["frequency.weekly"], month["frequency.monthly"]) == (1, 0, 1)
    assert (month["topic.*"], month["topic.metoder"]) == (0, 1)
