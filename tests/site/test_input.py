"""Hostile and broken articles: the pages still render, validate, and run nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from editor import cli
from editor.publishing import publish_paths
from editor.site.build import build_site
from tests.support.site import (
    API,
    SITE,
    XSS_IMAGE_VECTORS,
    XSS_VECTORS,
    bucket_objects,
    links,
    parse_html,
    sitemap_locations,
    write_article,
)

# From the OWASP XSS filter evasion cheat sheet, plus the obvious ones.
TITLE = '<script>alert("titel")</script> Borgere & <b>"dialog"</b>'


def assert_nothing_executable(body: bytes) -> None:
    document = parse_html(body)
    own_script = list(document.iter("script"))
    assert len(own_script) == 1 and own_script[0].get("src", "").startswith(f"{SITE}/assets/site.")
    assert own_script[0].text is None
    for element in document.iter():
        tag = str(element.tag)
        if tag == "form":  # only the header's search box, ours on every page
            assert (element.get("class"), element.get("action")) == ("site-search", f"{SITE}/soeg")
            continue
        assert tag not in ("iframe", "object", "embed", "base", "style", "svg", "math"), tag
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


def test_xss_vectors_that_leave_an_image_are_refused_with_their_lines(tmp_path: Path) -> None:
    """Sanitised, these are an <img> without alt text or with an address that is no image
    beside the file: the file is refused whole, each vector named by its line."""
    path = write_article(tmp_path, "xss-billeder", title="Billeder", body="\n\n".join(XSS_IMAGE_VECTORS))
    report = publish_paths([tmp_path])
    assert report.created == [] and len(report.rejected) == 1
    body_line = path.read_text(encoding="utf-8").splitlines().index("---", 1) + 2
    for number in range(len(XSS_IMAGE_VECTORS)):
        assert f"{path}, line {body_line + 2 * number}: " in report.rejected[0], number
    assert "no alt text" in report.rejected[0]
    assert not any(key.startswith("artikler/") for key in bucket_objects())


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    from chalicelib.core.config import get_settings

    # An image on the site's own address that the bucket does not hold (one beside the file
    # that does not exist is refused at publish: tests/editor/test_images.py).
    missing = f"{get_settings().site_url}/billeder/moede.jpg"
    write_article(tmp_path, "uden-billede", title="Et billede mangler",
                  body=f"Før.\n\n![Borgermøde i Hvidovre]({missing})\n\nEfter.")
    write_article(tmp_path, "kun-script", title="Kun et script", body="<script>alert(1)</script>")
    write_article(tmp_path, "meget-lang", title="Ti tusind ord",
                  body="\n\n".join(" ".join(["borgerdialog"] * 100) for _ in range(100)))
    write_article(tmp_path, "html-titel", title="<i>Kursiv</i> & </title><h1>titel",
                  body="Almindelig tekst.")
    return tmp_path


def test_bad_articles_still_render_valid_pages(broken: Path) -> None:
    from chalicelib.core.config import get_settings

    report = publish_paths([broken])
    assert sorted(report.created) == ["html-titel", "kun-script", "meget-lang", "uden-billede"]
    site = build_site(report.changed)
    assert sorted(site.problems) == [
        "kun-script: the body is empty after sanitising; the page says so",
        f"uden-billede: image '{get_settings().site_url}/billeder/moede.jpg' not found; shown as its alt text",
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
    assert "warning    uden-billede: image 'http://127.0.0.1:8000/billeder/moede.jpg' not found; shown as its " \
           "alt text" in err
    assert err.count("moede.jpg") == 1  # once: the command's line, not a log line besides
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


# Text that markup must not swallow: an element, an ampersand, a lone "<", quotes, Danish letters.
MARKUP_TEXTS = ["<img src=x onerror=alert(1)>", "Tom & Jerry", "a < b og c > d",
                "\"Citat\" og 'apostrof'", "Æbler, øl og blåbær på Ærø"]


def _elements_in(fragment: str) -> list[str]:
    """The elements an HTML reader makes of ``fragment``: none, for text."""
    from html.parser import HTMLParser

    found: list[str] = []

    class Collector(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append(tag)

    collector = Collector()
    collector.feed(fragment)
    collector.close()
    return found


def test_titles_and_teasers_reach_feed_readers_and_pages_as_text(tmp_path: Path) -> None:
    """RSS's description is HTML: a teaser escaped only once became an <img> element in the
    reader, and "a < b" or "&" were misread. The feed reader must show the text itself."""
    import html
    from xml.etree import ElementTree

    import feedparser

    articles = {f"tekst-{number}": (f"Titel {number}: {text}", f"Teaser {number}: {text}")
                for number, text in enumerate([*MARKUP_TEXTS, " ".join(MARKUP_TEXTS)])}
    for number, (slug, (title, teaser)) in enumerate(articles.items()):
        write_article(tmp_path, slug, title=title, teaser=teaser, body="Tekst.",
                      published_at=f"2024-05-0{number + 1}T09:00:00Z")
    report = publish_paths([tmp_path])
    assert sorted(report.created) == sorted(articles)
    build_site(report.changed, site_url=SITE, api_url=API)
    stored = bucket_objects()

    feed = feedparser.parse(stored["feed.xml"].body)
    assert not feed.bozo, feed.get("bozo_exception")
    entries = {entry.link.rsplit("/", 1)[1]: entry for entry in feed.entries}
    assert sorted(entries) == sorted(articles)
    for slug, (title, teaser) in articles.items():
        entry = entries[slug]
        assert entry.title == title, slug
        # feedparser reads the description as HTML and keeps it as (sanitised) HTML: the
        # text a reader shows is that HTML with its entities decoded once, with no element.
        assert entry.summary_detail.type == "text/html", slug
        assert _elements_in(entry.summary) == [], (slug, entry.summary)
        assert html.unescape(entry.summary) == teaser, (slug, entry.summary)
    # The same in the XML itself: the title is text, the description HTML that holds text.
    channel = ElementTree.fromstring(stored["feed.xml"].body).find("channel")  # noqa: S314 - our own output
    assert channel is not None
    for item in channel.iter("item"):
        slug = (item.findtext("link") or "").rsplit("/", 1)[1]
        title, teaser = articles[slug]
        description = item.findtext("description") or ""
        assert item.findtext("title") == title
        assert _elements_in(description) == [] and html.unescape(description) == teaser

    # Pages and the sitemap are HTML and XML escaped once by Jinja's autoescape: text again.
    for slug, (title, teaser) in articles.items():
        page = parse_html(stored[f"artikler/{slug}"].body)
        assert_nothing_executable(stored[f"artikler/{slug}"].body)
        assert page.find(".//h1").text == title
        assert page.find(".//p[@class='lead']").text == teaser
        assert page.find("head/meta[@name='description']").get("content") == teaser
    listing = parse_html(stored["artikler"].body)
    assert_nothing_executable(stored["artikler"].body)
    shown = {"".join(element.itertext()).strip() for element in listing.iter() if element.tag in ("a", "p")}
    for title, teaser in articles.values():
        assert title in shown and teaser in shown
    sitemap_locations(stored)  # every sitemap file parses
