"""Posts from another site's page are refused (400), except the RFC 8058 one-click unsubscribe.

A browser tells where a post comes from: ``Origin`` (``null`` from a page with
``Referrer-Policy: no-referrer``, ours included) and ``Sec-Fetch-Site``. A form post gets the
Danish 400 page, a JSON post ``{"Code", "Message"}``; nothing is written and no mail is sent.
The ledger only ever records one of our own pages as the form URL.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from chalicelib.core.config import get_settings
from chalicelib.newsletter import tokens
from chalicelib.newsletter.models import CONFIRMED, PENDING, UNSUBSCRIBED, Subscriber
from tests.support.subscriptions import (
    ANSWER,
    Outbox,
    confirm_link,
    held_items,
    page_challenge,
    path_of,
    post_form,
    post_json,
    signup_fields,
    subscribe,
    token_of,
)

EVIL = "https://evil.example"
EVIL_FORM = f"{EVIL}/nyhedsbrev"


def _site() -> str:
    return get_settings().site_url


# How another site's page can make a browser post to us.
FOREIGN: list[tuple[str, dict[str, str]]] = [
    ("foreign Origin", {"origin": EVIL, "referer": EVIL_FORM}),
    ("foreign Origin, no Fetch Metadata", {"origin": EVIL}),
    ("Origin null from a cross-site page", {"origin": "null", "sec-fetch-site": "cross-site"}),
    ("no Origin, cross-site", {"sec-fetch-site": "cross-site"}),
    ("our host on another port", {"origin": "http://127.0.0.1:8001"}),
    ("our host over https", {"origin": "https://127.0.0.1:8000"}),
    ("a lookalike host", {"origin": "http://127.0.0.1:8000.evil.example"}),
    ("our host behind user info", {"origin": "http://evil.example@127.0.0.1:8000"}),
]


def _form_fields(client: Client, email: str) -> list[tuple[str, str]]:
    return [("email", email), ("captcha_id", page_challenge(client)), ("captcha_answer", ANSWER),
            ("topics", "metoder"), ("consent", "on")]


def _assert_refusal_page(response: Any, name: str) -> None:
    assert response.status_code == 400, (name, response.status_code, response.headers)
    assert response.headers["Content-Type"].startswith("text/html"), name
    assert response.headers["Cache-Control"] == "no-store", name
    page = response.body.decode()
    assert '<html lang="da">' in page, name
    assert "Formularen kom fra en anden hjemmeside" in page, name
    assert "vi har ikke gjort noget" in page, name


def test_a_signup_from_another_site_is_refused_and_leaves_nothing(client: Client, outbox: Outbox) -> None:
    assert _site() == "http://127.0.0.1:8000"  # the origins above are written against it
    for name, headers in FOREIGN:
        response = post_form(client, "/subscriptions", _form_fields(client, "eva@example.org"), headers)
        _assert_refusal_page(response, name)

        answer = post_json(client, "/subscriptions", signup_fields(client, "eva@example.org"), headers)
        assert answer.status_code == 400, name
        assert answer.headers["Content-Type"].startswith("application/json"), name
        problem = json.loads(answer.body)
        assert problem["Code"] == "CrossSiteRequest", name
        assert "anden hjemmeside" in problem["Message"], name
    items = held_items()
    assert items["subscribers"] == [] and items["ledger"] == []
    # Only the counts of the challenges the posts were made with: no signup was counted.
    assert {item["key"]["S"].split("#")[0] for item in items["ratelimits"]} <= {"captcha-ip", "captcha-page-ip"}
    assert outbox() == []


def test_the_sites_own_posts_are_taken_and_the_ledger_names_only_our_page(
        client: Client, outbox: Outbox) -> None:
    site = _site()
    own: list[tuple[str, dict[str, str], str | None]] = [
        # (why, headers, the form URL the ledger records)
        ("the site's page", {"origin": site, "referer": f"{site}/nyhedsbrev?x=1",
                             "sec-fetch-site": "same-origin"}, f"{site}/nyhedsbrev"),
        # Origin decides where it names one (an API on another host sees cross-site posts).
        ("our Origin, a foreign Referer", {"origin": site, "referer": EVIL_FORM, "sec-fetch-site": "cross-site"},
         site),
        # Our pages send no Referer, so a browser's form post from them says Origin: null.
        ("Origin null from our page", {"origin": "null", "referer": "", "sec-fetch-site": "same-origin"}, None),
        # Servers and older browsers send neither header: the CAPTCHA still guards the signup.
        ("neither header, a foreign Referer", {"referer": EVIL_FORM}, None),
    ]
    for number, (name, headers, form_url) in enumerate(own):
        email = f"egen{number}@example.org"
        response = post_form(client, "/subscriptions", _form_fields(client, email), headers)
        assert response.status_code == 303, (name, response.body)
        assert "status=accepted" in response.headers["Location"], name
        sid = tokens.subscriber_id(email)
        [event] = [item for item in held_items()["ledger"] if item["subject"]["S"] == sid]
        assert event.get("form_url", {}).get("S") == form_url, name
    assert len(outbox()) == len(own)


def _confirmed(client: Client, outbox: Outbox, email: str = "eva@example.org") -> str:
    """A confirmed subscriber; their manage token."""
    assert subscribe(client, email).status_code == 202
    [mail] = [m for m in outbox() if m.recipients == [email]]
    link = confirm_link(mail)
    assert client.http.post(path_of(link)).status_code == 200
    return tokens.manage_token(token_of(link).split(".")[0])


def test_link_page_forms_from_another_site_change_nothing(client: Client, outbox: Outbox) -> None:
    assert subscribe(client, "ventende@example.org").status_code == 202
    [mail] = outbox()
    confirm_token = token_of(confirm_link(mail))
    manage = _confirmed(client, outbox)
    before = held_items()
    posts = [("/subscriptions/confirm", confirm_token)] + [
        (f"/subscriptions/{action}", manage) for action in ("unsubscribe", "rights-link", "export", "erase")]
    for path, token in posts:
        for name, headers in FOREIGN:
            _assert_refusal_page(post_form(client, path, [("token", token)], headers), f"{path}: {name}")
            answer = post_json(client, path, {"token": token}, headers)
            assert (answer.status_code, json.loads(answer.body)["Code"]) == (400, "CrossSiteRequest"), path
    assert held_items() == before
    assert Subscriber.get(tokens.subscriber_id("ventende@example.org")).status == PENDING
    assert Subscriber.get(tokens.subscriber_id("eva@example.org")).status == CONFIRMED


def test_the_one_click_unsubscribe_stays_open_whatever_its_origin(client: Client, outbox: Outbox) -> None:
    """RFC 8058: mail providers' servers post it; whatever Origin they (or a browser) send."""
    headers = {"origin": EVIL, "sec-fetch-site": "cross-site", "content-type": "application/x-www-form-urlencoded"}
    manage = _confirmed(client, outbox, "en@example.org")
    response = client.http.post(f"/subscriptions/unsubscribe?token={manage}", headers=headers,
                                body=b"List-Unsubscribe=One-Click")
    assert response.status_code == 303 and "status=unsubscribed" in response.headers["Location"]
    assert Subscriber.get(tokens.subscriber_id("en@example.org")).status == UNSUBSCRIBED

    manage = _confirmed(client, outbox, "to@example.org")
    multipart = (b"--xyz\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                 b"One-Click\r\n--xyz--\r\n")
    response = client.http.post(f"/subscriptions/unsubscribe?token={manage}", body=multipart,
                                headers={**headers, "content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 303
    assert Subscriber.get(tokens.subscriber_id("to@example.org")).status == UNSUBSCRIBED
    [event] = [item for item in held_items()["ledger"]
               if item["subject"]["S"] == tokens.subscriber_id("to@example.org")
               and item["event"]["S"] == "unsubscribed"]
    assert event["detail"]["M"]["method"]["S"] == "one-click"


# ---------------------------------------------------------------------------- the form's own page

# What a browser sends from our pages: they carry Referrer-Policy: no-referrer.
NO_REFERER = {"origin": "null", "referer": "", "sec-fetch-site": "same-origin"}


def _ledger(email: str) -> dict[str, str | None]:
    """The ledger's form URL per event kind for the address."""
    sid = tokens.subscriber_id(email)
    return {item["event"]["S"]: item.get("form_url", {}).get("S")
            for item in held_items()["ledger"] if item["subject"]["S"] == sid}


def test_the_ledger_records_the_page_the_form_says_it_is_on_never_null(client: Client, outbox: Outbox) -> None:
    """Issue 16, item 6: the form sends its own page's address (``form_page``); our pages send
    no Referer, so before this the ledger held only the site's origin, or nothing."""
    site, api = _site(), get_settings().api_url
    # The script's JSON post from the static page.
    fields = signup_fields(client, "side@example.org", form_page=f"{site}/nyhedsbrev")
    assert post_json(client, "/subscriptions", fields, NO_REFERER).status_code == 202
    # The no-JavaScript page: the address it renders in its hidden field is what it posts.
    page = client.http.get("/nyhedsbrev").body.decode()
    assert f'<input type="hidden" name="form_page" value="{api}/nyhedsbrev">' in page
    form = [*_form_fields(client, "formside@example.org"), ("form_page", f"{api}/nyhedsbrev?spor=1")]
    assert post_form(client, "/subscriptions", form, NO_REFERER).status_code == 303
    assert _ledger("side@example.org") == {"requested": f"{site}/nyhedsbrev"}
    assert _ledger("formside@example.org") == {"requested": f"{api}/nyhedsbrev"}

    # Confirming with the button of the confirm page: that page is the form, never "null".
    [mail] = [m for m in outbox() if m.recipients == ["side@example.org"]]
    token = token_of(confirm_link(mail))
    assert post_form(client, "/subscriptions/confirm", [("token", token)], NO_REFERER).status_code == 303
    assert _ledger("side@example.org") == {"requested": f"{site}/nyhedsbrev",
                                           "confirmed": f"{api}/subscriptions/confirm"}


def test_a_form_page_that_is_not_ours_is_refused_before_anything_is_spent(client: Client, outbox: Outbox) -> None:
    foreign_pages = (EVIL_FORM, "null", "javascript:alert(1)", "http://127.0.0.1:8000.evil.example/x",
                     "//evil.example/nyhedsbrev", 42)
    for number, foreign in enumerate(foreign_pages):
        fields = signup_fields(client, f"fremmed{number}@example.org", form_page=foreign)
        answer = post_json(client, "/subscriptions", fields, NO_REFERER)
        assert answer.status_code == 400, (foreign, answer.body)
        problem = json.loads(answer.body)
        assert problem["Code"] == "InvalidFormPage" and "som formularen står på" in problem["Message"]
        assert held_items()["subscribers"] == []
        # The challenge was not spent: the same fields with our page go through.
        fields["form_page"] = f"{_site()}/nyhedsbrev"
        assert post_json(client, "/subscriptions", fields, NO_REFERER).status_code == 202, foreign
        for item in held_items()["subscribers"]:
            Subscriber(item["subscriber_id"]["S"]).delete()
    assert len(outbox()) == len(foreign_pages)
