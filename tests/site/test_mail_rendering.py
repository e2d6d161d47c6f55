"""Every kind of mail as a reader sees it (issue 16, item 7): the HTML part rendered in Chromium
at 600 px (a desktop client's reading pane) and at 360 px (a phone), screenshots in
test-artifacts/mail-<kind>-<width>.png, and the plain-text part beside them.

Each mail is made by the real path (tests/core/test_mail_bytes.py's cases: signup, confirm,
the digest run, the rights link) and read back from moto server's SES. What must hold: one
layout (the centre's name on top; a footer saying why the mail came, the privacy policy and,
to a subscriber, their unsubscribe and data links), nothing wider than the screen, no serious
axe violation, and the confirmation's button with its fallback link above the signature.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from typing import Any

import pytest
from chalice.test import Client

from tests.core.test_mail_bytes import KINDS
from tests.support.browser import ARTIFACTS, axe_violations, launch, require_browser
from tests.support.fixtures import ArticleFactory
from tests.support.subscriptions import Outbox

WIDTHS = (600, 360)
# Content wider than the viewport: a horizontal scroll bar in the reader's client.
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def _parts(raw: bytes) -> tuple[str, str]:
    message: Any = email.message_from_bytes(raw, policy=policy.default)
    return message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_mail_kind_reads_well_at_600_and_360_pixels(kind: str, chromium: Any, client: Client,
                                                          outbox: Outbox, add_articles: ArticleFactory) -> None:
    sent = KINDS[kind](client, outbox, add_articles)
    text, html = _parts(sent.raw)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"mail-{kind}.txt").write_text(text, encoding="utf-8")
    context = chromium.new_context(java_script_enabled=True)
    page = context.new_page()
    # Images (a digest's lead image) would come from the site; nothing else may load.
    page.route("**/*", lambda route: route.abort())
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.set_content(html, wait_until="domcontentloaded")
        page.screenshot(path=str(ARTIFACTS / f"mail-{kind}-{width}.png"), full_page=True)
        assert page.evaluate(OVERFLOW) <= 0, f"{kind} is wider than {width} px"
        assert axe_violations(page) == [], (kind, width)
    header = page.locator("table table td").first.inner_text().strip()
    assert header == "Center for Borgerdialog", kind
    footer = page.locator("table table tr").last.inner_text()
    assert "Du får denne mail, fordi" in footer and "Sådan behandler vi dine oplysninger" in footer, kind
    to_a_subscriber = kind in ("already", "digest", "welcome")
    assert ("Afmeld nyhedsbrevet" in footer) == to_a_subscriber, kind
    # The text part has the same footer, and no HTML.
    assert "Du får denne mail, fordi" in text and "/privatlivspolitik" in text and "<" not in text, kind
    if kind == "confirm":
        body = page.locator("table table tr").nth(1).inner_text()
        assert body.index("Bekræft tilmeldingen") < body.index("kopiér dette link") < body.index("Venlig hilsen")
        button = page.locator("a", has_text="Bekræft tilmeldingen")
        assert button.get_attribute("href") == page.locator("a", has_text="/subscriptions/confirm?").get_attribute(
            "href")
    if kind == "digest":
        # Each article's title is its link; no row of "Læs mere".
        assert page.locator("h2 a").count() >= 1 and page.locator("a", has_text="Læs mere").count() == 0
    context.close()
