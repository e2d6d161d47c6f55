"""CAPTCHA creation under AWS faults (POST /captcha, and GET /nyhedsbrev that makes one for
visitors without JavaScript): every call failed in turn gives a clean 503 and leaves no
challenge, and the retry gets one that works. The audio (GET /captcha/{id}/audio) under a
failing read: a clean 503, and the challenge is untouched.

Faults are injected at the app's botocore clients (tests/support/faults.py); every other
call goes to moto server as usual.
"""

from __future__ import annotations

import json

import pytest
from chalice.test import Client

from tests.support.faults import (
    ACCESS_DENIED,
    BY_SERVICE,
    INTERNALS,
    SLOW_DOWN,
    THROUGHPUT,
    Fault,
    FaultInjector,
    assert_clean_unavailable,
    case_id,
    matrix,
)

# POST /captcha: the per-IP count (captcha.limit), the picture to S3, then the challenge item
# (the audio is made on demand).
CAPTCHA_CALLS = ["dynamodb.UpdateItem", "s3.PutObject", "dynamodb.PutItem"]


def test_captcha_calls_are_the_ones_the_fault_matrix_covers(client: Client, faults: FaultInjector) -> None:
    assert client.http.post("/captcha").status_code == 201
    assert faults.calls == CAPTCHA_CALLS


@pytest.mark.parametrize(("call", "after", "fault"), matrix(CAPTCHA_CALLS), ids=case_id)
def test_captcha_creation_under_faults_is_503_and_leaves_no_challenge(
    client: Client, faults: FaultInjector, call: str, after: int, fault: Fault,
) -> None:
    from chalicelib.captcha.model import ChallengeItem
    from tests.support.captcha import fixed_answer

    faults.inject(call, fault, after=after)
    response = client.http.post("/captcha")
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    assert sum(faults.injected.values()) == 1
    faults.clear()
    assert ChallengeItem.count() == 0  # no id that points at missing pictures

    response = client.http.post("/captcha")
    assert response.status_code == 201
    body = json.loads(response.body)
    captcha_id = body["captcha_id"]
    assert [item.captcha_id for item in ChallengeItem.scan()] == [captcha_id]
    from chalicelib.captcha import challenges
    from chalicelib.captcha.work import solve

    challenges.consume(captcha_id, fixed_answer(), proof=solve(body["proof_of_work"]))  # works, once


@pytest.mark.parametrize(("call", "after", "fault"),
                         [(call, after, fault) for call, after, fault in matrix(CAPTCHA_CALLS)
                          if fault in (SLOW_DOWN, THROUGHPUT)], ids=case_id)
def test_the_html_signup_form_under_faults_is_a_503_page_then_works(
    client: Client, faults: FaultInjector, call: str, after: int, fault: Fault,
) -> None:
    """GET /nyhedsbrev makes a challenge for visitors without JavaScript: a fault gives a
    Danish 503 page with Retry-After and no challenge; the reload gets a working form."""
    from chalicelib.captcha.model import ChallengeItem

    faults.inject(call, fault, after=after)
    response = client.http.get("/nyhedsbrev")
    page = response.body.decode()
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Prøv igen" in page and not any(marker in page for marker in INTERNALS)
    assert faults.injected
    faults.clear()
    assert ChallengeItem.count() == 0

    response = client.http.get("/nyhedsbrev")
    assert response.status_code == 200
    (item,) = list(ChallengeItem.scan())
    assert item.captcha_id in response.body.decode()


@pytest.mark.parametrize("fault", BY_SERVICE["dynamodb"], ids=lambda f: f.code)
def test_the_audio_while_dynamodb_fails_is_a_clean_503_then_plays(
        client: Client, faults: FaultInjector, fault: Fault) -> None:
    from tests.support.captcha import fixed_answer, worked_challenge

    captcha_id, proof = worked_challenge(client)
    faults.inject("dynamodb.GetItem", fault)
    response = client.http.get(f"/captcha/{captcha_id}/audio", headers={"accept": "audio/wav"})
    assert_clean_unavailable(response.status_code, response.headers, response.body.decode())
    faults.clear()
    response = client.http.get(f"/captcha/{captcha_id}/audio", headers={"accept": "audio/wav"})
    assert response.status_code == 200 and response.headers["Content-Type"] == "audio/wav"
    from chalicelib.captcha import challenges

    challenges.consume(captcha_id, fixed_answer(), proof=proof)


def test_the_audio_without_permission_is_a_500_without_internals(client: Client, faults: FaultInjector) -> None:
    from tests.support.captcha import new_challenge

    captcha_id = new_challenge(client)
    faults.inject("dynamodb.GetItem", ACCESS_DENIED)
    response = client.http.get(f"/captcha/{captcha_id}/audio", headers={"accept": "audio/wav"})
    assert response.status_code == 500
    assert not any(marker in response.body.decode() for marker in INTERNALS)
