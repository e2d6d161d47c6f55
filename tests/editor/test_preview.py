"""Preview a draft before it is public (editor/preview.py): served locally with the published
look, or put under a private, expiring prefix of the stack's site; nothing published."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.articles.model import Article
from editor import cli
from tests.support.fixtures import ROOT
from tests.support.images import photo
from tests.support.make_run import get, links_of, terminal_environment
from tests.support.site import bucket_objects, parse_html

DRAFT = """---
title: Et udkast om borgerpaneler
teaser: Endnu ikke offentliggjort.
category: metoder
status: draft
image: billeder/panel.jpg
image_alt: Et borgerpanel samlet om et bord
---
Første version af teksten.

![Borgere, der stemmer med farvede kort](billeder/afstemning.jpg)
"""


@pytest.fixture
def draft(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    shutil.copytree(ROOT / "content" / "sider", content / "sider")
    photo(content / "billeder" / "panel.jpg", (1800, 1200))
    photo(content / "billeder" / "afstemning.jpg", (1200, 900))
    path = content / "udkast.md"
    path.write_text(DRAFT, encoding="utf-8")
    return path


@pytest.mark.no_aws
def test_a_draft_is_served_locally_as_it_will_look_and_follows_the_file(draft: Path) -> None:
    """No stack at all: the preview needs none, and so cannot publish anything."""
    process = subprocess.Popen([sys.executable, "-m", "editor", "preview", str(draft)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=terminal_environment())
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        found = re.fullmatch(rf"Preview of {re.escape(str(draft))}: (http://127\.0\.0\.1:\d+)"
                             r"/artikler/et-udkast-om-borgerpaneler\n", first)
        assert found, first + (process.stderr.read() if process.stderr and process.poll() is not None else "")
        base = found.group(1)
        status, headers, body = get(f"{base}/artikler/et-udkast-om-borgerpaneler")
        assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
        assert "default-src 'self'" in headers["Content-Security-Policy"]  # the site's headers
        assert headers["Cache-Control"] == "private, no-store"
        document = parse_html(body)
        assert document.find(".//main//h1").text == "Et udkast om borgerpaneler"
        assert document.find("head/meta[@name='robots']").get("content") == "noindex, nofollow"
        assert document.find(".//figure[@class='hero']/picture/img").get("alt") == "Et borgerpanel samlet om et bord"
        assert [a.text for a in document.find(".//footer//nav").iter("a")] == [
            "Om os og kontakt", "Privatlivspolitik", "Tilgængelighedserklæring"]
        wanted = [url for url in links_of(body) if url.startswith(f"{base}/assets/") or "/billeder/" in url]
        assert any(url.endswith(".css") for url in wanted) and any(url.endswith(".webp") for url in wanted)
        for url in wanted:
            status, headers, _ = get(url)
            assert status == 200 and headers["Content-Type"].split(";")[0] in (
                "text/css", "text/javascript", "image/svg+xml", "image/webp", "image/jpeg"), url

        draft.write_text(DRAFT.replace("Første version", "Anden version"), encoding="utf-8")
        assert "Anden version af teksten." in get(f"{base}/artikler/et-udkast-om-borgerpaneler")[2].decode()
        assert get(f"{base}/")[0] == 200  # / leads to the page
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0  # a busy machine may still be making picture variants


@pytest.mark.no_aws
def test_a_page_is_previewed_too_and_a_bad_file_is_named(tmp_path: Path, draft: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from editor.preview import render_file

    rendered = render_file(draft.parent / "sider" / "privatlivspolitik.md", "http://127.0.0.1:1",
                           "http://127.0.0.1:1/api")
    assert rendered.page_key == "privatlivspolitik" and rendered.status == "published"
    assert "Datatilsynet" in rendered.objects["privatlivspolitik"].body.decode()
    draft.write_text(DRAFT.replace("image_alt: Et borgerpanel samlet om et bord\n", ""), encoding="utf-8")
    assert cli.main(["preview", str(draft)]) == 1
    assert "has no alt text" in capsys.readouterr().err


def test_upload_puts_a_private_expiring_copy_on_the_site_and_publishes_nothing(
        draft: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from editor.site.manifest import MANIFEST, RenderedObject

    assert cli.main(["preview", str(draft), "--upload"]) == 0
    out = capsys.readouterr().out
    site = get_settings().site_url
    found = re.search(rf"Preview of \S+: ({re.escape(site)}/preview/([\w-]{{22}})/artikler/et-udkast-om-borgerpaneler)\n",
                      out)
    assert found, out
    token = found.group(2)
    stored = bucket_objects()
    assert set(stored) == {key for key in stored if key.startswith(f"preview/{token}/")}  # nothing public
    page = stored[f"preview/{token}/artikler/et-udkast-om-borgerpaneler"]
    assert page.cache_control == "private, no-store"
    assert b'<meta name="robots" content="noindex, nofollow">' in page.body
    for url in links_of(page.body):
        if "/billeder/" in url or "/assets/" in url:
            assert url.startswith(f"{site}/preview/{token}/") and url[len(site) + 1:] in stored, url
    assert list(RenderedObject.query(MANIFEST)) == []  # no build will ever touch it
    assert list(Article.scan()) == []  # a test may scan: nothing in the articles table
    rules = aws.client("s3").get_bucket_lifecycle_configuration(Bucket=get_settings().bucket)["Rules"]
    expiry = next(rule for rule in rules if rule["ID"] == "expire-preview")  # from infra/template.yaml
    assert expiry["Filter"] == {"Prefix": "preview/"} and expiry["Expiration"] == {"Days": 1}
    assert expiry["Status"] == "Enabled"
    assert cli.main(["preview", str(draft), "--upload"]) == 0
    assert token not in capsys.readouterr().out  # each preview its own address
