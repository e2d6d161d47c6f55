"""The search indexes (editor/site/search.py) answer Danish: inflected forms find their
article among the first three, æ/ø/å included, with the hit marked in the excerpt. Run in
headless Chromium with the site's CSP, through Pagefind's own JavaScript and WebAssembly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools import search_probe
from editor.site import search
from tests.site.search_corpus import ARTICLES, QUERIES
from tests.support.browser import require_browser
from tests.support.site import API, SITE, write_article


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


def built(chosen: search.Plan) -> search.State:
    """The state after a build made ``chosen``'s index files (Pagefind's command, for real)."""
    return chosen.state(search.index_objects(chosen, lambda urls: {url: f"Tekst om {url}." for url in urls}))


def test_a_new_article_reindexes_only_the_recent_ones_until_there_are_too_many() -> None:
    entries = [entry(number) for number in range(50)]
    first = search.plan(entries, None)
    assert first.archive == entries[:-1] and first.recent == entries[-1:]
    state = built(first)
    assert set(state.archived) == {item.url for item in entries[:-1]}
    ids = {url: page for url, (page, _) in state.archived.items()}
    assert len(set(ids.values())) == 49 and all(page.startswith("da_") for page in ids.values())
    entries.append(entry(50))
    second = search.plan(entries, state)
    assert second.archive is None and second.recent == entries[-2:] and second.hidden == []
    # An archived article changed (its text, so its digest): the recent index holds it as it
    # reads now, and the archive's copy is hidden; the archive is not made again.
    edited = search.Entry(**{**entries[3].__dict__, "digest": "new"})
    changed = [*entries[:3], edited, *entries[4:]]
    third = search.plan(changed, built(second))
    assert third.archive is None and third.recent == [edited, *entries[-2:]]
    assert third.hidden == [ids[edited.url]]
    # Unpublished: only hidden.
    fourth = search.plan(entries[:10] + entries[11:], state)
    assert fourth.archive is None and fourth.recent == entries[-2:] and fourth.hidden == [ids[entries[10].url]]
    # Edited back as it was archived: nothing hidden.
    assert search.plan(entries, built(third)).hidden == []
    # More than RECENT_MAX in the recent index or hidden: the archive is made again.
    many = entries + [entry(number) for number in range(51, 51 + search.RECENT_MAX)]
    assert search.plan(many, state).archive == many[:-1]
    assert search.plan(entries, state, full=True).archive == entries[:-1]


def test_the_build_keeps_what_the_archive_holds_in_its_snapshot_and_after_a_stopped_build_remakes_it(
        tmp_path: Path) -> None:
    from editor.publishing import publish_paths
    from editor.site import build
    from editor.site.manifest import DONE, STATE, BuildState

    def publish() -> search.State | None:
        build.build_site(publish_paths([tmp_path], site_url=SITE).changed, site_url=SITE, api_url=API)
        _, generation = build._last_state()
        snapshot = build._load_snapshot(generation or 0)
        return snapshot.searched if snapshot else None

    for number in range(3):
        write_article(tmp_path, f"a{number}", title=f"Artikel {number}", body=f"Tekst {number}.",
                      published_at=f"2024-0{number + 1}-01T09:00:00Z")
    first = publish()
    assert first is not None and set(first.archived) == {"/artikler/a0", "/artikler/a1"}
    assert all(page.startswith("da_") for page, _ in first.archived.values())
    # An archived article edited: the archive, and so what the snapshot says of it, stays.
    write_article(tmp_path, "a0", title="Artikel 0", body="Ny tekst.", published_at="2024-01-01T09:00:00Z")
    assert publish() == first
    # A build stopped half-way leaves no snapshot to trust: the next makes the archive again,
    # the edited article in it as it reads now.
    BuildState(STATE, DONE, digest="").delete()
    write_article(tmp_path, "a3", title="Artikel 3", body="Tekst 3.", published_at="2024-04-01T09:00:00Z")
    after = publish()
    assert after is not None and set(after.archived) == {"/artikler/a0", "/artikler/a1", "/artikler/a2"}
    assert after.archived["/artikler/a0"][1] != first.archived["/artikler/a0"][1]
