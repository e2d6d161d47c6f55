"""Search the site's Pagefind index in headless Chromium, the way the search page does:
the index files served from memory over loopback HTTP with the site's own security headers
(the CSP the CDN sends), so a query runs Pagefind's JavaScript and WebAssembly for real.

The Danish query-set test (tests/site/test_search.py) and the search bench
(bench/site_publish.py: bytes per query, keystroke to results) use it; the whole page, with
its script, is tested against the local stack in tests/site/test_browser.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.site.headers import security_headers
from editor.site.render import SiteObject

CHROMIUM = "/usr/bin/chromium"
_PAGE = (b'<!doctype html><html lang="da"><head><meta charset="utf-8"><title>s</title></head>'
         b"<body></body></html>")
# What search.js does for one query: import the index script, merge the recent index, search,
# drop the archive's hidden copies, read the results.
QUERY = r"""async ([query, shown]) => {
  const pagefind = await import('/pagefind/pagefind.js');
  if (!window.merged) {
    window.merged = true;
    const listed = await fetch('/pagefind-nyt/skjult.json');
    window.hidden = new Set(listed.ok ? await listed.json() : []);
    await pagefind.mergeIndex('/pagefind-nyt/');
  }
  const answer = await pagefind.search(query);
  const results = answer.results.filter(r => !window.hidden.has(r.id));
  const found = await Promise.all(results.slice(0, shown).map(r => r.data()));
  return found.map(d => ({url: d.url.replace(/\/$/, ''), title: d.meta.title, excerpt: d.excerpt}));
}"""


@contextmanager
def serve(objects: list[SiteObject] | dict[str, SiteObject]) -> Iterator[str]:
    """An address on 127.0.0.1 serving ``objects`` by key (and a blank Danish page at /). A
    dict is read on each request, so a caller may fill it once it knows the address."""
    by_key = objects if isinstance(objects, dict) else {obj.key: obj for obj in objects}
    headers = security_headers(local_http=True)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            key = self.path.split("?")[0].lstrip("/")
            obj = by_key.get(key)
            body, kind = (obj.body, obj.content_type) if obj else (_PAGE, "text/html; charset=utf-8")
            self.send_response(200 if obj or key == "" else 404)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def browser_page(address: str) -> Iterator[Any]:
    """A Chromium page at ``address``/ (Playwright, the system's chromium, never a download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--headless", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(address + "/")
            yield page
        finally:
            browser.close()


def query(page: Any, text: str, shown: int = 10) -> list[dict[str, str]]:
    """The first ``shown`` results for ``text``: url, title and the excerpt with <mark>."""
    found: list[dict[str, str]] = page.evaluate(QUERY, [text, shown])
    return found
