"""Finding things on the site: tag pages with their feeds, related articles, and list pages
numbered from the oldest article, so a complete page never changes when articles arrive."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from editor.publishing import publish_paths
from editor.site import render
from editor.site.build import BuildReport, build_site
from tests.support.site import API, SITE, bucket_objects, parse_html, sitemap_locations, write_article

CATEGORIES = ("erfaringer", "cases", "metoder", "udgivelser")
TAGS = ("Borgerinddragelse", "Ærø Kommune", "unge", "Klima")
START = datetime(2024, 1, 1, 9, tzinfo=UTC)


def publish(folder: Path) -> BuildReport:
    report = publish_paths([folder], site_url=SITE)
    assert not report.rejected, report.rejected
    return build_site(report.changed, site_url=SITE, api_url=API)


def numbered_pages(summaries: list[render.Summary], tags: dict[str, list[str]]) -> dict[str, bytes]:
    renderer = render.Renderer(site_url=SITE, api_url=API, summaries=summaries, article_tags=tags)
    return {obj.key: obj.body for obj in renderer.list_objects() if "/side/" in obj.key}


# Each step publishes a batch of new articles (each: its category, its tags), as editors do.
ARTICLE = st.tuples(st.sampled_from(CATEGORIES), st.sets(st.sampled_from(TAGS), max_size=2))


def add(summaries: list[render.Summary], tags: dict[str, list[str]], batch: list[tuple[str, set[str]]]) -> None:
    """Publish ``batch`` after ``summaries``: each article an hour after the one before."""
    for category, chosen in batch:
        number = len(summaries)
        slug = f"artikel-{number:03d}"
        summaries.append(render.Summary(slug, f"Artikel {number}", "Teaser.", category,
                                        START + timedelta(hours=number)))
        tags[slug] = sorted(chosen)


@settings(max_examples=20, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(ARTICLE, min_size=1, max_size=14), min_size=2, max_size=6))
def test_a_complete_page_never_changes_when_articles_are_added(steps: list[list[tuple[str, set[str]]]]) -> None:
    summaries: list[render.Summary] = []
    tags: dict[str, list[str]] = {}
    seen: dict[str, bytes] = {}
    for batch in steps:
        add(summaries, tags, batch)
        pages = numbered_pages(summaries, tags)
        for key, body in seen.items():
            assert pages[key] == body, key  # still there, byte for byte
        seen = pages
        # Page N of all articles holds the N-th oldest ten, newest first.
        full = len(summaries) // render.PAGE_SIZE
        assert {key for key in pages if key.startswith("artikler/")} == {
            f"artikler/side/{n}" for n in range(1, full + 1)}
        for n in range(1, full + 1):
            document = parse_html(pages[f"artikler/side/{n}"])
            shown = [a.get("href").rsplit("/", 1)[1] for a in document.iter("a")
                     if "/artikler/artikel-" in (a.get("href") or "")]
            expected = [f"artikel-{i:03d}" for i in range(n * 10 - 1, (n - 1) * 10 - 1, -1)]
            assert shown == expected


@settings(max_examples=20, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.lists(ARTICLE, min_size=1, max_size=14), min_size=2, max_size=6))
def test_sitemap_and_feed_list_every_article_and_a_new_one_rewrites_the_sitemap_only_per_full_page(
        monkeypatch: pytest.MonkeyPatch, steps: list[list[tuple[str, set[str]]]]) -> None:
    """What a crawler reads (robots.txt names sitemap.xml and feed.xml) finds every article; a
    sitemap file changes only when ``/artikler`` completes a page or a tag appears, and a full
    sitemap file never changes."""
    monkeypatch.setattr(render, "SITEMAP_SIZE", 20)  # several files at a test's size
    summaries: list[render.Summary] = []
    tags: dict[str, list[str]] = {}
    files_before: dict[str, bytes] = {}
    complete_before = -1
    for batch in steps:
        add(summaries, tags, batch)
        renderer = render.Renderer(site_url=SITE, api_url=API, summaries=summaries, article_tags=tags)
        objects = {obj.key: obj for obj in renderer.list_objects()}
        locations = sitemap_locations(objects)
        assert len(locations) == len(set(locations))
        feed = feedparser.parse(objects["feed.xml"].body)
        listed = {loc for loc in locations if "/artikler/" in loc} | {entry.link for entry in feed.entries}
        assert listed == {f"{SITE}/artikler/{item.slug}" for item in summaries}
        files = {key: obj.body for key, obj in objects.items() if key.startswith("sitemap")}
        assert set(files) <= renderer.expected_keys()  # a build keeps them
        for key, body in files_before.items():
            if key.startswith("sitemap-artikler-") and body.count(b"<url>") == 20:
                assert files[key] == body, key  # a full file, byte for byte
        complete = len(summaries) // render.PAGE_SIZE
        if complete == complete_before:
            # No page completed: only the list of pages may change (when a tag appeared).
            assert ({key: body for key, body in files.items() if key != "sitemap-sider.xml"}
                    == {key: body for key, body in files_before.items() if key != "sitemap-sider.xml"})
        files_before, complete_before = files, complete


def test_tag_pages_and_feeds_list_their_articles(tmp_path: Path) -> None:
    write_article(tmp_path, "panel", title="Et borgerpanel", body="Om paneler.", category="cases",
                  published_at="2024-01-01T09:00:00Z", tags=["Borgerinddragelse", "Ærø Kommune"])
    write_article(tmp_path, "moede", title="Et møde", body="Om møder.", category="cases",
                  published_at="2024-02-01T09:00:00Z", tags=["borgerinddragelse"])
    write_article(tmp_path, "havn", title="Havnen på Ærø", body="Om havnen.", category="cases",
                  published_at="2024-03-01T09:00:00Z", tags=["Ærø Kommune", "Unge"])
    publish(tmp_path)
    stored = bucket_objects()

    # The address as an article's: æ/ø/å transliterated; two spellings are one tag.
    page = parse_html(stored["emne/aeroe-kommune"].body)
    assert page.find(".//h1").text == "Emne: Ærø Kommune"
    listed = [a.get("href") for a in page.iter("a") if "/artikler/" in (a.get("href") or "")]
    assert listed == [f"{SITE}/artikler/havn", f"{SITE}/artikler/panel"]  # newest first
    assert page.find("head/link[@type='application/rss+xml'][@href='" + SITE + "/emne/aeroe-kommune/feed.xml']") \
        is not None
    both = parse_html(stored["emne/borgerinddragelse"].body)
    assert [a.get("href") for a in both.iter("a") if "/artikler/" in (a.get("href") or "")] == [
        f"{SITE}/artikler/moede", f"{SITE}/artikler/panel"]

    feed = feedparser.parse(stored["emne/aeroe-kommune/feed.xml"].body)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "Center for Borgerdialog: Ærø Kommune"
    assert feed.feed.link == f"{SITE}/emne/aeroe-kommune"
    assert [entry.link for entry in feed.entries] == [f"{SITE}/artikler/havn", f"{SITE}/artikler/panel"]

    # Every tag on an article links to its page.
    article = parse_html(stored["artikler/havn"].body)
    tag_links = {a.get("href"): a.text for a in article.iter("a") if "/emne/" in (a.get("href") or "")}
    assert tag_links == {f"{SITE}/emne/aeroe-kommune": "Ærø Kommune", f"{SITE}/emne/unge": "Unge"}
    assert f"{SITE}/emne/unge" in sitemap_locations(stored)


def related(stored_page: bytes) -> list[str]:
    document = parse_html(stored_page)
    section = document.find(".//section[@class='related']")
    if section is None:
        return []
    return [a.get("href").rsplit("/", 1)[1] for a in section.iter("a") if "/artikler/" in (a.get("href") or "")]


def test_related_articles_share_tags_then_category_and_new_ones_touch_no_old_page(
        tmp_path: Path, aws_calls: Counter[str]) -> None:
    for number, (category, tags) in enumerate([
            ("cases", ["Klima"]), ("cases", ["Unge"]), ("metoder", ["Klima"]), ("cases", []),
            ("metoder", ["Klima", "Unge"]), ("erfaringer", ["Ærø"])]):
        write_article(tmp_path, f"a{number}", title=f"Artikel {number}", body="Tekst.", category=category,
                      published_at=f"2024-0{number + 1}-01T09:00:00Z", tags=tags)
    publish(tmp_path)
    stored = bucket_objects()
    # a4 (metoder; Klima, Unge): those sharing a tag, newest first, then its category; at most 3.
    assert related(stored["artikler/a4"].body) == ["a2", "a1", "a0"]
    assert related(stored["artikler/a3"].body) == ["a1", "a0"]  # same category, no tags shared
    assert related(stored["artikler/a0"].body) == []  # nothing older
    assert related(stored["artikler/a5"].body) == []  # nothing shared

    # A new article sharing everything: only its own page among the article pages, and the
    # lists that show it (at most 10 objects besides the search index).
    write_article(tmp_path, "a6", title="Artikel 6", body="Tekst.", category="cases",
                  published_at="2024-07-01T09:00:00Z", tags=["Klima", "Unge"])
    aws_calls.clear()
    report = publish(tmp_path)
    pages = sorted(key for key in report.sync.put if not key.startswith(("pagefind/", "pagefind-nyt/")))
    assert pages == ["artikler", "artikler/a6", "emne/klima", "emne/klima/feed.xml", "emne/unge",
                     "emne/unge/feed.xml", "feed.xml", "index.html", "kategori/cases"]
    assert related(bucket_objects()["artikler/a6"].body) == ["a4", "a2", "a1"]
    # After a complete build the next starts from its snapshot: no Query of the published
    # index or the manifest; the pages, the snapshot (read, then its keys), the lead images.
    assert aws_calls["dynamodb.Query"] == 4, aws_calls

    # Retitling an article renders again the pages that show it among their related ones.
    path = tmp_path / "a2.md"
    path.write_text(path.read_text(encoding="utf-8").replace("Artikel 2", "Artikel to"), encoding="utf-8")
    report = publish(tmp_path)
    assert {"artikler/a4", "artikler/a6"} <= set(report.sync.put)
    assert "Artikel to" in bucket_objects()["artikler/a6"].body.decode()
