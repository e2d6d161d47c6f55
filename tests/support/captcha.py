"""Solving CAPTCHAs in tests, for the signup tests and ours.

Every challenge the app makes in tests has the answer ``CAPTCHA_TEST_ANSWER`` (set in
conftest.py), exactly as a developer's ``make run`` with that setting would. Its proof of work
is solved as a client does, at the real setting (``captcha.work.solve``: a few hundredths of
a second in Python).
"""

from __future__ import annotations

import json
from typing import Any, overload

from chalice.test import Client

from chalicelib.core.config import get_settings


def fixed_answer() -> str:
    answer = get_settings().captcha_test_answer
    assert answer, "tests/conftest.py sets CAPTCHA_TEST_ANSWER"
    return answer


def new_challenge(client: Client) -> str:
    """``POST /captcha`` as the signup form does; returns the captcha_id (its proof of work
    unsolved: ``worked_challenge`` solves it)."""
    response = client.http.post("/captcha")
    assert response.status_code == 201, response.body
    return str(json.loads(response.body)["captcha_id"])


@overload
def worked_challenge(client: Client) -> tuple[str, str]: ...
@overload
def worked_challenge(client: Client, answer: str) -> tuple[str, str, None, str]: ...
def worked_challenge(client: Client, answer: str | None = None) -> Any:
    """``POST /captcha`` and its proof of work solved, as the site's script does:
    (captcha_id, the solution to post as ``proof_of_work``); given an ``answer``, the arguments
    of ``challenges.consume`` (captcha_id, answer, no subject, the solution)."""
    from chalicelib.captcha.work import solve

    response = client.http.post("/captcha")
    assert response.status_code == 201, response.body
    body = json.loads(response.body)
    captcha_id, proof = str(body["captcha_id"]), solve(body["proof_of_work"])
    return (captcha_id, proof) if answer is None else (captcha_id, answer, None, proof)


def solved_challenge(client: Client) -> tuple[str, str]:
    """(captcha_id, answer) ready to post with a signup."""
    return new_challenge(client), fixed_answer()
