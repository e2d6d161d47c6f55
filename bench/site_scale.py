"""What the site costs as the archive grows, and what a search costs a visitor (issue 17).

Against a moto server started here: N synthetic Danish articles (default 5,000; each with a
category, up to three of 40 tags and 120-250 words) are published and the site built from
nothing: the baseline, every page rendered and PUT and the search index built. Then:

- one new article (two tags) is published: goal at most 10 PUTs besides the search index
  files that changed (both reported) in at most 0.05x the full build's time. List pages are
  numbered from the oldest, so no complete page changes; related articles are older ones,
  so no old article page changes;
- nothing new is published: goal 0 PUTs in at most 0.02x the full build (one item read);
- the next ten new articles one at a time, with the site's mix of tags: the pages each PUTs
  (5, 2 a tag, and a numbered page or sitemap file when a list completes ten);
- an old article's body is mended: the time (its page, and the archive's search index made
  again) and what is PUT;
- the share of the full build spent building the search index;
- in headless Chromium, the /soeg page (its script, the site's CSP) searching the 5,000
  articles: the bytes transferred for one query (the index entry, meta, chunks, the result
  fragments; and Pagefind's script and WebAssembly, fetched once) and the time from the
  keystroke to the results shown.

The build is timed, not the publish before it (parsing N files, one GetItem each).

    .venv/bin/python bench/site_scale.py [articles]
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
NEW_GOAL = 0.05
SAME_GOAL = 0.02
PUT_GOAL = 10
SERIES = 10
BYTES_GOAL = 300_000
CATEGORIES = ("erfaringer", "cases", "metoder", "udgivelser")
TAGS = [f"{word}" for word in (
    "Borgerinddragelse", "Nærdemokrati", "Klima", "Unge", "Ældre", "Byudvikling", "Lokalplan", "Høring",
    "Borgerpanel", "Borgerting", "Facilitering", "Frivillighed", "Folkeskole", "Sundhed", "Trafik",
    "Kultur", "Bibliotek", "Landdistrikter", "Ærø", "Køge", "Aarhus", "Odense", "Aalborg", "Esbjerg",
    "Budget", "Digital dialog", "Spørgeskema", "Workshop", "Fremtidsværksted", "Dialogcafé", "Natur",
    "Energi", "Boligområde", "Integration", "Foreningsliv", "Beskæftigelse", "Handicap", "Børn",
    "Evaluering", "Kommunikation")]
_TEXT = ("borger borgerne kommune kommunen dialog dialogen møde møderne inddragelse byråd politikere "
         "lokalsamfund forening foreningerne beslutning beslutninger høring høringer plan planen "
         "fællesskab erfaring erfaringer metode metoder proces processen deltagelse deltagere unge ældre "
         "skole skolen bibliotek byen landsbyen fremtid fremtiden forslag forslagene samarbejde lærer "
         "lærte læres stemme stemmer ansvar tillid åbenhed spørgsmål svar viden indsigt grøn grønne "
         "mødested havn park trafik sikkerhed klima energi natur budget penge prioritering evaluering "
         "og i på med for til om at der som det en et de af har kan skal vil blev var ikke men")
WORDS = _TEXT.split(" ")


def _words(rng: random.Random, count: int) -> str:
    sentences = []
    while count > 0:
        length = min(count, rng.randint(6, 16))
        sentence = " ".join(rng.choice(WORDS) for _ in range(length))
        sentences.append(sentence[0].upper() + sentence[1:] + ".")
        count -= length
    return " ".join(sentences)


def _write(folder: Path, number: int, rng: random.Random, moment: datetime, tags: list[str]) -> None:
    paragraphs = "\n\n".join(_words(rng, rng.randint(40, 80)) for _ in range(3))
    (folder / f"a-{number:05d}.md").write_text(
        "---\n"
        f"title: {json.dumps(_words(rng, rng.randint(3, 7)).rstrip('.'), ensure_ascii=False)}\n"
        f"teaser: {json.dumps(_words(rng, 14), ensure_ascii=False)}\n"
        f"category: {CATEGORIES[number % 4]}\n"
        f"tags: {json.dumps(tags, ensure_ascii=False)}\n"
        f"published_at: {moment.isoformat().replace('+00:00', 'Z')}\n"
        "---\n" + paragraphs + "\n", encoding="utf-8")


def _build(folder: Path, calls: Counter[str], site_url: str) -> tuple[float, int, list[str]]:
    """Publish the folder, then time the site build alone: (ms, PUTs, keys put)."""
    from editor.publishing import publish_paths
    from editor.site.build import build_site

    report = publish_paths([folder], site_url=site_url)
    calls.clear()
    start = time.perf_counter()
    site = build_site(report.changed, site_url=site_url, api_url=site_url + "/api")
    return (time.perf_counter() - start) * 1000, calls["PutObject"], site.sync.put


# One query on the real /soeg page: the time from the input event (what a keystroke fires)
# to the results shown and announced, with the page's own 150 ms pause for the next key.
KEYSTROKE = """(query) => new Promise(resolve => {
  const status = document.querySelector('[data-search-status]');
  const input = document.querySelector('[data-search-input]');
  const start = performance.now();
  new MutationObserver((_, observer) => {
    if (status.textContent) { observer.disconnect(); resolve(performance.now() - start); }
  }).observe(status, {childList: true, characterData: true, subtree: true});
  input.value = query;
  input.dispatchEvent(new Event('input', {bubbles: true}));
})"""


def _search_in_browser(address: str, query: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from devtools.search_probe import CHROMIUM
    from editor.site import search

    sizes: dict[str, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--headless"])
        page = browser.new_page()
        page.goto(address + "/soeg")
        page.wait_for_selector("form[data-ready]")

        def finished(request: Any) -> None:
            path = request.url.split("//", 1)[-1].split("/", 1)[-1]
            if path.startswith(search.PREFIXES):  # the archive and the recent index
                sizes[path] = request.sizes()["responseBodySize"]

        page.on("requestfinished", finished)
        cold = page.evaluate(KEYSTROKE, query)
        shown = page.locator("[data-search-results] li").count()
        page.wait_for_timeout(300)
        first = dict(sizes)
        warm = page.evaluate(KEYSTROKE, "lokalsamfund fremtiden")
        browser.close()
    names = {path: path.rsplit("/", 1)[-1] for path in first}
    runtime = sum(size for path, size in first.items() if names[path] in ("pagefind.js", "pagefind-worker.js")
                  or names[path].startswith("wasm."))
    index = sum(first.values()) - runtime
    return {"cold_ms": cold, "warm_ms": warm, "shown": shown, "index_bytes": index, "runtime_bytes": runtime,
            "files": len(first)}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    from devtools import search_probe
    from devtools.stack import aws_stack
    from editor.site import search

    rng = random.Random(17)
    served: dict[str, Any] = {}
    with aws_stack(), search_probe.serve(served) as address:
        from chalicelib.core import aws
        from chalicelib.core.config import get_settings

        calls: Counter[str] = Counter()

        def count_call(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        aws.client("s3").meta.events.register("before-call.s3.*", count_call)
        index_ms: list[float] = []
        original = search.index_objects

        def timed(chosen: search.Plan, texts: Any) -> list[Any]:
            start = time.perf_counter()
            found = original(chosen, texts)
            index_ms.append((time.perf_counter() - start) * 1000)
            return found

        search.index_objects = timed
        first = datetime(2010, 1, 1, 8, tzinfo=UTC)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            for number in range(count):
                _write(folder, number, rng, first + timedelta(hours=17 * number),
                       rng.sample(TAGS, rng.randint(0, 3)))
            start = time.perf_counter()
            full_ms, full_puts, _ = _build(folder, calls, address)
            published_ms = (time.perf_counter() - start) * 1000 - full_ms
            full_index_ms = index_ms[-1]
            _write(folder, count, rng, first + timedelta(hours=17 * count), ["Klima", "Unge"])
            new_ms, _, new_keys = _build(folder, calls, address)
            new_index = [key for key in new_keys if key.startswith(search.PREFIXES)]
            new_pages = sorted(set(new_keys) - set(new_index))
            same_ms, same_puts, _ = _build(folder, calls, address)
            # The next articles one at a time, with the site's mix of tags (0-3): pages PUT each.
            series: list[int] = []
            for number in range(count + 1, count + 1 + SERIES):
                chosen = rng.sample(TAGS, rng.randint(0, 3))
                _write(folder, number, rng, first + timedelta(hours=17 * number), chosen)
                _, _, keys = _build(folder, calls, address)
                series.append(sum(1 for key in keys if not key.startswith(search.PREFIXES)))
            # An editor mends an old article: its page, and the archive's search index made again.
            old = folder / "a-00007.md"
            old.write_text(old.read_text(encoding="utf-8") + "\nEn rettelse om borgerbudgetter.\n",
                           encoding="utf-8")
            edit_ms, _, edit_keys = _build(folder, calls, address)
            edit_index = [key for key in edit_keys if key.startswith(search.PREFIXES)]
            edit_pages = sorted(set(edit_keys) - set(edit_index))

            s3: Any = aws.client("s3")
            bucket = get_settings().bucket
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for entry in page.get("Contents", []):
                    key = entry["Key"]
                    if key == "soeg" or key.startswith(("assets/", *search.PREFIXES)):
                        got = s3.get_object(Bucket=bucket, Key=key)
                        from editor.site.render import SiteObject

                        served[key] = SiteObject(key, got["Body"].read(), got["ContentType"],
                                                 got.get("CacheControl", ""))
            found = _search_in_browser(address, "høringer i kommunen")
    print(f"{count} articles: publish {published_ms:.0f} ms; full build {full_ms:.0f} ms ({full_puts} PUTs, "
          f"search index {full_index_ms:.0f} ms)")
    print(f"one new article: {new_ms:.0f} ms, {len(new_pages)} pages PUT ({', '.join(new_pages)}) "
          f"+ {len(new_index)} search index files")
    print(f"nothing new: {same_ms:.0f} ms, {same_puts} PUTs")
    print(f"the next {SERIES} new articles (0-3 tags each): pages PUT {series}")
    print(f"an old article edited: {edit_ms:.0f} ms, {len(edit_pages)} pages PUT ({', '.join(edit_pages)}) "
          f"+ {len(edit_index)} search index files")
    print(f"search: {found['files']} files, index {found['index_bytes']} B "
          f"+ runtime {found['runtime_bytes']} B; "
          f"keystroke to results {found['cold_ms']:.0f} ms cold, {found['warm_ms']:.0f} ms warm; "
          f"{found['shown']} shown")
    rows = [
        {"figure": f"site build after one new article vs full build ({count} articles)",
         "value": f"{new_ms:.0f} ms", "baseline": f"{full_ms:.0f} ms", "ratio": round(new_ms / full_ms, 4),
         "goal": f"<= {NEW_GOAL}"},
        {"figure": f"pages PUT for one new article ({count} articles; goal {PUT_GOAL})",
         "value": str(len(new_pages)), "baseline": str(full_puts),
         "ratio": round(len(new_pages) / PUT_GOAL, 2), "goal": "<= 1"},
        {"figure": f"pages PUT per new article, the next {SERIES} (0-3 tags: 5 + 2 a tag + pages completed)",
         "value": f"mean {sum(series) / len(series):.1f}, max {max(series)}", "baseline": str(PUT_GOAL),
         "ratio": round(sum(series) / len(series) / PUT_GOAL, 2), "goal": "reported"},
        {"figure": f"site build after an old article's body changed vs full build ({count} articles; "
                   f"pages PUT {len(edit_pages)}, search index files {len(edit_index)})",
         "value": f"{edit_ms:.0f} ms", "baseline": f"{full_ms:.0f} ms", "ratio": round(edit_ms / full_ms, 4),
         "goal": "reported"},
        {"figure": f"search index files PUT for one new article ({count} articles)",
         "value": str(len(new_index)), "baseline": str(full_puts),
         "ratio": round(len(new_index) / full_puts, 4), "goal": "reported"},
        {"figure": f"site build with nothing new vs full build ({count} articles)",
         "value": f"{same_ms:.0f} ms", "baseline": f"{full_ms:.0f} ms", "ratio": round(same_ms / full_ms, 4),
         "goal": f"<= {SAME_GOAL}"},
        {"figure": "PUTs with nothing new", "value": str(same_puts), "baseline": str(full_puts),
         "ratio": 0.0 if not same_puts else 1.0, "goal": "== 0"},
        {"figure": f"search index build vs full build ({count} articles)", "value": f"{full_index_ms:.0f} ms",
         "baseline": f"{full_ms:.0f} ms", "ratio": round(full_index_ms / full_ms, 4), "goal": "reported"},
        {"figure": f"bytes for one query, index entry + meta + chunks + fragments ({count} articles)",
         "value": f"{found['index_bytes'] / 1000:.0f} KB", "baseline": f"{BYTES_GOAL // 1000} KB",
         "ratio": round(found["index_bytes"] / BYTES_GOAL, 3), "goal": "<= 1"},
        {"figure": "bytes of Pagefind's script and WebAssembly (once per visit)",
         "value": f"{found['runtime_bytes'] / 1000:.0f} KB", "baseline": f"{BYTES_GOAL // 1000} KB",
         "ratio": round(found["runtime_bytes"] / BYTES_GOAL, 3), "goal": "reported"},
        {"figure": "keystroke to results in headless Chromium, first query (150 ms typing pause included)",
         "value": f"{found['cold_ms']:.0f} ms", "baseline": "1000 ms",
         "ratio": round(found["cold_ms"] / 1000, 3), "goal": "<= 1"},
    ]
    for row in rows:
        print("BENCH " + json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
