"""Which failures are AWS being busy or briefly away, so the same request will work later.

Routes answer these with 503 + Retry-After (``chalicelib.core.guard``), the CLI exits with
EX_TEMPFAIL, queue workers let the message be redelivered. Everything else is a bug or a
misconfiguration and stays an error. No Chalice here: the CLI and workers use it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# AWS error codes that mean "slow down / try again": DynamoDB, S3, SES v2, SQS, SNS.
BUSY_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "ThrottledException", "RequestLimitExceeded", "RequestThrottled", "TooManyRequestsException",
    "LimitExceededException", "SlowDown", "ServiceUnavailable", "ServiceUnavailableException",
    "InternalServerError", "InternalFailure", "InternalError", "RequestTimeout",
    "RequestTimeoutException", "TransactionInProgressException", "TransactionConflictException",
})
# SES refusing to send right now (quota, paused sending, a rejected message): the visitor
# cannot fix it, the operator can; the request is safe to repeat.
MAIL_CODES = frozenset({
    "MessageRejected", "SendingPausedException", "AccountSendingPausedException",
    "MailFromDomainNotVerifiedException", "AccountSuspendedException",
})
# Reasons inside a cancelled DynamoDB transaction that are about load, not about the data.
BUSY_CANCELLATION_REASONS = frozenset({
    "ThrottlingError", "ProvisionedThroughputExceeded", "TransactionConflict", "RequestLimitExceeded",
})


@dataclass(frozen=True)
class Transient:
    kind: str  # "busy" | "mail" | "unreachable"
    code: str  # the AWS error code or exception name, for logs
    retry_after: int  # seconds a client should wait


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then what it wraps (pynamodb keeps botocore's error in ``.cause``)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        wrapped = getattr(current, "cause", None)
        current = wrapped if isinstance(wrapped, BaseException) else (
            current.__cause__ or current.__context__)


def classify(error: BaseException) -> Transient | None:
    """A ``Transient`` when repeating the same request later should work, else None."""
    from botocore import exceptions as boto_errors  # already loaded wherever AWS was called

    for link in _chain(error):
        if isinstance(link, boto_errors.ClientError):
            response = link.response
            code = str(response.get("Error", {}).get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in MAIL_CODES:
                return Transient("mail", code, 60)
            if code in BUSY_CODES or status >= 500:
                return Transient("busy", code or str(status), 2)
            if code == "TransactionCanceledException":
                reasons = {str(reason.get("Code")) for reason in response.get("CancellationReasons", [])
                           if reason.get("Code") not in (None, "None")}
                if reasons and reasons <= BUSY_CANCELLATION_REASONS:
                    return Transient("busy", f"{code}({','.join(sorted(reasons))})", 2)
            continue  # pynamodb's copy drops details; the original error follows in the chain
        if isinstance(link, (boto_errors.ConnectionError, boto_errors.HTTPClientError)):
            return Transient("unreachable", type(link).__name__, 5)
    return None
