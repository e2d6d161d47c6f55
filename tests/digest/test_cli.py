"""The digest CLI: preview one subscriber's mail, send the week's digest to the local stack."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.digest.weeks import digest_id_for
from editor import cli
from tests.support.digest import add_subscriber
from tests.support.fixtures import ArticleFactory


def test_preview_prints_headers_text_and_html_for_the_subscribers_topics(
        add_articles: ArticleFactory, capsys: pytest.CaptureFixture[str]) -> None:
    add_articles(1, category="cases", prefix="case", start=datetime.now(UTC) - timedelta(days=1))
    add_articles(1, category="metoder", prefix="metode", start=datetime.now(UTC) - timedelta(days=1))
    add_subscriber("laeser@example.org", topics=["metoder"])
    week = digest_id_for(datetime.now(UTC))
    assert cli.main(["digest", "preview", "--week", week, "--email", "Laeser@Example.org"]) == 0
    out = capsys.readouterr().out
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in out
    assert "----- text/plain -----" in out and "----- text/html -----" in out
    assert "/artikler/metode-0000" in out and "/artikler/case-0000" not in out
    assert '<html lang="da">' in out


def test_preview_refuses_a_malformed_week(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["digest", "preview", "--week", "uge 48", "--email", "a@example.org"]) == 2
    assert "2026-W48" in capsys.readouterr().err


def test_send_runs_the_digest_into_the_outbox(add_articles: ArticleFactory, outbox: Callable[[], list[Any]],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    add_articles(2, category="cases", start=datetime.now(UTC) - timedelta(days=1))
    for n in range(3):
        add_subscriber(f"laeser{n}@example.org")
    assert cli.main(["digest", "send"]) == 0
    assert sorted(mail.to for mail in outbox()) == [f"laeser{n}@example.org" for n in range(3)]
    assert cli.main(["digest", "send"]) == 0  # again: the same week's digest, nobody twice
    assert len(outbox()) == 3
    assert cli.main(["digest", "runs"]) == 0
    out = capsys.readouterr().out
    assert "sent 3" in out and "already-enqueued" in out
