"""The static site: rendered from the articles, synced to the bucket with only real changes."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from editor.publishing import publish_paths
from editor.site.build import BuildReport, build_site
from tests.support.fixtures import ROOT
from tests.support.site import (
    API,
    SITE,
    bucket_objects,
    key_for,
    links,
    parse_html,
    sitemap_locations,
    write_article,
)

SEED = "samarbejde-med-borgere-kan-laeres"


def publish(folder: Path) -> BuildReport:
    report = publish_paths([folder], site_url=SITE)
    assert not report.rejected, report.rejected
    return build_site(report.changed, site_url=SITE, api_url=API)


def pages_put(report: BuildReport) -> list[str]:
    """What a build PUT, without the search index's files."""
    return sorted(key for key in report.sync.put if not key.startswith(("pagefind/", "pagefind-nyt/")))


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """content/ plus enough articles to paginate a category (copied: tests edit them)."""
    folder = tmp_path / "content"
    shutil.copytree(ROOT / "content", folder)
    for number in range(12):
        write_article(folder, f"metode-{number:02d}", title=f"Metode nummer {number}",
                      body=f"Tekst om metode {number}.", published_at=f"2024-01-{number + 1:02d}T09:00:00Z")
    return folder


def test_every_page_is_valid_html5_and_every_internal_link_resolves(content: Path) -> None:
    publish(content)
    stored = bucket_objects()
    html = {key: obj for key, obj in stored.items() if obj.content_type.startswith("text/html")}
    # 13 articles: the oldest ten on page 1 (numbered from the oldest), the newest three on /artikler.
    expected = {"index.html", "artikler", "artikler/side/1", "kategori/metoder", "kategori/metoder/side/1",
                "kategori/cases", "kategori/erfaringer", "kategori/udgivelser", f"artikler/{SEED}",
                "nyhedsbrev", "om", "privatlivspolitik", "tilgaengelighedserklaering", "404.html", "soeg",
                "emne/hvidovre-kommune", "emne/kompetenceudvikling", "emne/planstrategi"}
    assert expected <= set(html)
    assert len(html) == len(expected) + 12  # and an article page per published article
    for key, obj in html.items():
        document = parse_html(obj.body)  # raises on any HTML5 parse error
        assert document.get("lang") == "da", key
        assert document.find("head/title").text.strip(), key
        assert document.find("head/meta[@name='description']").get("content").strip(), key
        if key != "404.html":
            assert document.find("head/link[@rel='canonical']").get("href") == (
                f"{SITE}/" if key == "index.html" else f"{SITE}/{key}"), key
        ids = {element.get("id") for element in document.iter() if element.get("id")}
        for tag, attribute, url in links(document):
            if url.startswith("#"):
                assert url[1:] in ids, (key, url)
                continue
            if url.startswith(("mailto:", "tel:")):
                continue
            if tag == "a" and url.startswith("https://") and not url.startswith(SITE):
                continue  # a link in the editors' text (the privacy policy's to Datatilsynet)
            assert url.startswith(SITE), (key, tag, attribute, url)  # nothing external loads in our pages
            target = key_for(url)
            if target is not None:
                assert target in stored, (key, tag, attribute, url)


def test_objects_carry_content_type_and_cache_control(content: Path) -> None:
    publish(content)
    stored = bucket_objects()
    assets = [obj for key, obj in stored.items() if key.startswith("assets/")]
    assert {obj.content_type.split(";")[0] for obj in assets} == {"text/css", "text/javascript", "image/svg+xml"}
    assert all(obj.cache_control == "public, max-age=31536000, immutable" for obj in assets)
    page = stored[f"artikler/{SEED}"]
    assert page.content_type == "text/html; charset=utf-8"
    assert "s-maxage=" in page.cache_control and "immutable" not in page.cache_control
    assert stored["feed.xml"].content_type.startswith("application/rss+xml")
    assert stored["sitemap.xml"].content_type.startswith("application/xml")
    # The feed is named as a sitemap too: it lists the newest articles (docs/site.md#sitemaps).
    assert stored["robots.txt"].body.decode().endswith(f"Sitemap: {SITE}/sitemap.xml\nSitemap: {SITE}/feed.xml\n")


