"""The pages behind mail links, and their form posts, under AWS faults.

A person who clicks a link in a mail (GET /subscriptions/confirm) or presses the button on
one of the link pages (a form post to confirm, unsubscribe, rights-link, export or erase) and meets an AWS
fault gets the Danish 503 page with Retry-After, not JSON; an API client (JSON) gets the
guard's ``{"Code","Message"}``, and so does a mail client's RFC 8058 one-click unsubscribe.
For every AWS call of each of these requests, and each fault of its service: nothing is
half-written, and once the fault clears the same request succeeds and leaves what a run
without the fault leaves (compared with another address that never met the fault).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.core.openapi import DOCUMENT
from chalicelib.limits import limiter
from chalicelib.limits.model import RateLimit
from chalicelib.newsletter import tokens
from chalicelib.newsletter.addresses import mailbox
from chalicelib.newsletter.rights import RIGHTS_MAIL_CLAIM
from chalicelib.newsletter.signup import MAIL_CLAIM
from tests.support.faults import (
    BY_SERVICE,
    INTERNALS,
    Fault,
    FaultInjector,
    assert_clean_unavailable,
    case_id,
    matrix,
)
from tests.support.signup_state import stored_shape
from tests.support.subscriptions import (
    Outbox,
    confirm_link,
    mails_to,
    post_form,
    post_json,
    subscribe,
    token_of,
)

EMAIL = "linkside@example.org"
REFERENCE = "reference@example.org"
LATER_TIMES = {"confirmed_at", "unsubscribed_at", "welcomed_at"}  # per address, like signup's (test_faults_signup)


@dataclass(frozen=True)
class Links:
    """The tokens of one address's links: its confirmation mail, its digests (manage) and a
    rights link mailed to it."""

    confirm: str
    manage: str
    rights: str

    def for_path(self, path: str) -> str:
        if path.endswith("/confirm"):
            return self.confirm
        return self.rights if path.endswith(("/export", "/erase")) else self.manage


@dataclass(frozen=True)
class Route:
    """One way a request reaches a link route: what it sends, how it must be answered."""

    name: str
    path: str
    confirmed: bool  # the subscriber is confirmed first (else left pending)
    send: Callable[[Client, Links], Any]
    calls: tuple[str, ...]  # its AWS calls, in order
    ok: int  # its status without a fault
    page: bool  # a browser's request: the 503 is the HTML page


def _get(path: str) -> Callable[[Client, Links], Any]:
    return lambda client, links: client.http.get(f"{path}?token={links.for_path(path)}")


def _form(path: str, *extra: tuple[str, str]) -> Callable[[Client, Links], Any]:
    def send(client: Client, links: Links) -> Any:
        return post_form(client, path, [("token", links.for_path(path)), *extra])
    return send


def _json(path: str) -> Callable[[Client, Links], Any]:
    def send(client: Client, links: Links) -> Any:
        return post_json(client, path, {"token": links.for_path(path)})
    return send


def _one_click(client: Client, links: Links) -> Any:
    return post_form(client, f"/subscriptions/unsubscribe?token={links.manage}",
                     [("List-Unsubscribe", "One-Click")])


# Confirm: the subscriber, one transaction (which also claims the welcome mail), the welcome.
# A fault at the welcome leaves the confirm standing (test_welcome.py), so it is no case here.
CONFIRM = ("dynamodb.GetItem", "dynamodb.TransactWriteItems", "sesv2.SendEmail")
UNSUBSCRIBE = ("dynamodb.GetItem", "dynamodb.TransactWriteItems")
EXPORT = ("dynamodb.GetItem", "dynamodb.Query")
# The subscriber's address (the mail claim is keyed by its mailbox), both mail claims and the
# mailbox's count of the day's mails, then the ledger's events, the subscriber (with the
# figures' erased count: one transaction) and the events (one batch).
ERASE = ("dynamodb.GetItem", "dynamodb.DeleteItem", "dynamodb.DeleteItem", "dynamodb.DeleteItem",
         "dynamodb.Query", "dynamodb.TransactWriteItems", "dynamodb.BatchWriteItem")
# The subscriber, the link mail's claim, the mail.
RIGHTS_LINK = ("dynamodb.GetItem", "dynamodb.PutItem", "sesv2.SendEmail")
CONFIRM_PATH, UNSUBSCRIBE_PATH = "/subscriptions/confirm", "/subscriptions/unsubscribe"
RIGHTS_LINK_PATH, EXPORT_PATH, ERASE_PATH = ("/subscriptions/rights-link", "/subscriptions/export",
                                             "/subscriptions/erase")

ROUTES = [
    Route("confirm-page", CONFIRM_PATH, False, _get(CONFIRM_PATH), ("dynamodb.GetItem",), 200, True),
    # The pages after an action say what is true now: one read of the subscriber.
    Route("unsubscribe-page", UNSUBSCRIBE_PATH, True, _get(UNSUBSCRIBE_PATH), ("dynamodb.GetItem",), 200, True),
    Route("export-page", EXPORT_PATH, True, _get(EXPORT_PATH), ("dynamodb.GetItem",), 200, True),
    Route("erase-page", ERASE_PATH, True, _get(ERASE_PATH), ("dynamodb.GetItem",), 200, True),
    Route("confirm-form", CONFIRM_PATH, False, _form(CONFIRM_PATH), CONFIRM, 303, True),
    Route("confirm-json", CONFIRM_PATH, False, _json(CONFIRM_PATH), CONFIRM, 200, False),
    Route("unsubscribe-form", UNSUBSCRIBE_PATH, True, _form(UNSUBSCRIBE_PATH), UNSUBSCRIBE, 303, True),
    Route("unsubscribe-one-click", UNSUBSCRIBE_PATH, True, _one_click, UNSUBSCRIBE, 303, False),
    Route("unsubscribe-json", UNSUBSCRIBE_PATH, True, _json(UNSUBSCRIBE_PATH), UNSUBSCRIBE, 200, False),
    Route("rights-link-form", RIGHTS_LINK_PATH, True, _form(RIGHTS_LINK_PATH), RIGHTS_LINK, 303, True),
    Route("rights-link-json", RIGHTS_LINK_PATH, True, _json(RIGHTS_LINK_PATH), RIGHTS_LINK, 202, False),
    Route("export-form", EXPORT_PATH, True, _form(EXPORT_PATH), EXPORT, 200, True),
    Route("export-json", EXPORT_PATH, True, _json(EXPORT_PATH), EXPORT, 200, False),
    Route("erase-form", ERASE_PATH, True, _form(ERASE_PATH), ERASE, 303, True),
    Route("erase-json", ERASE_PATH, True, _json(ERASE_PATH), ERASE, 200, False),
]
# Opened with a digest's manage token, the export and erase pages check its signature only
# (they offer to mail a rights link): no AWS call a fault could hit.
PAGES_WITHOUT_AWS = [EXPORT_PATH, ERASE_PATH]


def _tokens(client: Client, outbox: Outbox, email: str, confirmed: bool) -> Links:
    assert subscribe(client, email).status_code == 202
    [mail] = mails_to(outbox, email)
    confirm = token_of(confirm_link(mail))
    if confirmed:
        assert post_json(client, "/subscriptions/confirm", {"token": confirm}).status_code == 200
    sid = tokens.subscriber_id(email)
    # The rights link as if mailed now (its own mail is tested in test_rights_links.py).
    return Links(confirm, token_of(tokens.one_click_unsubscribe_url(sid)),
                 tokens.rights_token(sid, now=datetime.now(UTC)))


def _stored(email: str) -> dict[str, Any]:
    """What is stored for the address (without per-signup values), and its mailbox's mail claim."""
    shape = stored_shape(email)
    subscribers = [{name: value for name, value in item.items() if name not in LATER_TIMES}
                   for item in shape["subscribers"]]
    held, sid = limiter.default_limiter(), tokens.subscriber_id(email)
    return {**shape, "subscribers": subscribers,
            "mail claim": RateLimit.count(held.subject_key(MAIL_CLAIM, mailbox(email))) == 1,
            "rights mail claim": RateLimit.count(held.subject_key(RIGHTS_MAIL_CLAIM, sid)) == 1}


