"""Hostile and broken articles: the pages still render, validate, and run nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from editor import cli
from editor.publishing import publish_paths
from editor.site.build import build_site
from tests.support.site import API, SITE, XSS_VECTORS, bucket_objects, links, parse_html, write_article

# From the OWASP XSS filter evasion cheat sheet, plus the obvious ones.
TITLE = '<script>alert("titel")</script> Borgere & <b>"dialog"</b>'


def assert_nothing_executable(body: bytes) -> None:
    document = parse_html(body)
    own_script = list(document.iter("script"))
    assert len(own_script) == 1 and own_script[0].get("src", "").startswith(f"{SITE}/assets/site.")
    assert own_script[0].text is None
    for element in document.iter():
        tag = str(element.tag)
        assert tag not in ("iframe", "object", "embed", "base", "form", "style", "svg", "math"), tag
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (tag, name)
            assert name.lower() != "style", tag
            assert "javascript:" not in value.lower().replace("\t", "").replace(" ", ""), (tag, name, value)
    for tag, attribute, url in links(document):
        assert url.startswith(("https://", "http://", "mailto:", "tel:", "#")), (tag, attribute, url)
    metas = [e.get("http-equiv") for e in document.iter("meta")]
    assert not any(metas)


def test_xss_vectors_in_body_and_title_render_inert(tmp_path: Path) -> None:
    write_article(tmp_path, "xss", title=TITLE, teaser='Teaser med <img src=x onerror=alert(1)>',
                  body="\n\n".join(XSS_VECTORS))
    report = publish_paths([tmp_path])
    assert report.created == ["xss"]
    build_site(report.changed, site_url=SITE, api_url=API)
    stored = bucket_objects()
    page = stored["artikler/xss"].body
    assert_nothing_executable(page)
    text = page.decode()
    # The title is shown as text, escaped, everywhere it appears.
    assert "&lt;script&gt;alert(&#34;titel&#34;)&lt;/script&gt; Borgere &amp; &lt;b&gt;" in text
    for key in ("index.html", "artikler", "kategori/metoder"):
        assert_nothing_executable(stored[key].body)
    import feedparser

    feed = feedparser.parse(stored["feed.xml"].body)
    assert not feed.bozo
    assert feed.entries[0].title == TITLE  # escaped in XML, the reader sees the text


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    write_article(tmp_path, "uden-billede", title="Et billede mangler",
                  body="Før.\n\n![Borgermøde i Hvidovre](billeder/moede.jpg)\n\nEfter.")
    write_article(tmp_path, "kun-script", title="Kun et script", body="<script>alert(1)</script>")
    write_article(tmp_path, "meget-lang", title="Ti tusind ord",
                  body="\n\n".join(" ".join(["borgerdialog"] * 100) for _ in range(100)))
    write_article(tmp_path, "html-titel", title="<i>Kursiv</i> & </title><h1>titel",
                  body="Almindelig tekst.")
    return tmp_path


def test_bad_articles_still_render_valid_pages(broken: Path) -> None:
    report = publish_paths([broken])
    assert sorted(report.created) == ["html-titel", "kun-script", "meget-lang", "uden-billede"]
    site = build_site(report.changed, site_url=SITE, api_url=API)
    assert sorted(site.problems) == [
        "kun-script: the body is empty after sanitising; the page says so",
        "uden-billede: image 'billeder/moede.jpg' not found; shown as its alt text",
    ]
    stored = bucket_objects()
    for slug in ("uden-billede", "kun-script", "meget-lang", "html-titel"):
        parse_html(stored[f"artikler/{slug}"].body)
    assert "[Billede: Borgermøde i Hvidovre]" in stored["artikler/uden-billede"].body.decode()
    assert b"billeder/moede.jpg" not in stored["artikler/uden-billede"].body
    assert "Artiklen har endnu ingen tekst." in stored["artikler/kun-script"].body.decode()
    assert stored["artikler/meget-lang"].body.count(b"borgerdialog") >= 10_000
    title = parse_html(stored["artikler/html-titel"].body).find("head/title").text
    assert title == "<i>Kursiv</i> & </title><h1>titel – Center for Borgerdialog"


def test_the_publish_command_names_each_problem(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (broken / "tom.md").write_text("---\ntitle: Tom\nteaser: t\ncategory: cases\n---\n\n", encoding="utf-8")
    assert cli.main(["publish", str(broken)]) == 1  # tom.md is rejected; the rest is published
    out, err = capsys.readouterr()
    assert f"rejected   {broken / 'tom.md'}: the article has no body below the front matter" in err
    assert "warning    uden-billede: image 'billeder/moede.jpg' not found; shown as its alt text" in err
    assert "warning    kun-script: the body is empty after sanitising; the page says so" in err
    assert "4 created, 0 updated, 0 unchanged, 1 rejected" in out
    assert "site: " in out and " put, 0 deleted" in out
    assert cli.main(["publish", str(broken / "meget-lang.md")]) == 0
    out, _ = capsys.readouterr()
    assert "site: 0 put, 0 deleted" in out


def test_rebuild_renders_every_page_again(broken: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["publish", str(broken)]) == 0
    capsys.readouterr()
    assert cli.main(["rebuild", "--force", "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "(4 article page(s) rendered)" in out
    assert "render  [##############################] 4/4" in err
    assert "upload  [##############################]" in err