def test_feed_and_sitemap_parse_and_list_the_articles(content: Path) -> None:

    import feedparser

    publish(content)
    stored = bucket_objects()
    feed = feedparser.parse(stored["feed.xml"].body)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.language == "da"
    titles = [entry.title for entry in feed.entries]
    assert titles[0] == "Metode nummer 11" and "Samarbejde med borgere kan læres" in titles
    assert feed.entries[0].link == f"{SITE}/artikler/metode-11"
    # Between them, the sitemap and the feed (both named in robots.txt) list every article.
    locations = sitemap_locations(stored)
    assert len(locations) == len(set(locations)) and f"{SITE}/kategori/cases" in locations
    published = {f"{SITE}/artikler/{key.removeprefix('artikler/')}" for key in stored
                 if key.startswith("artikler/") and "/side/" not in key}
    assert published == {loc for loc in locations if "/artikler/" in loc} | {entry.link for entry in feed.entries}
    assert f"{SITE}/artikler/{SEED}" in published


def test_the_seed_page_keeps_its_content_and_blocks(content: Path) -> None:
    publish(content)
    stored = bucket_objects()
    article = stored[f"artikler/{SEED}"].body.decode()
    assert "<h1>Samarbejde med borgere kan læres</h1>" in article
    assert "Kompetenceudvikling i borgerdialog" in article
    assert "Tilmeld dig nyhedsbrev fra Center for Borgerdialog" in article
    assert "Telefon: <a href=\"tel:+4524477818\">24 47 78 18</a>" in article
    signup = stored["nyhedsbrev"].body.decode()
    # The old site's "CAPTCHA" / "Image CAPTCHA" became Danish words (issue 14).
    for text in ("Nyt om erfaringer, cases, metoder, udgivelser om borgerdialog.", "Er du et menneske?",
                 "Skriv de fem tegn fra billedet.", "Tegnene fra billedet", "Samtykketekst, version"):
        assert text in signup
    assert "CAPTCHA" not in signup


def test_publishing_the_same_content_twice_puts_nothing(content: Path, aws_calls: Counter[str]) -> None:
    first = publish(content)
    assert len(first.sync.put) > 20
    aws_calls.clear()
    second = publish(content)
    assert second.sync.put == [] and second.sync.deleted == []
    assert aws_calls["s3.PutObject"] == 0 and aws_calls["s3.DeleteObjects"] == 0
    assert aws_calls["dynamodb.BatchGetItem"] == 0  # no article page was rendered again
    # Nothing published: the build state item says so; no manifest, no list of articles read.
    assert second.up_to_date
    assert aws_calls["dynamodb.Query"] == 1  # the build's pages (the publish reads each one by key)
    assert aws_calls["dynamodb.GetItem"] == 13 + 1 + 3  # each article, the state item, each page


def test_changing_one_article_puts_only_the_pages_that_show_it(content: Path,
                                                               aws_calls: Counter[str]) -> None:
    publish(content)
    path = content / "metode-03.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Tekst om metode 3.", "Ny tekst."),
                    encoding="utf-8")
    aws_calls.clear()
    body_only = publish(content)
    # The body shows on the article page only (lists and feed show title and teaser), and in
    # the search index: the recent one now holds it, and the archive's copy is hidden.
    assert pages_put(body_only) == ["artikler/metode-03"]
    assert aws_calls["s3.PutObject"] == len(body_only.sync.put)
    assert any(key.startswith("pagefind-nyt/fragment/") for key in body_only.sync.put)
    assert "pagefind-nyt/skjult.json" in body_only.sync.put
    assert not any(key.startswith("pagefind/") for key in body_only.sync.put)

    path.write_text(path.read_text(encoding="utf-8").replace("Metode nummer 3", "Metode nr. 3"),
                    encoding="utf-8")
    aws_calls.clear()
    retitled = publish(content)
    # metode-03 is the 5th oldest of 13: page 1 of all articles and of its category (numbered
    # from the oldest), not the home page; metode-04 to -06 show it among their related articles.
    assert pages_put(retitled) == ["artikler/metode-03", "artikler/metode-04", "artikler/metode-05",
                                   "artikler/metode-06", "artikler/side/1", "feed.xml", "kategori/metoder/side/1"]