def _answer(response: Any) -> Any:
    """What the response tells: a JSON body without its time stamp, or the status alone."""
    if response.headers.get("Content-Type", "").startswith("application/json"):
        body = json.loads(response.body)
        body.pop("exported_at", None)
        return response.status_code, _anonymous(body)
    return response.status_code, response.headers.get("Location")


def _anonymous(value: Any) -> Any:
    """An export without the values that differ between two addresses' signups."""
    if isinstance(value, dict):
        return {key: _anonymous(item) for key, item in value.items()
                if key not in {"subscriber_id", "email", "created_at", "updated_at", "confirmed_at",
                               "unsubscribed_at", "subject", "event_key", "at", "confirm_expires_at",
                               "welcomed_at"}}
    if isinstance(value, list):
        return [_anonymous(item) for item in value]
    return value


def _assert_unavailable_page(response: Any) -> None:
    assert response.status_code == 503, response.body
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"  # the URL may hold the token
    page = response.body.decode()
    assert "Prøv igen om lidt" in page and "genindlæs siden" in page
    assert not any(marker in page for marker in INTERNALS)


def _assert_documented(route: Route, response: Any) -> None:
    """The 503 is one the OpenAPI document names for this operation, with its headers."""
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    method = "get" if route.name.endswith("-page") else "post"
    documented = document["paths"][route.path][method]["responses"]["503"]
    name = documented["$ref"].rsplit("/", 1)[1]
    documented = document["components"]["responses"][name]
    assert response.headers["Content-Type"].split(";")[0] in documented["content"]
    assert set(documented["headers"]) <= set(response.headers)


