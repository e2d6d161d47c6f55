"""Deployed stages log one JSON object per line; local stays plain text."""

from __future__ import annotations

import io
import json
import logging

import pytest

from chalicelib.core import config, logs

pytestmark = pytest.mark.no_aws


def _line(record_logger: logging.Logger, emit: str = "info") -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    record_logger.addHandler(handler)
    try:
        if emit == "error":
            try:
                raise ValueError("forkert")
            except ValueError:
                record_logger.exception("Digest %s fejlede", "2026-W48")
        else:
            record_logger.info("Sendt %s af %d", "nyhedsbrev", 3, extra={"digest_id": "2026-W48"})
    finally:
        record_logger.removeHandler(handler)
    parsed: dict[str, object] = json.loads(stream.getvalue())
    return parsed


def test_a_record_is_one_json_object_with_arguments_and_extras() -> None:
    log = logging.getLogger("chalicelib.test_logs")
    log.setLevel(logging.INFO)
    entry = _line(log)
    assert entry["message"] == "Sendt nyhedsbrev af 3"
    assert entry["level"] == "INFO" and entry["logger"] == "chalicelib.test_logs"
    assert entry["digest_id"] == "2026-W48"
    assert str(entry["time"]).endswith("Z")


def test_an_exception_travels_inside_the_line() -> None:
    entry = _line(logging.getLogger("chalicelib.test_logs"), emit="error")
    assert entry["level"] == "ERROR" and "ValueError: forkert" in str(entry["exception"])


def test_configure_sets_the_stage_level_and_json_only_when_asked() -> None:
    app_log = logging.getLogger("borgerdialog-test")
    handler = logging.StreamHandler(io.StringIO())
    app_log.addHandler(handler)
    root = logging.getLogger()
    root_level, root_formatters = root.level, [h.formatter for h in root.handlers]
    try:
        logs.configure(app_log, "warning", json_lines=False)
        assert app_log.level == logging.WARNING and not isinstance(handler.formatter, logs.JsonFormatter)
        logs.configure(app_log, "DEBUG", json_lines=True)
        assert app_log.level == logging.DEBUG and root.level == logging.DEBUG
        assert isinstance(handler.formatter, logs.JsonFormatter)
    finally:
        root.setLevel(root_level)
        for h, formatter in zip(root.handlers, root_formatters, strict=False):
            h.setFormatter(formatter)
        app_log.removeHandler(handler)


def test_deployed_stages_default_to_json_and_the_format_is_checked() -> None:
    assert config.load({"STAGE": "prod", "APP_SECRET_PARAMETER": "/p"}).log_format == "json"
    assert config.load({"STAGE": "local"}).log_format == "text"
    with pytest.raises(config.ConfigError, match="LOG_FORMAT"):
        config.load({"STAGE": "local", "LOG_FORMAT": "xml"})
