"""The digest queue's message format: one SQS message carries a batch of subscribers.

Each entry holds everything a worker needs to mail one subscriber, so the worker reads
nothing per subscriber (its claim re-checks that they are still confirmed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.digest.weeks import period_label

# Subscribers per SQS message. Batches cut SQS requests tenfold; a worker's claims make a
# retried message cheap (its done subscribers are skipped), so failures stay per subscriber.
SUBSCRIBERS_PER_MESSAGE = 10


@dataclass(frozen=True)
class QueuedSubscriber:
    """Everything a worker needs to mail one subscriber, so it reads nothing per subscriber
    (the claim re-checks that they are still confirmed). Messages carry a batch of these."""

    digest_id: str
    # The digest record's created_at: workers cache a digest's articles under (id, version),
    # so a digest made again (after an operator removed it, or a reset test stack) is reread.
    version: str
    subscriber_id: str
    email: str
    topics: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps({"digest_id": self.digest_id, "version": self.version,
                           "subscriber_id": self.subscriber_id, "email": self.email,
                           "topics": list(self.topics)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, body: str) -> QueuedSubscriber:
        """Raises ``ValueError`` for a body that is not one of ours."""
        try:
            data = json.loads(body)
            queued = cls(digest_id=str(data["digest_id"]), version=str(data["version"]),
                         subscriber_id=str(data["subscriber_id"]),
                         email=str(data["email"]), topics=tuple(str(t) for t in data["topics"]))
        except (ValueError, KeyError, TypeError) as problem:
            raise ValueError(f"not a digest message: {problem}") from None
        period_label(queued.digest_id)  # a week or a month, else ValueError (InvalidDigestId)
        return queued


def encode_batch(batch: Sequence[QueuedSubscriber]) -> str:
    """One SQS message for subscribers of one digest."""
    first = batch[0]
    return json.dumps({"digest_id": first.digest_id, "version": first.version, "subscribers": [
        {"subscriber_id": q.subscriber_id, "email": q.email, "topics": list(q.topics)} for q in batch
    ]}, ensure_ascii=False)


def decode_batch(body: str) -> list[QueuedSubscriber]:
    """The subscribers in a message; a single-subscriber message is read too. Raises
    ``ValueError`` for a body that is not one of ours."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and "subscribers" not in data:
            return [QueuedSubscriber.from_json(body)]
        found = [QueuedSubscriber.from_json(json.dumps(
            {"digest_id": data["digest_id"], "version": data["version"], **entry}))
            for entry in data["subscribers"]]
    except (KeyError, TypeError) as problem:
        raise ValueError(f"not a digest message: {problem}") from None
    if not found:
        raise ValueError("not a digest message: no subscribers")
    return found
