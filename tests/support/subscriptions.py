"""A visitor of the newsletter signup, as the tests drive it: through HTTP only.

Every challenge is a real one from ``POST /captcha``; tests know its answer because the
test stage fixes it (``CAPTCHA_TEST_ANSWER``, tests/conftest.py), and solve its proof of work.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode, urlsplit

from chalice.test import Client

from chalicelib.core.config import get_settings

ANSWER = os.environ["CAPTCHA_TEST_ANSWER"]
# The site's own signup page: the ledger records a form URL only when it is on our origin.
SITE_FORM = f"{get_settings().site_url}/nyhedsbrev"
JSON_HEADERS = {"content-type": "application/json", "user-agent": "Testbrowser/1.0",
                "referer": SITE_FORM}
FORM_HEADERS = {**JSON_HEADERS, "content-type": "application/x-www-form-urlencoded"}
Outbox = Callable[[], list[Any]]


def new_challenge(client: Client) -> str:
    response = client.http.post("/captcha")
    assert response.status_code == 201, response.body
    return str(json.loads(response.body)["captcha_id"])


def page_challenge(client: Client) -> str:
    """The challenge of the no-JavaScript signup page (``GET /nyhedsbrev``), as a browser
    without JavaScript posts it: made without a proof of work, so its form post needs none."""
    page = client.http.get("/nyhedsbrev")
    assert page.status_code == 200, page.body
    found = re.search(r'<input type="hidden" name="captcha_id" value="([0-9a-f]+)">', page.body.decode())
    assert found, "the page has no challenge"
    return found.group(1)


def signup_fields(client: Client, email: str, **changes: Any) -> dict[str, Any]:
    """A JSON signup as the site's script sends it: a new challenge, its answer and its proof
    of work solved (tests/support/captcha.py)."""
    from tests.support.captcha import worked_challenge

    captcha_id, proof = worked_challenge(client)
    fields: dict[str, Any] = {"email": email, "captcha_id": captcha_id, "captcha_answer": ANSWER,
                              "topics": ["metoder"], "consent": True, "proof_of_work": proof}
    fields.update(changes)
    return fields


def post_json(client: Client, path: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.http.post(path, headers={**JSON_HEADERS, **(headers or {})}, body=body)


def post_form(client: Client, path: str, fields: list[tuple[str, str]],
              headers: dict[str, str] | None = None) -> Any:
    return client.http.post(path, headers={**FORM_HEADERS, **(headers or {})},
                            body=urlencode(fields).encode())


def subscribe(client: Client, email: str, **changes: Any) -> Any:
    return post_json(client, "/subscriptions", signup_fields(client, email, **changes))


def path_of(url: str) -> str:
    """The path and query of one of our absolute URLs, for the test client."""
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == get_settings().api_url
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def confirm_link(mail: Any) -> str:
    found = re.search(r"https?://\S+/subscriptions/confirm\?token=\S+", mail.part("plain"))
    assert found, mail.part("plain")
    return found.group(0)


def token_of(url: str) -> str:
    return urlsplit(url).query.removeprefix("token=")


def mails_to(outbox: Outbox, email: str) -> list[Any]:
    return [mail for mail in outbox() if mail.recipients == [email]]


def held_items() -> dict[str, list[dict[str, Any]]]:
    """Every item in the signup's tables (tests may Scan; the app never does)."""
    import boto3

    ddb: Any = boto3.client("dynamodb")
    settings = get_settings()
    found: dict[str, list[dict[str, Any]]] = {}
    for name in ("subscribers", "ledger", "ratelimits", "challenges"):
        table = getattr(settings, f"{name}_table")
        found[name] = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    return found


def _forget_settings() -> None:
    """The settings and what the app built from them once per process: the CAPTCHA service
    (addresses, bucket, key) and the templates' globals (addresses). Kept, they would carry
    one test's settings into whichever tests the process runs next (in any order under
    pytest-xdist)."""
    from chalicelib.captcha import challenges
    from chalicelib.core import templating

    get_settings.cache_clear()
    challenges.default_service.cache_clear()
    templating.environment.cache_clear()


@contextmanager
def settings_from_env(**values: str) -> Iterator[None]:
    """Run with some settings changed the way a deployment changes them: environment."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    _forget_settings()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _forget_settings()


def rights_links(mail: Any) -> tuple[str, str]:
    """The export and erase links of a rights-link mail (its text part), in that order."""
    text = mail.part("plain")
    found = [re.search(rf"https?://\S+/subscriptions/{action}\?token=\S+", text) for action in ("export", "erase")]
    assert found[0] and found[1], text
    return found[0].group(0), found[1].group(0)


def page_form(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The first form of a page, as a browser submits it: its action and hidden fields."""
    form = re.search(r'<form method="post" action="([^"]+)">(.*?)</form>', html, re.DOTALL)
    assert form, html
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    return path_of(form.group(1)), fields
