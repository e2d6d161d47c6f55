"""Self-hosted CAPTCHA challenges: make one (picture + Danish audio), consume it once.

- The answer is never stored: it is derived from the challenge id with the captcha key
  (``answer_for``: HMAC(key, "answer" ‖ id) mapped onto the alphabet), so the picture can be
  drawn at creation and the audio read out later, on demand, from the id alone.
- ``create(work=…)``: a new id; ``captcha/<id>.png`` PUT to the site bucket, then one item
  holding only HMAC(captcha key, id ‖ answer). Object first, item last: no id ever points at
  a missing picture. 1 S3 PUT, 1 DynamoDB write. With ``work`` (``POST /captcha``) it also
  carries a proof-of-work puzzle (``captcha.work``), which the item names.
- ``audio(id)``: the WAV of a live challenge, rendered now (``GET /captcha/{id}/audio``):
  1 DynamoDB read, no write anywhere.
- ``consume(id, answer, subject, proof)``: the proof of work is checked first (signature,
  expiry, hash: no call; ``WorkRejected``), then one conditional UpdateItem (right MAC, not
  solved, fewer than 3 wrong answers, not expired; the proof is the item's puzzle and not
  spent, or no proof and no puzzle), so a right answer succeeds exactly once however many
  requests race, and spends the proof in the same write; returns a ``Solved`` receipt. Only
  a refusal reads the item to say why, the proof of work's reasons before the answer's
  (``WorkRejected``, ``CaptchaRejected`` with a Danish message), and counts a wrong answer,
  which spends the proof too: a solution buys one try.
- ``give_back(receipt)``: un-solves the challenge (and un-spends its proof) when the request
  it was for failed through AWS, conditional on the receipt's attempt; reserved for
  ``subject`` afterwards.

``CaptchaUnavailable`` means AWS was busy or unreachable (``core.faults``): try again. Any
other AWS error is a bug and propagates (the route guard answers 500). Why and how, including
the give-back: docs/captcha.md and docs/decisions/captcha-give-back.md.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeGuard

from chalicelib.captcha.work import USED, Proof, ProofOfWork, Puzzle, WorkRejected
from chalicelib.core import aws, faults
from chalicelib.core.clock import Clock, utcnow
from chalicelib.core.conditions import condition_failed
from chalicelib.core.config import CAPTCHA_ALPHABET, CAPTCHA_LENGTH, get_settings

log = logging.getLogger(__name__)

LIFETIME = timedelta(minutes=10)
MAX_WRONG_ANSWERS = 3
ID_BYTES = 16  # 128 bits from `secrets`
# Longer input cannot be a right answer: refused without touching DynamoDB or counting.
MAX_ANSWER_CHARS = 64
KEY_PREFIX = "captcha/"
# One visitor fetches each object a few times within its ten minutes; the CDN must not
# keep one-off objects (``private``) and nothing ever changes under a key (``immutable``).
OBJECT_CACHE_CONTROL = "private, max-age=600, immutable"
# DynamoDB's TTL may delete an item up to days late; the code checks expires_at itself.
TTL_SLACK = timedelta(hours=1)

_ID_RE = re.compile(rf"^[0-9a-f]{{{ID_BYTES * 2}}}$")
_NEW_CHALLENGE = "Hent et nyt billede (knappen 'Nyt billede') og prøv igen."


class CaptchaRejected(Exception):
    """A consume that did not succeed, with a Danish message telling the visitor what to do.

    ``code`` is one of ``unknown``, ``expired``, ``wrong``, ``used``, ``exhausted``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CaptchaUnavailable(Exception):
    """S3 or DynamoDB failed; nothing usable was left behind. The visitor may retry."""


@dataclass(frozen=True)
class Solved:
    """Proof of one successful consume: which challenge, and the random id of this attempt."""

    captcha_id: str
    attempt: str
    subject: str | None = None


@dataclass(frozen=True)
class Challenge:
    captcha_id: str
    image_url: str  # the picture in the site bucket, through the CDN
    audio_url: str  # the API's audio route: read out when the visitor asks for it
    expires_at: datetime
    work: Puzzle | None = None  # the proof-of-work puzzle issued with it (POST /captcha)


def new_id() -> str:
    return secrets.token_hex(ID_BYTES)


def random_answer() -> str:
    return "".join(secrets.choice(CAPTCHA_ALPHABET) for _ in range(CAPTCHA_LENGTH))


