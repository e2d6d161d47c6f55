"""The proof of work's protocol (chalicelib/captcha/work.py): ALTCHA's, checked against its
formula as altcha-lib-py v1 states it, and every way a solution can be wrong refused with a
clear code, without an exception and without an AWS call. What a signup does with it (required
on JSON, once only, before the answer): tests/newsletter/test_proof_of_work.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import pytest

from chalicelib.captcha.work import EXPIRED, INVALID, MISSING, ProofOfWork, WorkRejected, encode, solve

pytestmark = pytest.mark.no_aws

KEY = b"k" * 32
CAPTCHA_ID = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(minutes=10)


def _work(maxnumber: int = 1000) -> ProofOfWork:
    return ProofOfWork(key=KEY, maxnumber=maxnumber)


def _code(work: ProofOfWork, payload: object, captcha_id: str = CAPTCHA_ID, now: datetime = NOW) -> str:
    try:
        work.verify(payload, captcha_id, now)
    except WorkRejected as rejected:
        assert rejected.message and rejected.message == rejected.args[0]
        return rejected.code
    return "accepted"


def _payload(fields: Any) -> str:
    return base64.b64encode(json.dumps(fields).encode()).decode()


def test_a_puzzle_is_altchas_challenge_naming_its_captcha_and_expiry() -> None:
    puzzle = _work(5000).issue(CAPTCHA_ID, EXPIRES).json()
    assert set(puzzle) == {"algorithm", "challenge", "maxnumber", "salt", "signature"}
    assert (puzzle["algorithm"], puzzle["maxnumber"]) == ("SHA-256", 5000)
    # ALTCHA's salt: random hex, its parameters, and the "&" that ends them.
    nonce, _, params = puzzle["salt"].partition("?")
    assert len(nonce) == 24 and int(nonce, 16) >= 0 and params.endswith("&")
    assert parse_qs(params) == {"expires": [str(int(EXPIRES.timestamp()))], "captcha": [CAPTCHA_ID]}
    # challenge = SHA-256(salt ‖ n) for one n in [0, maxnumber]; signature = HMAC(key, challenge).
    numbers = [n for n in range(5001)
               if hashlib.sha256(f"{puzzle['salt']}{n}".encode()).hexdigest() == puzzle["challenge"]]
    assert len(numbers) == 1
    assert puzzle["signature"] == hmac.new(KEY, puzzle["challenge"].encode(), hashlib.sha256).hexdigest()
    # The payload ALTCHA's widget sends for that number is accepted.
    payload = _payload({**{k: puzzle[k] for k in ("algorithm", "challenge", "salt", "signature")},
                        "number": numbers[0], "took": 1234})
    assert _work().verify(payload, CAPTCHA_ID, NOW).challenge == puzzle["challenge"]


def test_the_secret_number_is_spread_over_the_whole_range() -> None:
    work = _work(50)
    found = {json.loads(base64.b64decode(solve(work.issue(CAPTCHA_ID, EXPIRES).json())))["number"]
             for _ in range(400)}
    assert min(found) <= 2 and max(found) >= 48 and len(found) > 40


def test_stale_forged_and_foreign_solutions_are_refused() -> None:
    work = _work()
    puzzle = work.issue(CAPTCHA_ID, EXPIRES).json()
    right = json.loads(base64.b64decode(solve(puzzle)))
    assert _code(work, _payload(right)) == "accepted"
    assert _code(work, _payload(right), now=EXPIRES) == EXPIRED
    assert _code(work, _payload(right), now=EXPIRES + timedelta(days=1)) == EXPIRED
    assert _code(work, _payload(right), captcha_id="f" * 32) == INVALID  # issued with another challenge
    assert _code(work, None) == MISSING
    assert _code(work, "") == MISSING
    # Another key (another deployment, a rotated secret) signed it.
    assert _code(ProofOfWork(key=b"x" * 32, maxnumber=1000), _payload(right)) == INVALID
    wrong_number = (right["number"] + 1) % 1001
    forgeries = {
        "a wrong number": {**right, "number": wrong_number},
        "a signature of something else": {**right, "signature": "0" * 64},
        "a challenge for a number of our own": {
            **right, "number": 7, "challenge": hashlib.sha256(f"{right['salt']}7".encode()).hexdigest()},
        "another captcha spliced into the salt": {**right, "salt": right["salt"].replace(CAPTCHA_ID, "e" * 32)},
        "a later expiry": {**right, "salt": right["salt"].replace(
            str(int(EXPIRES.timestamp())), str(int(EXPIRES.timestamp()) + 86400))},
        "SHA-1 claimed": {**right, "algorithm": "SHA-1"},
    }
    for name, fields in forgeries.items():
        assert _code(work, _payload(fields)) == INVALID, name


MALFORMED: list[Any] = [
    "not base64!", base64.b64encode(b"not json").decode(), base64.b64encode(b"\xff\xfe").decode(),
    _payload([1, 2]), _payload({"algorithm": "SHA-256"}), 12345, ["a"], {"number": 1}, True,
    "A" * 1025, _payload({"algorithm": "SHA-256", "challenge": "a" * 64, "number": True, "salt": "s",
                          "signature": "b" * 64}),
    _payload({"algorithm": "SHA-256", "challenge": "a" * 64, "number": -1, "salt": "s",
              "signature": "b" * 64}),
    _payload({"algorithm": "SHA-256", "challenge": "a" * 64, "number": 1.5, "salt": "s", "signature": "b" * 64}),
    _payload({"algorithm": "SHA-256", "challenge": "ä" * 64, "number": 1, "salt": "s", "signature": "b" * 64}),
    _payload({"algorithm": "SHA-256", "challenge": "a" * 64, "number": 10**600, "salt": "s",
              "signature": "b" * 64}),
]


def test_malformed_payloads_are_invalid_never_an_exception() -> None:
    for payload in MALFORMED:
        assert _code(_work(), payload) == INVALID, repr(payload)[:80]


def test_solve_and_encode_are_the_clients_side() -> None:
    """The reference solver (tests, benches, a bot with our source) finds the number the
    widget would, and ``encode`` writes ALTCHA's payload."""
    puzzle = _work(300).issue(CAPTCHA_ID, EXPIRES).json()
    fields = json.loads(base64.b64decode(solve(puzzle)))
    assert set(fields) == {"algorithm", "challenge", "number", "salt", "signature"}
    assert encode(puzzle, fields["number"]) == solve(puzzle)
    with pytest.raises(ValueError):
        solve({**puzzle, "challenge": "0" * 64})