def test_unpublishing_removes_the_page_and_updates_lists_and_feed(content: Path) -> None:
    publish(content)
    path = content / "metode-11.md"
    path.write_text(path.read_text(encoding="utf-8").replace("status: published", "status: draft"),
                    encoding="utf-8")
    report = publish(content)
    assert report.sync.deleted == ["artikler/metode-11"]
    stored = bucket_objects()
    assert "artikler/metode-11" not in stored
    assert "kategori/metoder/side/2" not in stored or b"metode-11" not in stored["kategori/metoder/side/2"].body
    for key in ("index.html", "artikler", "kategori/metoder", "feed.xml"):
        assert b"metode-11" not in stored[key].body, key
    assert not any("metode-11" in loc for loc in sitemap_locations(stored))
    assert {"index.html", "feed.xml"} <= set(report.sync.put)


def test_a_page_missing_after_a_stopped_build_is_rendered_again_on_the_next_publish(content: Path) -> None:
    """A build removes the state item when it starts and writes it when done: after one that
    stopped half-way, the next publish reads everything again and finds what is missing."""
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from editor.site.manifest import DONE, MANIFEST, STATE, BuildState, RenderedObject

    publish(content)
    aws.client("s3").delete_object(Bucket=get_settings().bucket, Key=f"artikler/{SEED}")
    RenderedObject(MANIFEST, f"artikler/{SEED}").delete()
    # As it stands, the last build was complete: a publish of nothing trusts it (1 GetItem).
    assert publish(content).up_to_date
    BuildState(STATE, DONE, digest="").delete()  # what a build stopped half-way leaves
    report = publish(content)
    assert pages_put(report) == [f"artikler/{SEED}"]


def test_superseded_assets_stay_for_cached_pages_while_stale_pages_go(content: Path) -> None:
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings
    from editor.site.manifest import DONE, MANIFEST, STATE, BuildState, RenderedObject

    publish(content)
    s3 = aws.client("s3")
    # What an earlier deploy left: a stylesheet under its old fingerprint, a page since removed.
    for key in ("assets/site.000000000000.css", "artikler/fjernet"):
        s3.put_object(Bucket=get_settings().bucket, Key=key, Body=b"old")
        RenderedObject(MANIFEST, key, digest="old").save()
    BuildState(STATE, DONE, digest="").delete()  # an earlier deploy's build: not the last complete one
    report = publish(content)
    assert report.sync.deleted == ["artikler/fjernet"]
    assert "assets/site.000000000000.css" in bucket_objects()


def test_two_builds_at_once_never_leave_the_site_trusted() -> None:
    """Each build claims the state item when it starts; one that another build claimed since
    does not mark the site trusted when it ends, so the next build reads everything (a
    snapshot written by either could lack the other's article)."""
    from editor.site import build

    _, generation = build._last_state()
    first = build._claim(generation)
    assert first is not None
    assert build._claim(generation) is None  # a second build that read the same generation
    second = build._claim(first)  # a second build that started once the first had claimed
    assert second is not None
    build._complete("layout-and-pages", first)  # the first ends after the second began
    assert build._last_state() == (None, second)
    build._complete("layout-and-pages", second)
    assert build._last_state() == ("layout-and-pages", second)
