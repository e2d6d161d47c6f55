"""Hostile bodies on the five newsletter POSTs: always a 4xx (or the Danish result page for a
form post), never a 5xx, never internals.

Bodies nested a thousand levels deep once raised RecursionError in ``json.loads`` (a 500);
the nesting is now bounded before parsing (``actions.MAX_DEPTH``). The property test below
throws what a hostile client can send at every POST route: deep nesting, sizes around the
4 KB limit, every field with every wrong JSON type, very long strings, non-UTF-8 bytes,
duplicate keys, and form bodies with odd encodings. Derandomised with a fixed budget (about
10 s), so every run of the same tests tries the same examples (hypothesis also draws
constants from the modules loaded so far, so a different selection of tests may vary them).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from chalicelib.newsletter import tokens
from tests.support.report import COUNTS
from tests.support.subscriptions import Outbox, held_items, post_json

ROUTES = ("/subscriptions", "/subscriptions/confirm", "/subscriptions/unsubscribe",
          "/subscriptions/export", "/subscriptions/erase")
FIELDS = ("email", "captcha_id", "captcha_answer", "topics", "consent", "consent_version", "token",
          "List-Unsubscribe")
EXAMPLES = 500
ARN = re.compile(r"arn:aws[a-z-]*:", re.IGNORECASE)
INTERNALS = ("Traceback", "botocore", "pynamodb", 'File "', "RecursionError")
JSON_TYPES = ("application/json", "application/json; charset=utf-8", "application/json; charset=latin-1")
FORM_TYPES = ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=iso-8859-1",
              "multipart/form-data; boundary=xyz", "multipart/form-data")


def test_a_thousand_nested_brackets_are_a_400_on_every_post(client: Client, outbox: Outbox) -> None:
    """The reported case: 2 KB of brackets was a 500 (RecursionError) on all five routes."""
    for path in (*ROUTES, "/subscriptions/rights-link"):
        for depth in (9, 950, 1000, 2000):
            for opener, closer in (("[", "]"), ('{"a":', "}")):
                body = (opener * depth + closer * depth).encode()[:4096]
                response = post_json(client, path, body)
                assert response.status_code == 400, (path, depth, response.body)
                problem = json.loads(response.body)
                assert problem["Code"] == "MalformedJson", (path, depth)
                assert "lag af lister og objekter" in problem["Message"], (path, depth)
    items = held_items()
    assert items["subscribers"] == [] and items["ledger"] == []
    assert outbox() == []


# ---------------------------------------------------------------------------- what to send

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.integers(min_value=200, max_value=6000).map(lambda n: "æ<&\"\\" * (n // 5)),  # very long
)
_json_values = st.recursive(
    _scalars, lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children,
                                                                                max_size=3),
    max_leaves=8)
_keys = st.sampled_from(FIELDS) | st.text(max_size=12)


@st.composite
def _json_object(draw: st.DrawFn) -> bytes:
    """An object with our field names holding any JSON type (NaN and Infinity included)."""
    fields = draw(st.dictionaries(_keys, _json_values, max_size=6))
    return json.dumps(fields, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def _nested(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([2, 8, 9, 100, 950, 1000, 2040]) | st.integers(0, 3000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"topics":[', "]}"),
                                           ('["\\"[",', "]")]))
    inner = draw(st.sampled_from(["", "1", '"x"', "null", '"[[[{"']))
    closed = draw(st.booleans())
    return (opener * depth + inner + (closer * depth if closed else "")).encode()


@st.composite
def _duplicate_keys(draw: st.DrawFn) -> bytes:
    key = json.dumps(draw(_keys))
    first, second = (json.dumps(draw(_json_values)) for _ in range(2))
    nested = draw(st.booleans())
    body = f"{{{key}: {first}, {key}: {second}}}"
    return (f'{{"topics": [{body}]}}' if nested else body).encode()


@st.composite
def _around_the_limit(draw: st.DrawFn) -> bytes:
    size = draw(st.integers(4000, 4200))
    key = draw(st.sampled_from(FIELDS))
    head = json.dumps({key: ""})[:-2].encode()
    return head + b"a" * max(0, size - len(head) - 2) + b'"}'


@st.composite
def _not_utf8(draw: st.DrawFn) -> bytes:
    junk = draw(st.binary(min_size=1, max_size=60))
    return draw(st.sampled_from([b'{"email": "', b"email=", b"", b"["])) + junk + b'"}'


JSON_BODIES = st.one_of(_json_object(), _nested(), _duplicate_keys(), _around_the_limit(), _not_utf8(),
                        st.binary(max_size=80))


@st.composite
def _form(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(_keys, st.text(max_size=40) | st.sampled_from(["on", "One-Click", ""])),
                          max_size=8))
    return urlencode(pairs).encode()


_odd_form = st.text(alphabet="=&;%+aZ9fF\x00é€ ", max_size=120).map(lambda text: text.encode())
_many_fields = st.integers(40, 200).map(lambda n: "&".join(f"f{i}=1" for i in range(n)).encode())
_latin1 = st.sampled_from(["email=blåbær@example.dk&consent=on", "topics=æ&topics=ø"]).map(
    lambda text: text.encode("latin-1"))
_multipart = st.sampled_from([
    b'--xyz\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--xyz--\r\n',
    b"--xyz\r\n\r\n--xyz", b"--abc--", b"",
]) | st.binary(max_size=80)
FORM_BODIES = st.one_of(_form(), _odd_form, _many_fields, _latin1, _multipart, _not_utf8())


def _queries() -> st.SearchStrategy[str]:
    # A real manage token reaches the services (unsubscribe, export, erase of nobody).
    manage = tokens.manage_token(tokens.subscriber_id("ingen@example.org"))
    return st.sampled_from(["", "?token=", "?token=x", f"?token={manage}", "?token=" + "a" * 300,
                            "?token=%C3%A6%3C%26"])


# ---------------------------------------------------------------------------- what must hold


def _check(path: str, content_type: str | None, response: Any) -> None:
    text = response.body.decode("utf-8", "replace")
    assert response.status_code < 500, (path, content_type, text)
    assert not ARN.search(text) and not any(marker in text for marker in INTERNALS), text
    if content_type is None or content_type.startswith("application/json"):
        if response.status_code >= 400:
            problem = json.loads(response.body)
            assert set(problem) == {"Code", "Message"}, problem
            assert isinstance(problem["Code"], str) and problem["Code"]
            assert isinstance(problem["Message"], str) and problem["Message"].strip()
        return
    if response.status_code == 303:
        # A form post is answered with the Danish result page, and the page exists.
        from chalicelib.newsletter.pages import RESULTS

        [status] = parse_qs(urlsplit(response.headers["Location"]).query)["status"]
        assert status in RESULTS, status
    else:
        # Only export answers a form post directly (the JSON download).
        assert path == "/subscriptions/export" and response.status_code == 200, (path, response.status_code)


def test_no_body_on_any_post_is_a_5xx(client: Client, outbox: Outbox) -> None:
    """The property: whatever the body, a 4xx with {"Code", "Message"} for JSON, a result
    page for a form post, and nothing a server error would show."""
    request = st.one_of(
        st.tuples(st.sampled_from(JSON_TYPES) | st.none(), JSON_BODIES),
        st.tuples(st.sampled_from(FORM_TYPES), FORM_BODIES),
    )

    @given(path=st.sampled_from(ROUTES), query=_queries(), sent=request)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def post(path: str, query: str, sent: tuple[str | None, bytes]) -> None:
        content_type, body = sent
        COUNTS["hostile bodies tried"][path] += 1
        headers = {"user-agent": "Fuzzer/1.0"}
        if content_type is not None:
            headers["content-type"] = content_type
        response = client.http.post(path + query, headers=headers, body=body)
        _check(path, content_type, response)

    post()
    # Nothing hostile made it into a record, and no mail went out.
    items = held_items()
    assert items["subscribers"] == [] and items["ledger"] == []
    assert outbox() == []


@pytest.mark.parametrize("content_type", FORM_TYPES)
def test_a_form_post_of_junk_gets_the_result_page(client: Client, content_type: str) -> None:
    response = client.http.post("/subscriptions", headers={"content-type": content_type},
                                body=b"%ff%fe=\x00&&;==")
    _check("/subscriptions", content_type, response)
    assert response.status_code == 303
