"""The digest queue on SQS, found by name (one GetQueueUrl per process)."""

from __future__ import annotations

import logging

from botocore.exceptions import ClientError

from chalicelib.core import aws
from chalicelib.core.config import get_settings

log = logging.getLogger(__name__)

SQS_BATCH = 10  # SendMessageBatch's maximum


class Queue:
    """The digest queue, found by name (one GetQueueUrl per process)."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or get_settings().digest_queue
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = str(aws.client("sqs").get_queue_url(QueueName=self.name)["QueueUrl"])
        return self._url

    def send(self, bodies: list[str]) -> None:
        """Enqueue; a batch entry SQS refused is tried once more, then the run fails (the
        next run resumes from the last saved page, and claims stop any double mail)."""
        sqs = aws.client("sqs")
        for start in range(0, len(bodies), SQS_BATCH):
            entries = [{"Id": str(n), "MessageBody": body}
                       for n, body in enumerate(bodies[start:start + SQS_BATCH])]
            for _attempt in range(2):
                failed = sqs.send_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])
                if not failed:
                    break
                ids = {entry["Id"] for entry in failed}
                entries = [entry for entry in entries if entry["Id"] in ids]
            else:
                raise RuntimeError(f"SQS refused {len(entries)} digest message(s): {failed[0]}")

    def delete(self, receipt_handles: list[str]) -> int:
        """Delete handled messages; returns how many SQS did not delete. Not fatal: such a
        message comes back and its claim makes the retry a no-op."""
        sqs = aws.client("sqs")
        handles = list(dict.fromkeys(receipt_handles))  # SQS refuses a batch naming one twice
        missed = 0
        for start in range(0, len(handles), SQS_BATCH):
            entries = [{"Id": str(n), "ReceiptHandle": handle}
                       for n, handle in enumerate(handles[start:start + SQS_BATCH])]
            try:
                failed = sqs.delete_message_batch(QueueUrl=self.url, Entries=entries).get("Failed", [])
            except ClientError as problem:
                log.warning("SQS did not delete %d handled digest message(s): %s", len(entries), problem)
                missed += len(entries)
                continue
            for entry in failed:
                missed += 1
                log.warning("SQS did not delete a handled digest message: %s", entry.get("Code"))
        return missed
