"""Solving CAPTCHAs in tests, for the signup tests and ours.

Every challenge the app makes in tests has the answer ``CAPTCHA_TEST_ANSWER`` (set in
conftest.py), exactly as a developer's ``make run`` with that setting would.
"""

from __future__ import annotations

import json

from chalice.test import Client

from chalicelib.core.config import get_settings


def fixed_answer() -> str:
    answer = get_settings().captcha_test_answer
    assert answer, "tests/conftest.py sets CAPTCHA_TEST_ANSWER"
    return answer


def new_challenge(client: Client) -> str:
    """``POST /captcha`` as the signup form does; returns the captcha_id."""
    response = client.http.post("/captcha")
    assert response.status_code == 201, response.body
    return str(json.loads(response.body)["captcha_id"])


def solved_challenge(client: Client) -> tuple[str, str]:
    """(captcha_id, answer) ready to post with a signup."""
    return new_challenge(client), fixed_answer()
