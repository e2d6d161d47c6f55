"""Editors publish Markdown from content/: idempotent, reported, bad files refused whole."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from chalice.test import Client

from chalicelib.articles.model import Article
from editor import cli
from editor.publishing import publish_paths
from tests.support.fixtures import ROOT

# Runs again against DynamoDB Local (the DynamoDB lane of `make test`).
pytestmark = pytest.mark.dynamodb

SEED = ROOT / "content" / "samarbejde-med-borgere-kan-laeres.md"

GOOD = """---
title: Borgerpaneler i praksis
teaser: Sådan kom tre kommuner i gang.
category: metoder
tags: [paneler]
---
Et **borgerpanel** er en gruppe borgere.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def all_slugs() -> set[str]:
    # A test helper may scan; the app never does.
    return {article.slug for article in Article.scan()}


def test_seed_article_is_published_with_its_structure(client: Client) -> None:
    report = publish_paths([ROOT / "content"])
    assert report.created == ["samarbejde-med-borgere-kan-laeres"] and not report.rejected

    article = json.loads(client.http.get("/articles/samarbejde-med-borgere-kan-laeres").body)
    assert article["title"] == "Samarbejde med borgere kan læres"
    assert article["category"] == "cases"
    html = article["body_html"]
    for heading in ("En menneskelig planstrategi", "Samarbejde frem for høring",
                    "Kompetenceudvikling i borgerdialog", "Nytænkende borgerdialog – hvordan?"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<blockquote>") == 3
    assert html.count("<li>") == 5
    assert "Jana Eger Schrøder" in html and "24 47 78 18" not in html


def test_publishing_twice_writes_nothing_the_second_time(aws_calls: Counter[str]) -> None:
    publish_paths([ROOT / "content"])
    aws_calls.clear()
    report = publish_paths([ROOT / "content"])
    assert report.unchanged == ["samarbejde-med-borgere-kan-laeres"]
    assert report.changed == []
    assert aws_calls["dynamodb.PutItem"] == 0


def test_an_edit_updates_and_keeps_the_first_publish_time(tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", GOOD)
    assert publish_paths([path]).created == ["borgerpaneler-i-praksis"]
    first = Article.get("borgerpaneler-i-praksis")
    write(tmp_path, "a.md", GOOD.replace("en gruppe borgere", "en gruppe tilfældigt valgte borgere"))
    assert publish_paths([path]).updated == ["borgerpaneler-i-praksis"]
    second = Article.get("borgerpaneler-i-praksis")
    assert second.published_at == first.published_at
    assert "tilfældigt valgte" in second.body_html
    assert second.updated_at >= first.updated_at


def test_draft_then_published(client: Client, tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", GOOD.replace("category: metoder", "category: metoder\nstatus: draft"))
    publish_paths([path])
    assert client.http.get("/articles/borgerpaneler-i-praksis").status_code == 404
    assert json.loads(client.http.get("/articles").body)["items"] == []
    write(tmp_path, "a.md", GOOD)
    publish_paths([path])
    assert client.http.get("/articles/borgerpaneler-i-praksis").status_code == 200


BAD_FILES: list[tuple[str, str | bytes, str]] = [
    ("no-front-matter.md", "Bare tekst\n", "must start with front matter"),
    ("unclosed.md", "---\ntitle: x\n", "no closing '---'"),
    ("bad-yaml.md", "---\ntitle: [unclosed\n---\nTekst\n", "not valid YAML"),
    ("list.md", "---\n- a\n- b\n---\nTekst\n", "'key: value'"),
    ("missing.md", "---\ntitle: Uden teaser\ncategory: cases\n---\nTekst\n", "missing front matter field(s) teaser"),
    ("category.md", GOOD.replace("metoder", "nyheder"), "unknown category 'nyheder'"),
    ("typo.md", GOOD.replace("tags:", "tagz:"), "unknown front matter field(s) tagz"),
    ("empty-body.md", GOOD.split("Et **", maxsplit=1)[0], "has no body"),
    ("latin1.md", GOOD.replace("Sådan", "S\u00e5dan").encode("latin-1"), "is not UTF-8"),
    ("status.md", GOOD.replace("tags:", "status: live\ntags:"), "status 'live'"),
    ("date.md", GOOD.replace("tags:", "published_at: sidste tirsdag\ntags:"), "'published_at'"),
    ("slug.md", GOOD.replace("tags:", "slug: Ikke Gyldig\ntags:"), "slug 'Ikke Gyldig'"),
    ("title.md", GOOD.replace("Borgerpaneler i praksis", "x" * 300), "'title' is 300 characters"),
]


@pytest.mark.parametrize(("name", "text", "problem"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_malformed_file_is_named_and_nothing_is_written_for_it(
    tmp_path: Path, name: str, text: str | bytes, problem: str
) -> None:
    bad = write(tmp_path, name, text)
    good = write(tmp_path, "good.md", GOOD.replace("Borgerpaneler i praksis", "En god artikel"))
    report = publish_paths([bad, good])
    assert report.created == ["en-god-artikel"]
    assert len(report.rejected) == 1
    assert str(bad) in report.rejected[0] and problem in report.rejected[0]
    assert all_slugs() == {"en-god-artikel"}


def test_two_files_with_one_slug_publish_the_first_only(tmp_path: Path) -> None:
    first = write(tmp_path, "a.md", GOOD)
    second = write(tmp_path, "b.md", GOOD.replace("Et **", "Anden **"))
    report = publish_paths([tmp_path])
    assert report.created == ["borgerpaneler-i-praksis"]
    assert report.rejected == [f"{second}: slug 'borgerpaneler-i-praksis' is already used by {first}"]


def test_body_html_is_sanitised(tmp_path: Path) -> None:
    evil = GOOD + (
        '\n<script>alert(1)</script>\n\n<img src="https://example.org/x.png" alt="Et billede" onerror="alert(2)">\n\n'
        '[klik](javascript:alert(3)) <a href="https://example.org" onclick="x()">ok</a>\n'
    )
    publish_paths([write(tmp_path, "a.md", evil)])
    html = Article.get("borgerpaneler-i-praksis").body_html
    for needle in ("<script", "onerror", "javascript:", "onclick"):
        assert needle not in html
    assert 'href="https://example.org"' in html and "<strong>borgerpanel</strong>" in html


def test_cli_reports_and_fails_on_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.md", GOOD)
    write(tmp_path, "README.md", "# Not an article\n")  # folders may document themselves
    assert cli.main(["publish", str(tmp_path)]) == 0
    assert "created    borgerpaneler-i-praksis" in capsys.readouterr().out
    assert cli.main(["publish", str(tmp_path)]) == 0
    assert "1 unchanged" in capsys.readouterr().out

    write(tmp_path, "broken.md", "no front matter")
    assert cli.main(["publish", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "broken.md" in captured.err and "1 rejected" in captured.out
    assert cli.main(["publish", str(tmp_path / "missing")]) == 2


def test_concurrent_publishers_write_an_article_once(tmp_path: Path, aws_calls: Counter[str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    same = write(tmp_path, "a.md", GOOD)
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(pool.map(lambda _: publish_paths([same]), range(8)))
    assert sum(len(r.created) for r in reports) == 1
    assert sum(len(r.unchanged) for r in reports) == 7
    assert not any(r.rejected for r in reports)

    # Eight editors with eight different edits of one article: each write is conditional on
    # the version it read, so every edit either lands whole or is refused with a reason.
    edits = []
    for number in range(8):
        folder = tmp_path / f"editor{number}"
        folder.mkdir()
        edits.append(write(folder, "a.md", GOOD.replace("en gruppe borgere", f"version {number}")))
    with ThreadPoolExecutor(max_workers=8) as pool:
        reports = list(pool.map(lambda path: publish_paths([path]), edits))
    landed = [r for r in reports if r.updated]
    refused = [r for r in reports if r.rejected]
    assert len(landed) >= 1 and len(landed) + len(refused) == 8
    assert all("changed by someone else" in r.rejected[0] for r in refused)
    final = Article.get("borgerpaneler-i-praksis")
    assert any(f"version {n}" in final.body_md for n in range(8))
