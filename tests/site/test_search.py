"""The search indexes (editor/site/search.py) answer Danish: inflected forms find their
article among the first three, æ/ø/å included, with the hit marked in the excerpt. Run in
headless Chromium with the site's CSP, through Pagefind's own JavaScript and WebAssembly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devtools import search_probe
from editor.site import search
from tests.site.search_corpus import ARTICLES, QUERIES
from tests.support.browser import require_browser


@pytest.fixture(scope="module")
def page() -> Iterator[Any]:
    require_browser()
    entries = [search.Entry(url=f"/artikler/{slug}", title=title, category="Cases", date="1. maj 2024",
                            published="2024-05-01T09:00:00Z", digest=search.text_digest(text))
               for slug, (title, text) in ARTICLES.items()]
    texts = {f"/artikler/{slug}": text for slug, (_, text) in ARTICLES.items()}
    # As a build makes them: the archive index and the recent one, which the page merges.
    chosen = search.plan(entries, None)
    assert chosen.archive and chosen.recent
    objects = search.index_objects(chosen, lambda urls: {url: texts[url] for url in urls})
    with search_probe.serve(objects) as address, \
            search_probe.browser_page(address) as opened:
        yield opened


def test_the_query_set_finds_each_article_in_the_first_three(page: Any) -> None:
    assert len(QUERIES) >= 20
    missed = {}
    for text, slug in QUERIES:
        urls = [result["url"] for result in search_probe.query(page, text, shown=3)]
        if f"/artikler/{slug}" not in urls:
            missed[text] = urls
    assert missed == {}


def test_results_carry_title_date_category_and_a_marked_excerpt(page: Any) -> None:
    first = search_probe.query(page, "høringer", shown=1)[0]
    assert first["url"] == "/artikler/hoering"
    assert first["title"] == "Sådan holder I en høring"
    assert "<mark>høring</mark>" in first["excerpt"]
    data = page.evaluate("""async () => {
      const pagefind = await import('/pagefind/pagefind.js');
      const answer = await pagefind.search('høring');
      return (await answer.results[0].data()).meta;
    }""")
    assert data["category"] == "Cases" and data["date"] == "1. maj 2024"


def test_a_word_no_article_holds_finds_nothing(page: Any) -> None:
    assert search_probe.query(page, "xylofonorkester") == []


def test_only_what_the_search_page_loads_is_published_with_fitting_cache_headers() -> None:
    objects = search.index_files([search.Entry("/artikler/a", "Et møde", "Cases", "1. maj 2024",
                                               "2024-05-01T09:00:00Z", "")],
                                 {"/artikler/a": "Borgerne mødtes."}, search.ARCHIVE)
    keys = {obj.key for obj in objects}
    assert {"pagefind/pagefind.js", "pagefind/pagefind-entry.json", "pagefind/wasm.da.pagefind"} <= keys
    assert not any("-ui" in key or "playground" in key or "unknown" in key for key in keys)
    for obj in objects:
        hashed = obj.key.rsplit(".", 1)[-1].startswith("pf_")
        assert ("immutable" in obj.cache_control) == hashed, obj.key


def entry(number: int) -> search.Entry:
    return search.Entry(f"/artikler/a{number:03d}", f"Artikel {number}", "Cases", "1. maj 2024",
                        f"2024-05-01T09:{number // 60:02d}:{number % 60:02d}Z", f"tekst {number}")


def test_a_new_article_reindexes_only_the_recent_ones_until_there_are_too_many() -> None:
    entries = [entry(number) for number in range(50)]
    first = search.plan(entries, None)
    assert first.archive == entries[:-1] and first.recent == entries[-1:]
    entries.append(entry(50))
    second = search.plan(entries, first.state)
    assert second.archive is None and second.recent == entries[-2:]  # the archive stays as it is
    # An archived article changed (its text, so its digest): the archive is made again.
    changed = [*entries[:3], search.Entry(**{**entries[3].__dict__, "digest": "new"}), *entries[4:]]
    assert search.plan(changed, second.state).archive == changed[:-1]
    # Unpublished: the same.
    assert search.plan(entries[:10] + entries[11:], second.state).archive is not None
    many = entries + [entry(number) for number in range(51, 51 + search.RECENT_MAX)]
    assert search.plan(many, second.state).archive == many[:-1]
