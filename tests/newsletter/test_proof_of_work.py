"""The signup's proof of work (docs/captcha.md#proof-of-work): required on the JSON path,
checked before the CAPTCHA answer, spent once by a conditional write (replayed, stale, forged
or foreign: a clear Danish 400), and not asked of the no-JavaScript form, whose challenges
come from the page limited per IP. The protocol itself: tests/captcha/test_work.py."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.captcha import challenges as captcha
from chalicelib.captcha.model import ChallengeItem
from chalicelib.captcha.words import NEW_PICTURE_AFTER
from chalicelib.captcha.work import WorkRejected, solve
from chalicelib.core.config import get_settings
from tests.support.captcha import worked_challenge
from tests.support.subscriptions import (
    ANSWER,
    Outbox,
    page_challenge,
    post_form,
    post_json,
    signup_fields,
)

pytestmark = pytest.mark.dynamodb  # the conditional writes on AWS's own emulator too

EMAIL = "eva@example.org"


def _refusal(response: Any) -> tuple[int, str]:
    problem = json.loads(response.body)
    message = problem["Message"]
    # Danish, and says what to do.
    assert "regneopgave" in message and ("Løs" in message or "nyt billede" in message), message
    return response.status_code, problem["Code"]


def _item(captcha_id: str) -> ChallengeItem:
    return ChallengeItem.get(captcha_id, consistent_read=True)


def test_a_json_signup_without_its_proof_of_work_is_refused_before_anything(
        client: Client, outbox: Outbox, aws_calls: Counter[str]) -> None:
    for without in ({}, {"proof_of_work": ""}):
        fields = {key: value for key, value in signup_fields(client, EMAIL).items() if key != "proof_of_work"}
        aws_calls.clear()
        response = post_json(client, "/subscriptions", {**fields, **without})
        assert _refusal(response) == (400, "ProofOfWorkMissing")
        assert sum(aws_calls.values()) == 0  # refused on the body: the challenge is untouched
        item = _item(fields["captcha_id"])
        assert item.solved_at is None and item.wrong_answers == 0 and item.work_spent_at is None
    assert outbox() == []


def test_a_solution_buys_one_signup_and_its_replay_is_refused(client: Client, outbox: Outbox,
                                                              aws_calls: Counter[str]) -> None:
    fields = signup_fields(client, EMAIL)
    aws_calls.clear()
    assert post_json(client, "/subscriptions", fields).status_code == 202
    # Spent in the CAPTCHA's own conditional write: the signup's calls are as before (the
    # CAPTCHA, the per-IP count, the mailbox's count of the day's mails).
    assert aws_calls["dynamodb.UpdateItem"] == 3 and aws_calls["dynamodb.GetItem"] == 1
    assert _item(fields["captcha_id"]).work_spent_at is not None
    for replay in ({**fields, "email": "en.anden@example.org"}, fields):
        assert _refusal(post_json(client, "/subscriptions", replay)) == (400, "ProofOfWorkUsed")
    assert [mail.recipients for mail in outbox()] == [[EMAIL]]


def test_a_wrong_answer_spends_the_solution_one_try_per_proof(client: Client, outbox: Outbox) -> None:
    """Checked before the answer, and spent by the first try whatever its answer: one proof of
    work is one guess at the picture, so guessing costs work."""
    fields = signup_fields(client, EMAIL)
    wrong = post_json(client, "/subscriptions", {**fields, "captcha_answer": "22222"})
    assert (wrong.status_code, json.loads(wrong.body)["Code"]) == (400, "CaptchaWrong")
    assert "nyt billede" in json.loads(wrong.body)["Message"]  # not "tries left": this proof is spent
    item = _item(fields["captcha_id"])
    assert item.wrong_answers == 1 and item.work_spent_at is not None
    # The right answer with the same proof now: refused for the proof, and nothing said of the answer.
    assert _refusal(post_json(client, "/subscriptions", fields)) == (400, "ProofOfWorkUsed")
    assert _item(fields["captcha_id"]).solved_at is None
    assert outbox() == []


def test_a_forged_or_foreign_solution_is_refused_without_a_call_and_costs_the_challenge_nothing(
        client: Client, aws_calls: Counter[str]) -> None:
    captcha_id, proof = worked_challenge(client)
    other_id, other_proof = worked_challenge(client)
    fields = {**signup_fields(client, EMAIL), "captcha_id": captcha_id}
    decoded = json.loads(base64.b64decode(proof))
    forged = base64.b64encode(json.dumps({**decoded, "number": decoded["number"] + 1}).encode()).decode()
    aws_calls.clear()
    for name, bad in (("another challenge's", other_proof), ("a wrong number", forged), ("not base64", "x" * 40)):
        # A wrong answer too: the work is checked first, so the answer is never looked at.
        response = post_json(client, "/subscriptions", {**fields, "proof_of_work": bad, "captcha_answer": "22222"})
        assert _refusal(response) == (400, "ProofOfWorkInvalid"), name
    assert sum(aws_calls.values()) == 0
    item = _item(captcha_id)
    assert item.wrong_answers == 0 and item.work_spent_at is None and item.solved_at is None
    # The right proof still works: forgeries spent nothing.
    assert post_json(client, "/subscriptions", {**fields, "proof_of_work": proof}).status_code == 202
    assert _item(other_id).work_spent_at is None


def test_a_stale_solution_is_refused(client: Client) -> None:
    """Made (by the app's own key) eleven minutes ago, solved, posted now."""
    settings = get_settings()
    earlier = captcha.CaptchaService(
        key=settings.secret_for("captcha"), bucket=settings.bucket, site_url=settings.site_url,
        answers=lambda _id: ANSWER, clock=lambda: datetime.now(UTC) - timedelta(minutes=11))
    old = earlier.create(work=True)
    assert old.work is not None
    fields = {**signup_fields(client, EMAIL), "captcha_id": old.captcha_id,
              "proof_of_work": solve(old.work.json())}
    assert _refusal(post_json(client, "/subscriptions", fields)) == (400, "ProofOfWorkExpired")


def test_one_solution_posted_twenty_times_at_once_is_spent_once() -> None:
    """The conditional write decides, not a read: twenty wrong answers racing with one proof
    count one try; the others are told the proof is used."""
    service = captcha.default_service()
    challenge = service.create(work=True)
    assert challenge.work is not None
    proof = solve(challenge.work.json())

    def attempt(_: int) -> str:
        try:
            service.consume(challenge.captcha_id, "22222", None, proof)
        except WorkRejected as rejected:
            return rejected.code
        except captcha.CaptchaRejected as rejected:
            return rejected.code
        return "accepted"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = Counter(pool.map(attempt, range(20)))
    assert outcomes == Counter({"wrong": 1, "ProofOfWorkUsed": 19})
    assert _item(challenge.captcha_id).wrong_answers == 1


def test_the_form_without_javascript_needs_no_work_but_only_with_its_own_pages_challenge(
        client: Client, outbox: Outbox) -> None:
    form = [("email", EMAIL), ("captcha_answer", ANSWER), ("topics", "metoder"), ("consent", "on")]
    # A challenge from POST /captcha carries a puzzle: posted as a form without its solution, it
    # is refused (the form page again, a new picture from the page, the words beside the field).
    captcha_id, _proof = worked_challenge(client)
    skipped = post_form(client, "/subscriptions", [("captcha_id", captcha_id), *form])
    assert skipped.status_code == 400 and skipped.headers["Content-Type"].startswith("text/html")
    page = skipped.body.decode()
    assert NEW_PICTURE_AFTER["ProofOfWorkMissing"] in page
    new_id = re.search(r'name="captcha_id" value="([0-9a-f]{32})"', page)
    assert new_id and new_id.group(1) != captcha_id
    assert _item(captcha_id).solved_at is None and _item(new_id.group(1)).work is None
    assert outbox() == []
    # The no-JavaScript page's own challenge: no work asked.
    accepted = post_form(client, "/subscriptions", [("captcha_id", page_challenge(client)), *form])
    assert accepted.status_code == 303
    assert [mail.recipients for mail in outbox()] == [[EMAIL]]