def test_the_fault_matrix_covers_every_call_of_every_link_route(
    client: Client, outbox: Outbox, faults: FaultInjector,
) -> None:
    for number, route in enumerate(ROUTES):
        links = _tokens(client, outbox, f"daekning{number}@example.org", route.confirmed)
        faults.calls.clear()
        assert route.send(client, links).status_code == route.ok, route.name
        assert tuple(faults.calls) == route.calls, route.name
    for path in PAGES_WITHOUT_AWS:
        for token in {links.manage}:
            faults.calls.clear()
            assert client.http.get(f"{path}?token={token}").status_code == 200
            assert faults.calls == []


def _cases() -> list[tuple[Route, str, int, Fault]]:
    """JSON erase, export and rights-link with every fault of each call; the other requests with the first
    fault of each call's service (which fault it is does not change their path). JSON confirm
    and unsubscribe have their full matrix in test_faults_subscriptions.py."""
    cases = []
    for route in ROUTES:
        if route.name in ("confirm-json", "unsubscribe-json"):
            continue
        for call, after, fault in matrix(list(route.calls)):
            if route.name.startswith("confirm") and call == "sesv2.SendEmail":
                continue  # the welcome: test_welcome.py
            if route.name in ("export-json", "erase-json", "rights-link-json") or (
                    fault == BY_SERVICE[call.split(".")[0]][0]):
                cases.append((route, call, after, fault))
    return cases


CASES = _cases()


def _id(case: tuple[Route, str, int, Fault]) -> str:
    route, call, after, fault = case
    return f"{route.name}-{call.split('.')[1]}{after or ''}-{case_id(fault)}"


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_a_fault_is_a_503_then_the_same_request_succeeds_as_if_it_never_happened(
    client: Client, outbox: Outbox, faults: FaultInjector, case: tuple[Route, str, int, Fault],
) -> None:
    route, call, after, fault = case
    # The same request without the fault, for comparison (same account, another address).
    reference = route.send(client, _tokens(client, outbox, REFERENCE, route.confirmed))
    assert reference.status_code == route.ok, reference.body
    links = _tokens(client, outbox, EMAIL, route.confirmed)
    before = _stored(EMAIL)

    faults.inject(call, fault, times=1, after=after)
    response = route.send(client, links)
    assert sum(faults.injected.values()) == 1, "the fault was not reached"
    if route.page:
        _assert_unavailable_page(response)
    else:
        assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    _assert_documented(route, response)
    # Never half-written: unchanged, or (erase) taken apart in its order: the mail claims
    # (the mailbox's key needs the stored address), then the subscriber, then their records,
    # so never someone we could mail without their consent records.
    during = _stored(EMAIL)
    if during != before:
        assert route.name.startswith("erase") and not during["mail claim"], during
        assert during["subscribers"] == [] or during["ledger"] == before["ledger"], during

    retry = route.send(client, links)
    assert _answer(retry) == _answer(reference)
    assert _stored(EMAIL) == _stored(REFERENCE)
    # The confirmation mail, and a rights link's: as many as without the fault. A claim kept
    # after a failed send would have swallowed the retry's mail.
    assert len(mails_to(outbox, EMAIL)) == len(mails_to(outbox, REFERENCE))
