"""Structured logs: one JSON object per line in deployed stages, so CloudWatch Logs
Insights can filter on level, logger and any ``extra={...}`` field; plain text locally.

Only the standard library: configuring logs is part of every cold start.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# The Lambda runtime's filter puts the request id on records of the root logger's handler.
_REQUEST_ID = "aws_request_id"


class JsonFormatter(logging.Formatter):
    @staticmethod
    def converter(seconds: float | None = None) -> time.struct_time:
        return time.gmtime(seconds)

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, _REQUEST_ID, None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key != _REQUEST_ID and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(app_log: logging.Logger, level: str, json_lines: bool) -> None:
    """Set the stage's level on the app's logger and ours (``chalicelib.*``, via the root
    logger); in deployed stages, make every handler write JSON lines."""
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    app_log.setLevel(numeric)
    if not json_lines:
        return
    root = logging.getLogger()
    root.setLevel(numeric)
    if not root.handlers:  # outside Lambda, whose runtime gives the root logger a handler
        root.addHandler(logging.StreamHandler())
    formatter = JsonFormatter()
    for handler in [*root.handlers, *app_log.handlers]:
        handler.setFormatter(formatter)
