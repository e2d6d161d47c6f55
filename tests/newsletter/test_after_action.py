"""The pages behind mail links say what is true now (issue 16, item 4): after unsubscribing,
the unsubscribe link no longer offers "Afmeld"; after erasing, the export and erase links
no longer offer a button that would download or delete nothing. Each offers the next
sensible step instead (sign up again). See docs/newsletter.md#confirm-unsubscribe-export-erase."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from chalice.test import Client

from chalicelib.newsletter import tokens
from tests.support.site import parse_html
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    mails_to,
    post_form,
    post_json,
    subscribe,
    token_of,
)

EMAIL = "efter@example.org"


def _page(client: Client, path: str, token: str) -> tuple[str, list[str], list[str]]:
    """The page's heading, its buttons and its link targets (paths only)."""
    response = client.http.get(f"{path}?token={token}")
    assert response.status_code == 200, response.body
    document: Any = parse_html(response.body)
    main = document.find(".//main")
    heading = " ".join("".join(main.find(".//h1").itertext()).split())
    buttons = [" ".join("".join(b.itertext()).split()) for b in main.iter("button")]
    links = [a.get("href").split("?")[0].split("/", 3)[-1] for a in main.iter("a")]
    return heading, buttons, links


def _confirmed(client: Client, outbox: Outbox) -> str:
    assert subscribe(client, EMAIL).status_code == 202
    [mail] = mails_to(outbox, EMAIL)
    assert post_json(client, "/subscriptions/confirm", {"token": token_of(confirm_link(mail))}).status_code == 200
    return tokens.subscriber_id(EMAIL)


def test_the_unsubscribe_page_says_already_unsubscribed_and_offers_signing_up_again(
        client: Client, outbox: Outbox) -> None:
    manage = tokens.manage_token(_confirmed(client, outbox))
    heading, buttons, links = _page(client, "/subscriptions/unsubscribe", manage)
    assert (heading, buttons) == ("Afmeld nyhedsbrevet", ["Afmeld"])
    assert post_form(client, "/subscriptions/unsubscribe", [("token", manage)]).status_code == 303

    heading, buttons, links = _page(client, "/subscriptions/unsubscribe", manage)
    assert heading == "Du er afmeldt" and buttons == []
    assert "nyhedsbrev" in links  # sign up again
    assert {"subscriptions/export", "subscriptions/erase"} <= set(links)  # what we still hold


def test_after_erasing_the_rights_link_pages_say_nothing_is_held(client: Client, outbox: Outbox) -> None:
    sid = _confirmed(client, outbox)
    rights = tokens.rights_token(sid, now=datetime.now(UTC))
    heading, buttons, _ = _page(client, "/subscriptions/export", rights)
    assert (heading, buttons) == ("Hent dine data", ["Se mine data", "Hent mine data som fil"])
    assert post_form(client, "/subscriptions/erase", [("token", rights)]).status_code == 303

    for path in ("/subscriptions/export", "/subscriptions/erase"):
        heading, buttons, links = _page(client, path, rights)
        assert heading == "Vi har ingen oplysninger om dig" and buttons == [], path
        assert "nyhedsbrev" in links, path
    # And the digest's unsubscribe link of an erased subscriber: no button, no data links.
    heading, buttons, links = _page(client, "/subscriptions/unsubscribe", tokens.manage_token(sid))
    assert heading == "Du er afmeldt" and buttons == []
    assert "subscriptions/export" not in links


def test_the_export_reads_as_a_danish_page_and_the_file_is_readable_json(client: Client, outbox: Outbox) -> None:
    """Issue 16, item 5: "Se mine data" shows what we hold, why, since when, and each ledger
    event in words; the file is the same data, indented, with the keys the contract documents."""
    sid = _confirmed(client, outbox)
    manage = tokens.manage_token(sid)
    assert post_json(client, "/subscriptions/preferences", {"token": manage, "topics": ["metoder"],
                                                            "frequency": "monthly"}).status_code == 200
    rights = tokens.rights_token(sid, now=datetime.now(UTC))
    page = post_form(client, "/subscriptions/export", [("token", rights), ("format", "html")])
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    document: Any = parse_html(page.body)
    main = " ".join("".join(document.find(".//main").itertext()).split())
    for words in ("Dine data", EMAIL, "tilmeldt", "Metoder", "én gang om måneden", "artikel 6, stk. 1, litra a",
                  "Du tilmeldte dig nyhedsbrevet (emner: Metoder).",
                  "Du bekræftede tilmeldingen med linket i mailen.",
                  "Du ændrede dine valg: emner Metoder, én gang om måneden.", "IP-adresse: 127.0.0.1",
                  "Samtykketekst, version"):
        assert words in main, words
    assert "requested" not in main and "None" not in main

    download = post_form(client, "/subscriptions/export", [("token", rights)])
    assert "attachment" in download.headers["Content-Disposition"]
    text = download.body.decode()
    assert text.count("\n") > 20  # indented, not one line
    data = json.loads(text)
    from chalicelib.core.openapi import DOCUMENT

    documented = json.loads(DOCUMENT.read_text(encoding="utf-8"))["components"]["schemas"]["SubscriberExport"]
    assert set(data) == set(documented["properties"])
    assert all(documented["properties"][key].get("description") for key in data)
    assert [e["event"] for e in data["consent_events"]] == ["requested", "confirmed", "preferences-changed"]
    refused = post_json(client, "/subscriptions/export", {"token": rights, "format": "pdf"})
    assert refused.status_code == 400 and json.loads(refused.body)["Code"] == "UnknownFormat"


def test_every_page_of_the_api_links_to_the_privacy_policy_and_accessibility_statement(
        client: Client, outbox: Outbox) -> None:
    """Issue 16, item 8: the footer of the pages the API renders (no editors' footer there)."""
    from chalicelib.core.config import get_settings

    site = get_settings().site_url.rstrip("/")
    manage = tokens.manage_token(_confirmed(client, outbox))
    for path in ("/nyhedsbrev", f"/subscriptions/preferences?token={manage}",
                 f"/subscriptions/unsubscribe?token={manage}", "/subscriptions/result?status=confirmed"):
        response = client.http.get(path)
        assert response.status_code == 200, path
        footer: Any = parse_html(response.body).find(".//footer")
        links = {a.get("href"): a.text for a in footer.iter("a")}
        assert links[f"{site}/privatlivspolitik"] == "Privatlivspolitik", (path, links)
        assert links[f"{site}/tilgaengelighedserklaering"] == "Tilgængelighedserklæring", (path, links)