# Characters left out of the alphabet because people took one for the other in our
# pictures: typed, each counts as the one the picture can show (N is never drawn, so an N
# typed was an M read as N). A guesser gains nothing: it already knows the alphabet.
LOOK_ALIKES = str.maketrans({"N": "M", "X": "K", "Y": "V", "T": "7", "Z": "2", "Q": "D", "4": "A"})


def normalise(answer: str) -> str:
    """What the visitor meant: full-width and other compatibility forms folded (NFKC),
    spaces dropped (audio listeners type "k 7 m 2 p"), case ignored, look-alikes of the
    alphabet's characters taken as them (``LOOK_ALIKES``)."""
    return "".join(unicodedata.normalize("NFKC", answer).split()).upper().translate(LOOK_ALIKES)


def _possible_answer(normalised: str) -> bool:
    return len(normalised) == CAPTCHA_LENGTH and all(char in CAPTCHA_ALPHABET for char in normalised)


def is_captcha_id(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def image_key(captcha_id: str) -> str:
    return f"{KEY_PREFIX}{captcha_id}.png"


def _rejected(code: str) -> CaptchaRejected:
    messages = {
        "unknown": f"Vi kender ikke det billede med tegn. {_NEW_CHALLENGE}",
        "expired": f"Billedet med tegn er udløbet (det gælder i 10 minutter). {_NEW_CHALLENGE}",
        "used": f"Billedet med tegn er allerede brugt. {_NEW_CHALLENGE}",
        "exhausted": f"Der er skrevet forkerte tegn for mange gange til dette billede. {_NEW_CHALLENGE}",
    }
    return CaptchaRejected(code, messages[code])


def _wrong(left: int) -> CaptchaRejected:
    if left <= 0:
        return CaptchaRejected("wrong", f"Tegnene passer ikke, og der er ikke flere forsøg. {_NEW_CHALLENGE}")
    return CaptchaRejected("wrong", f"Tegnene passer ikke. Prøv igen med samme billede "
                                    f"(du har {left} forsøg tilbage) eller med et nyt billede.")


def _unavailable_or_raise(captcha_id: str, problem: Exception) -> CaptchaUnavailable:
    """CaptchaUnavailable for AWS being busy or away; re-raises anything else."""
    found = faults.classify(problem)
    if found is None:
        raise problem
    log.warning("CAPTCHA %s: AWS %s (%s)", captcha_id, found.code, found.kind)
    return CaptchaUnavailable(found.code)


class CaptchaService:
    """Challenges in one bucket and table, with an injectable answer source and clock
    (tests fix the answer or move the clock; the app uses :func:`default_service`).

    ``answers`` maps a challenge id to its answer and must give the same answer for the
    same id every time (the audio is rendered later from the id); by default the answer
    is derived from the id with the key. ``api_url`` defaults to the stage's, ``work_maxnumber``
    (the proof of work's) to ``POW_MAX_NUMBER``."""

    def __init__(
        self,
        *,
        key: bytes,
        bucket: str,
        site_url: str,
        api_url: str | None = None,
        answers: Callable[[str], str] | None = None,
        clock: Clock = utcnow,
        work_maxnumber: int | None = None,
    ) -> None:
        self._key = key
        self._bucket = bucket
        self._site_url = site_url.rstrip("/")
        self._api_url = (get_settings().api_url if api_url is None else api_url).rstrip("/")
        self._answers = answers
        self._clock = clock
        # Its own key, derived from the captcha key: a puzzle's signature says nothing of it.
        self.work = ProofOfWork(
            key=hmac.new(key, b"proof-of-work", hashlib.sha256).digest(),
            maxnumber=get_settings().pow_max_number if work_maxnumber is None else work_maxnumber)

    def answer_for(self, captcha_id: str) -> str:
        """The answer of challenge ``captcha_id``: HMAC(key, "answer" ‖ id) read as a number
        in base len(alphabet) (bias below 2**-200), unless an answer source was given."""
        if self._answers is not None:
            return normalise(self._answers(captcha_id))
        number = int.from_bytes(
            hmac.new(self._key, f"answer|{captcha_id}".encode(), hashlib.sha256).digest(), "big")
        chars = []
        for _ in range(CAPTCHA_LENGTH):
            number, index = divmod(number, len(CAPTCHA_ALPHABET))
            chars.append(CAPTCHA_ALPHABET[index])
        return "".join(chars)

    def _mac(self, captcha_id: str, normalised_answer: str) -> str:
        message = f"{captcha_id}|{normalised_answer}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _reservation(self, subject: str) -> str:
        """What a given-back challenge stores for ``subject``: a keyed hash, so the table
        never holds whom it was for (erasing a subscriber leaves no trace here)."""
        return hmac.new(self._key, f"reserved|{subject}".encode(), hashlib.sha256).hexdigest()

    def create(self, *, work: bool = False) -> Challenge:
        """A new challenge; with ``work``, a proof-of-work puzzle with it, which its consume
        will require (the no-JavaScript page's challenges are made without)."""
        from botocore.exceptions import BotoCoreError, ClientError
        from pynamodb.exceptions import PynamoDBException

        from chalicelib.captcha.model import ChallengeItem
        from chalicelib.captcha.picture import render_png

        captcha_id = new_id()
        answer = self.answer_for(captcha_id)
        png_key = image_key(captcha_id)
        now = self._clock()
        expires_at = now + LIFETIME
        item = ChallengeItem(
            captcha_id,
            answer_mac=self._mac(captcha_id, answer),
            created_at=now,
            expires_at=expires_at,
            wrong_answers=0,
            expires_ttl=int((expires_at + TTL_SLACK).timestamp()),
        )
        puzzle = self.work.issue(captcha_id, expires_at) if work else None
        if puzzle is not None:
            item.work = puzzle.challenge
        try:
            self._put(png_key, render_png(answer), "image/png")
            # Object first, item last: see the module docstring.
            item.save(condition=ChallengeItem.captcha_id.does_not_exist())
        except (BotoCoreError, ClientError, PynamoDBException) as problem:
            raise _unavailable_or_raise(captcha_id, problem) from problem
        return Challenge(
            captcha_id=captcha_id,
            image_url=f"{self._site_url}/{png_key}",
            audio_url=f"{self._api_url}/captcha/{captcha_id}/audio",
            expires_at=expires_at,
            work=puzzle,
        )

    def audio(self, captcha_id: object) -> bytes:
        """The WAV of a live challenge (not expired, solved or used up), rendered now: one
        consistent GetItem, no write. Raises :class:`CaptchaRejected` otherwise."""
        if not is_captcha_id(captcha_id):
            raise _rejected("unknown")
        from pynamodb.exceptions import DoesNotExist, PynamoDBException

        from chalicelib.captcha.audio import render_wav
        from chalicelib.captcha.model import ChallengeItem

        try:
            # Consistent: the page asks for the audio right after the challenge was made.
            item = ChallengeItem.get(captcha_id, consistent_read=True)
        except DoesNotExist:
            raise _rejected("unknown") from None
        except PynamoDBException as problem:
            raise _unavailable_or_raise(captcha_id, problem) from problem
        if item.expires_at <= self._clock():
            raise _rejected("expired")
        if item.solved_at is not None:
            raise _rejected("used")
        if item.wrong_answers >= MAX_WRONG_ANSWERS:
            raise _rejected("exhausted")
        return render_wav(self.answer_for(captcha_id))

    def _put(self, key: str, body: bytes, content_type: str) -> None:
        # No Metadata: nothing about the answer may travel with the object.
        aws.client("s3").put_object(
            Bucket=self._bucket, Key=key, Body=body,
            ContentType=content_type, CacheControl=OBJECT_CACHE_CONTROL,
        )

    def consume(self, captcha_id: object, answer: object, subject: str | None = None,
                proof: object = None) -> Solved:
        """Accept the right answer exactly once (until given back), else raise
        :class:`CaptchaRejected`. A challenge given back for one ``subject`` takes that
        subject only. ``proof`` is the solution of the challenge's proof-of-work puzzle
        (ALTCHA's payload), or None for a challenge made without one; it is checked before
        the answer (:class:`WorkRejected`) and spent by the first try that brings it."""
        if not is_captcha_id(captcha_id):
            raise _rejected("unknown")
        now = self._clock()
        # Before anything about the answer: without valid work, nothing is said about it.
        work = None if proof is None else self.work.verify(proof, captcha_id, now)
        if not isinstance(answer, str):
            raise CaptchaRejected("wrong", "Skriv tegnene fra billedet som tekst.")
        normalised = normalise(answer[:MAX_ANSWER_CHARS + 1])
        if len(answer) > MAX_ANSWER_CHARS or not _possible_answer(normalised):
            # Cannot be right whatever the challenge: said at once, without a call, and not
            # counted as a try (a typo of four characters should not burn one).
            raise CaptchaRejected("wrong", f"Skriv de {CAPTCHA_LENGTH} tegn fra billedet: "
                                           "store eller små bogstaver og tallene 2 til 9.")
        from pynamodb.exceptions import PynamoDBException, UpdateError
        from pynamodb.expressions.update import Action

        from chalicelib.captcha.model import ChallengeItem

        mac = self._mac(captcha_id, normalised)
        attempt = secrets.token_hex(8)
        item = ChallengeItem(captcha_id)
        # A reservation has served its purpose once its subject solves it.
        actions: list[Action] = [ChallengeItem.solved_at.set(now), ChallengeItem.solved_by.set(attempt),
                                 ChallengeItem.reserved_for.remove()]
        if work is not None:
            actions.append(ChallengeItem.work_spent_at.set(now))
        try:
            item.update(
                actions=actions,
                condition=(
                    (ChallengeItem.answer_mac == mac)
                    & ChallengeItem.solved_at.does_not_exist()
                    & (ChallengeItem.wrong_answers < MAX_WRONG_ANSWERS)
                    & (ChallengeItem.expires_at > now)
                    & _reserved_for(None if subject is None else self._reservation(subject))
                    & _work_condition(work)
                ),
            )
            return Solved(captcha_id, attempt, subject)
        except UpdateError as problem:
            if not condition_failed(problem):
                raise _unavailable_or_raise(captcha_id, problem) from problem
        except PynamoDBException as problem:
            raise _unavailable_or_raise(captcha_id, problem) from problem
        raise self._why_refused(captcha_id, mac, now, subject, work)

    def give_back(self, solved: Solved) -> bool:
        """Un-solve the challenge of ``solved`` (its request failed, not the visitor): one
        conditional UpdateItem. False when it is no longer solved by that attempt (given
        back already, or gone); the caller's request failed either way, so AWS errors
        propagate for the caller to log, never to answer with."""
        from pynamodb.exceptions import UpdateError
        from pynamodb.expressions.update import Action

        from chalicelib.captcha.model import ChallengeItem

        # The proof is un-spent with it: the retry of the same request brings the same one.
        actions: list[Action] = [ChallengeItem.solved_at.remove(), ChallengeItem.solved_by.remove(),
                                 ChallengeItem.work_spent_at.remove()]
        if solved.subject is not None:
            actions.append(ChallengeItem.reserved_for.set(self._reservation(solved.subject)))
        try:
            ChallengeItem(solved.captcha_id).update(
                actions=actions,
                # Also requires the item to exist, so a give-back never makes a new one.
                condition=ChallengeItem.solved_by == solved.attempt,
            )
        except UpdateError as problem:
            if condition_failed(problem):
                return False
            raise
        return True

    def _why_refused(self, captcha_id: str, mac: str, now: datetime, subject: str | None,
                     work: Proof | None) -> CaptchaRejected | WorkRejected:
        """Read the item after a refused consume and name the reason, the proof of work's
        first; a wrong answer is counted (and spends the proof)."""
        from pynamodb.exceptions import DoesNotExist, PynamoDBException, UpdateError

        from chalicelib.captcha.model import ChallengeItem

        try:
            item = ChallengeItem.get(captcha_id, consistent_read=True)
        except DoesNotExist:
            return _rejected("unknown")
        except PynamoDBException as problem:
            raise _unavailable_or_raise(captcha_id, problem) from problem
        if (refused := _work_refused(item, work)) is not None:
            return refused
        reservation = None if subject is None else self._reservation(subject)
        if item.solved_at is not None or item.reserved_for not in (None, reservation):
            return _rejected("used")  # reserved: given back for the retry of another request
        if item.wrong_answers >= MAX_WRONG_ANSWERS:
            return _rejected("exhausted")
        if item.expires_at <= now:
            return _rejected("expired")
        if hmac.compare_digest(item.answer_mac, mac):
            # The state allowed this answer, yet the write was refused: it changed in
            # between (towards solved or exhausted; or solved, then given back by a failed
            # request), so this request lost the race.
            return _rejected("used")
        actions = [ChallengeItem.wrong_answers.add(1)]
        if work is not None:
            actions.append(ChallengeItem.work_spent_at.set(now))
        try:
            item.update(
                actions=actions,
                condition=(ChallengeItem.solved_at.does_not_exist()
                           & (ChallengeItem.wrong_answers < MAX_WRONG_ANSWERS)
                           & _work_condition(work)),
            )
        except UpdateError as problem:
            if condition_failed(problem):
                # Others used up the last tries meanwhile, or spent the same proof.
                return WorkRejected(USED) if work is not None else _rejected("exhausted")
            raise _unavailable_or_raise(captcha_id, problem) from problem
        if work is not None:
            # The try this proof bought is used: another needs a new challenge and new work.
            return CaptchaRejected("wrong", f"Tegnene passer ikke. {_NEW_CHALLENGE}")
        return _wrong(MAX_WRONG_ANSWERS - item.wrong_answers)


def _reserved_for(reservation: str | None) -> Any:
    """Condition: the challenge was never given back, or was given back for ``reservation``."""
    from chalicelib.captcha.model import ChallengeItem

    free = ChallengeItem.reserved_for.does_not_exist()
    return free if reservation is None else free | (ChallengeItem.reserved_for == reservation)


def _work_condition(work: Proof | None) -> Any:
    """Condition: the proof is the one issued with the challenge and is not spent yet; or, with
    no proof, the challenge was made without a puzzle (the no-JavaScript page's)."""
    from chalicelib.captcha.model import ChallengeItem

    if work is None:
        return ChallengeItem.work.does_not_exist()
    return (ChallengeItem.work == work.challenge) & ChallengeItem.work_spent_at.does_not_exist()


def _work_refused(item: Any, work: Proof | None) -> WorkRejected | None:
    """Why a refused consume's proof of work failed, before anything about its answer."""
    from chalicelib.captcha.work import INVALID, MISSING

    if work is None:
        return WorkRejected(MISSING) if item.work is not None else None
    if item.work is None or not hmac.compare_digest(item.work, work.challenge):
        return WorkRejected(INVALID)  # a valid solution, yet not this challenge's puzzle
    return WorkRejected(USED) if item.work_spent_at is not None else None


def _fixed(answer: str) -> Callable[[str], str]:
    return lambda _captcha_id: answer


@lru_cache(maxsize=1)
def default_service() -> CaptchaService:
    """The app's service: the stage's bucket, the derived captcha key, and answers derived
    from the id unless ``CAPTCHA_TEST_ANSWER`` fixes them (local stage and tests only)."""
    settings = get_settings()
    answers = _fixed(settings.captcha_test_answer) if settings.captcha_test_answer else None
    return CaptchaService(
        key=settings.secret_for("captcha"), bucket=settings.bucket,
        site_url=settings.site_url, api_url=settings.api_url, answers=answers,
    )


def create_challenge(*, work: bool) -> Challenge:
    """A new challenge: 1 S3 PUT (the picture), 1 DynamoDB write; with ``work``, a proof-of-work
    puzzle that its consume requires (``POST /captcha``; the no-JavaScript page's have none)."""
    return default_service().create(work=work)


def challenge_audio(captcha_id: str) -> bytes:
    """The WAV of a live challenge, rendered now: 1 DynamoDB read. Raises
    :class:`CaptchaRejected` for an unknown, expired, solved or used-up one."""
    return default_service().audio(captcha_id)


def consume(captcha_id: str, answer: str, subject: str | None = None, proof: object = None) -> Solved:
    """Raises :class:`WorkRejected` or :class:`CaptchaRejected`; a right answer succeeds exactly
    once (until given back, and then for ``subject`` only)."""
    return default_service().consume(captcha_id, answer, subject, proof)


def give_back(solved: Solved) -> bool:
    """Let the same answer be accepted once more: its request failed through no fault of the
    visitor's. False when the challenge is no longer solved by that attempt."""
    return default_service().give_back(solved)


def challenge_json(challenge: Challenge) -> dict[str, Any]:
    found: dict[str, Any] = {
        "captcha_id": challenge.captcha_id,
        "image_url": challenge.image_url,
        "audio_url": challenge.audio_url,
        "expires_at": challenge.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if challenge.work is not None:
        found["proof_of_work"] = challenge.work.json()
    return found
