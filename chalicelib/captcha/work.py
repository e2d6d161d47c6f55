"""Proof of work for visitors with JavaScript: ALTCHA's protocol (v1, SHA-256), our own code.

A challenge made by ``POST /captcha`` carries a puzzle; the site's script solves it in a Web
Worker with WebCrypto while the visitor types, and the signup sends the solution. It costs a
browser about a second on a mid-range phone and a bot a few hundredths of a CPU second per
signup: docs/captcha.md#proof-of-work and docs/decisions/proof-of-work.md say why it is
still worth having and how the work was chosen.

The protocol is ALTCHA's, as altcha-org/altcha-lib-py (``altcha/v1.py``: ``create_challenge``,
``verify_solution``) implements it, so ALTCHA's own widget and solvers could answer it:

- issue: ``salt`` = 12 random bytes in hex, then ``?expires=<epoch seconds>&captcha=<id>&``
  (the trailing ``&`` is ALTCHA's delimiter against splicing parameters onto the number);
  a secret ``number`` drawn from [0, maxnumber]; ``challenge`` = hex SHA-256(salt ‖ number);
  ``signature`` = hex HMAC-SHA-256(key, challenge). The client gets
  ``{algorithm: "SHA-256", challenge, maxnumber, salt, signature}``.
- solve: the client tries n = 0, 1, … until SHA-256(salt ‖ n) equals the challenge (on
  average maxnumber / 2 hashes) and sends base64(JSON ``{algorithm, challenge, number, salt,
  signature}``): ALTCHA's payload; other keys (the widget's ``took``) are ignored.
- verify: the signature in constant time, the salt's expiry, that the salt names the
  challenge the solution is posted with, and the hash of salt ‖ number.

Nothing is stored here and nothing is remembered: a solution stays valid until its salt
expires, so its single use is the challenge item's job (``challenges.consume`` spends it in
the same conditional write that consumes the CAPTCHA). Standard library only: the check adds
no import to any route (tests/core/test_efficiency.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

ALGORITHM = "SHA-256"
SALT_BYTES = 12  # ALTCHA's DEFAULT_SALT_LENGTH
# A payload is about 400 characters; anything much longer is not one (and is not decoded).
MAX_PAYLOAD_CHARS = 1024
PAYLOAD_FIELDS = ("algorithm", "challenge", "number", "salt", "signature")

MISSING = "ProofOfWorkMissing"
INVALID = "ProofOfWorkInvalid"
EXPIRED = "ProofOfWorkExpired"
USED = "ProofOfWorkUsed"
_AGAIN = "Hent et nyt billede (POST /captcha), løs dets regneopgave, og prøv igen."
MESSAGES = {
    MISSING: "Løsningen på regneopgaven mangler. Løs opgaven i 'proof_of_work' fra POST /captcha, og "
             "send løsningen med i feltet 'proof_of_work'.",
    INVALID: f"Løsningen på regneopgaven (proof_of_work) passer ikke til billedet med tegn. {_AGAIN}",
    EXPIRED: f"Regneopgaven (proof_of_work) er udløbet: den gælder i 10 minutter. {_AGAIN}",
    USED: f"Løsningen på regneopgaven (proof_of_work) er allerede brugt. {_AGAIN}",
}


class WorkRejected(Exception):
    """A missing, forged, stale or spent solution. ``code`` is one of the four ``ProofOfWork…``
    codes above; ``message`` says in Danish what to do."""

    def __init__(self, code: str) -> None:
        super().__init__(MESSAGES[code])
        self.code = code
        self.message = MESSAGES[code]


@dataclass(frozen=True)
class Puzzle:
    """What the client gets with its challenge (ALTCHA's challenge JSON)."""

    challenge: str
    maxnumber: int
    salt: str
    signature: str
    algorithm: str = ALGORITHM

    def json(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "challenge": self.challenge, "maxnumber": self.maxnumber,
                "salt": self.salt, "signature": self.signature}


@dataclass(frozen=True)
class Proof:
    """A verified solution: the puzzle's ``challenge``, which the challenge item names."""

    challenge: str


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ProofOfWork:
    """Puzzles signed with ``key``, each hiding a number in [0, ``maxnumber``]."""

    def __init__(self, *, key: bytes, maxnumber: int) -> None:
        self._key = key
        self.maxnumber = maxnumber

    def _signature(self, challenge: str) -> str:
        return hmac.new(self._key, challenge.encode("ascii"), hashlib.sha256).hexdigest()

    def issue(self, captcha_id: str, expires_at: datetime) -> Puzzle:
        """A puzzle for challenge ``captcha_id``, expiring with it."""
        params = urlencode({"expires": int(expires_at.timestamp()), "captcha": captcha_id})
        salt = f"{secrets.token_hex(SALT_BYTES)}?{params}&"
        challenge = _sha256(salt + str(secrets.randbelow(self.maxnumber + 1)))
        return Puzzle(challenge=challenge, maxnumber=self.maxnumber, salt=salt,
                      signature=self._signature(challenge))

    def verify(self, payload: object, captcha_id: str, now: datetime) -> Proof:
        """The proof in ``payload`` (ALTCHA's base64 JSON) for challenge ``captcha_id``, or
        :class:`WorkRejected`. Costs one HMAC and one SHA-256, whatever the payload."""
        if payload is None or payload == "":
            raise WorkRejected(MISSING)
        fields = _decoded(payload)
        if fields is None or fields["algorithm"] != ALGORITHM:
            raise WorkRejected(INVALID)
        challenge, number, salt = fields["challenge"], fields["number"], fields["salt"]
        # The signature first: it is what makes every other field ours.
        if not hmac.compare_digest(self._signature(challenge), fields["signature"]):
            raise WorkRejected(INVALID)
        params = parse_qs(salt.partition("?")[2])
        if params.get("captcha") != [captcha_id]:
            raise WorkRejected(INVALID)  # our puzzle, but issued with another challenge
        expires = params.get("expires", [""])[0]
        if not expires.isdigit() or int(expires) <= now.timestamp():
            raise WorkRejected(EXPIRED)
        if not hmac.compare_digest(_sha256(salt + str(number)), challenge):
            raise WorkRejected(INVALID)
        return Proof(challenge)


def _decoded(payload: object) -> dict[str, Any] | None:
    """ALTCHA's payload as its five fields, typed, or None when it is not one."""
    if not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS:
        return None
    try:
        fields = json.loads(base64.b64decode(payload, validate=True))
    except (binascii.Error, ValueError):  # not base64, not UTF-8, not JSON
        return None
    if not isinstance(fields, dict) or not all(name in fields for name in PAYLOAD_FIELDS):
        return None
    number = fields["number"]
    texts = all(isinstance(fields[name], str) and fields[name].isascii()
                for name in ("algorithm", "challenge", "salt", "signature"))
    if not texts or isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < 2**53:
        return None
    return fields


def solve(puzzle: dict[str, Any]) -> str:
    """The payload for ``puzzle`` (its JSON as ``POST /captcha`` gives it), found as a client
    does: n = 0, 1, … until the hash matches. What a bot with our source would run; the tests
    and benches use it. ValueError when no number up to maxnumber matches."""
    salt, challenge = str(puzzle["salt"]), str(puzzle["challenge"])
    target = bytes.fromhex(challenge)
    prefix = hashlib.sha256(salt.encode("utf-8"))
    for number in range(int(puzzle["maxnumber"]) + 1):
        attempt = prefix.copy()
        attempt.update(str(number).encode("ascii"))
        if attempt.digest() == target:
            return encode(puzzle, number)
    raise ValueError("no number up to maxnumber solves this puzzle")


def encode(puzzle: dict[str, Any], number: int) -> str:
    """ALTCHA's payload for ``number`` as the answer to ``puzzle``."""
    fields = {"algorithm": puzzle["algorithm"], "challenge": puzzle["challenge"], "number": number,
              "salt": puzzle["salt"], "signature": puzzle["signature"]}
    return base64.b64encode(json.dumps(fields).encode("utf-8")).decode("ascii")
