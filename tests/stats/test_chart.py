"""The chart of ``borgerdialog stats``, made from a year of events and opened in Chromium: it
renders, with a Danish title, both axes and a legend; a PNG of it goes to test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from chalicelib.newsletter.store import NO_CONTEXT, SubscriberStore
from editor import cli
from editor.stats import last_months
from editor.stats_chart import BARS, LINE, MONTHS_DA, TITLE, month_label
from tests.support.browser import ARTIFACTS, launch, require_browser


def a_year_of_events(now: datetime) -> None:
    """Each month: more signups than the month before, most confirmed, a few leave."""
    moment = [now]
    store = SubscriberStore(clock=lambda: moment[0])
    for index, month in enumerate(last_months(now.strftime("%Y-%m"))):
        month_start = datetime(int(month[:4]), int(month[5:]), 1, 12, tzinfo=UTC)
        back = 11 - index
        for n in range(3 + index):
            moment[0] = month_start + timedelta(hours=n)
            sid = f"stat-{back}-{n}"
            store.request(sid, email=f"{sid}@example.org", topics=["cases"] if n % 2 else [],
                          secret_hash=f"hash-{sid}", expires=moment[0] + timedelta(days=7),
                          context=NO_CONTEXT, current=None)
            if n % 4 == 3:
                continue  # never confirmed
            current = store.get(sid)
            assert current is not None
            store.confirm(sid, current, proof=None, context=NO_CONTEXT)
            if n % 5 == 4:
                confirmed = store.get(sid)
                assert confirmed is not None
                store.unsubscribe(sid, confirmed, context=NO_CONTEXT, method="one-click")


def test_the_chart_renders_in_chromium_with_title_axes_and_legend_in_danish(
        capsys: pytest.CaptureFixture[str]) -> None:
    require_browser()
    now = datetime.now(UTC)
    a_year_of_events(now)
    ARTIFACTS.mkdir(exist_ok=True)
    chart = ARTIFACTS / "stats.svg"
    month = now.strftime("%Y-%m")
    assert cli.main(["stats", "--month", month, "--chart", str(chart)]) == 0
    assert f"Chart of the 12 months up to {month}: {chart}" in capsys.readouterr().out

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 660})
            page.goto(chart.as_uri())
            shown: Callable[[str], Any] = page.evaluate
            assert shown("() => document.title") == TITLE
            texts: list[str] = shown("() => [...document.querySelectorAll('text')].map(t => t.textContent)")
            assert TITLE in texts
            assert {"Abonnenter", "Hændelser pr. måned", "Måned (UTC)"} <= set(texts)
            assert {LINE[0], *(label for label, _, _ in BARS)} <= set(texts)
            months = last_months(month)
            assert shown("() => [...document.querySelectorAll('text.maaned')].map(t => t.textContent)") == [
                MONTHS_DA[int(m[5:]) - 1] for m in months]
            assert shown("() => [...document.querySelectorAll('text.aar')].map(t => t.textContent)") == sorted(
                {m[:4] for m in months})
            assert shown("() => document.querySelector('circle title').textContent") == (
                f"{month_label(months[0])}: 3 abonnenter")
            # Every label (as drawn, rotated or not) is inside the picture and no two legend entries overlap.
            boxes: list[dict[str, float]] = shown("""() => [...document.querySelectorAll('text')].map(t => {
                const b = t.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; })""")
            outside = [b for b in boxes if not (b["x"] >= 0 and b["x"] + b["w"] <= 960 and b["y"] >= 0
                                                and b["y"] + b["h"] <= 620)]
            assert outside == [], outside
            legends: list[list[dict[str, float]]] = shown("""() => [...document.querySelectorAll('.forklaring')]
                .map(g => [...g.querySelectorAll('text')].map(t => {
                    const b = t.getBoundingClientRect(); return {x: b.x, w: b.width}; }))""")
            assert [len(legend) for legend in legends] == [1, len(BARS)]
            for legend in legends:
                assert all(left["x"] + left["w"] < right["x"]
                           for left, right in pairwise(legend)), legend
            # A point a month; bars for every month's signups and confirmations, and for the ten
            # months with an unsubscribe (a month of 5 or more signups); no bounces this year.
            assert shown("() => document.querySelectorAll('circle title').length") == 12
            assert shown("() => [...document.querySelectorAll('rect.søjle')]"
                         ".filter(r => +r.getAttribute('height') > 0).length") == 12 + 12 + 10
            page.screenshot(path=str(ARTIFACTS / "stats-chart.png"))
        finally:
            browser.close()
