"""Weekly and monthly subscribers over five simulated weeks (issue 16, item 1).

A monthly subscriber (their choice on the preferences page) is on their own partition of
``digest-index``: the first run of each month sends them one digest with everything since
their last one; the weekly runs never read them. Three runs each Monday (06:00, 06:20, 06:40,
as scheduled) and claims per digest id: exactly the mails each frequency asks for, never two
for one week or one month, and the DynamoDB calls per mail stay the designed constant.
See docs/digest.md#frequency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalice.test import Client

from chalicelib.digest.models import Delivery
from chalicelib.digest.planner import DigestPlanner
from chalicelib.digest.weeks import week_start
from chalicelib.newsletter import tokens
from tests.support.digest import add_subscriber, pump
from tests.support.fixtures import ArticleFactory
from tests.support.subscriptions import post_json

Outbox = Callable[[], list[Any]]
WEEKLY, MONTHLY = "ugentlig@example.org", "maanedlig@example.org"
# Mondays 06:00 UTC of five weeks: the first in November, then through to the first in December.
# (06:05, not 06:00: the worker caches a digest per id and creation time for its process, and
# other tests make these weeks' digests at 06:00.)
MONDAYS = [week_start(f"2026-W{week}") + timedelta(hours=6, minutes=5) for week in (46, 47, 48, 49, 50)]


def test_weekly_and_monthly_subscribers_get_what_their_frequency_asks_for(
        client: Client, outbox: Outbox, add_articles: ArticleFactory, aws_calls: Counter[str]) -> None:
    assert [monday.strftime("%d/%m") for monday in MONDAYS] == ["09/11", "16/11", "23/11", "30/11", "07/12"]
    add_subscriber(WEEKLY)
    monthly = add_subscriber(MONTHLY)
    # The monthly reader chose it on the preferences page, with the link from their mails.
    chosen = post_json(client, "/subscriptions/preferences",
                       {"token": tokens.manage_token(monthly), "frequency": "monthly"})
    assert chosen.status_code == 200, chosen.body

    sent_before = 0
    calls_per_week = []
    for number, monday in enumerate(MONDAYS):
        add_articles(1, category="cases", prefix=f"uge{number}", start=monday - timedelta(days=1))
        for minutes in (0, 20, 40):  # the schedule fires three times each Monday
            DigestPlanner(now=_at(monday + timedelta(minutes=minutes))).run()
        aws_calls.clear()
        pump(client)
        mails = len(outbox()) - sent_before
        sent_before = len(outbox())
        calls_per_week.append((mails, aws_calls["dynamodb.TransactWriteItems"], aws_calls["dynamodb.UpdateItem"],
                               aws_calls["dynamodb.GetItem"]))

    got = {address: [mail for mail in outbox() if mail.recipients == [address]] for address in (WEEKLY, MONTHLY)}
    # Weekly: one mail each week, with that week's article only.
    assert [mail.subject for mail in got[WEEKLY]] == [
        f"Nyt fra Center for Borgerdialog, uge {week}: {title}"
        for week, title in zip((46, 47, 48, 49, 50), _titles(got[WEEKLY]), strict=True)]
    for number, mail in enumerate(got[WEEKLY]):
        assert f"/artikler/uge{number}-0000\n" in mail.part("plain")
        assert mail.part("plain").count("Læs mere:") == 1
    # Monthly: the first run of November and the first of December; December's covers
    # everything since November's (four weeks of articles), and says which month it is.
    assert [mail.subject.split(":")[0] for mail in got[MONTHLY]] == [
        "Nyt fra Center for Borgerdialog, november 2026", "Nyt fra Center for Borgerdialog, december 2026"]
    november, december = (mail.part("plain") for mail in got[MONTHLY])
    assert "/artikler/uge0-0000\n" in november and november.count("Læs mere:") == 1
    assert [f"/artikler/uge{n}-0000\n" in december for n in range(5)] == [False, True, True, True, True]
    assert "december 2026" in got[MONTHLY][1].part("html")
    # Never two for one period: one claim per (digest, subscriber), and only their own digests.
    deliveries = {sid: sorted(d.digest_id for d in Delivery.scan() if d.subscriber_id == sid)
                  for sid in (tokens.subscriber_id(WEEKLY), monthly)}
    assert deliveries == {tokens.subscriber_id(WEEKLY): [f"2026-W{w}" for w in (46, 47, 48, 49, 50)],
                          monthly: ["2026-11", "2026-12"]}
    # Per mail: the claim (TransactWriteItems) and the mark (UpdateItem); the digest record is
    # read once per digest by the worker, never per subscriber.
    for mails, claims, marks, reads in calls_per_week:
        assert (claims, marks) == (mails, mails) and reads <= 2, calls_per_week


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _titles(mails: list[Any]) -> list[str]:
    return [mail.subject.split(": ", 1)[1] for mail in mails]
