"""Preview one article or page before it is public: ``borgerdialog preview content/x.md``.

The file is rendered, draft or not, by the site's own renderer and templates, its images
made as publishing makes them, the footer from the pages beside it (``sider/``), so what the
editor sees is the published look. Nothing is written to the articles table, the pages or
the public site.

- By default it is served on ``127.0.0.1`` (a free port) with the site's security headers,
  as the CDN serves the site, until Ctrl-C. Every request of the page reads the file again:
  save, reload the browser, see the change. No stack is needed.
- ``--upload`` puts it on the stack's site instead, for colleagues to read: under
  ``preview/<128 random bits>/`` in the site bucket (page, images, assets), every page
  ``noindex``, the page itself ``no-store``. The address is unguessable and linked from
  nowhere; on AWS the bucket's lifecycle rule ``expire-preview`` (infra/template.yaml)
  deletes it after a day. The site manifest never records it, so no build touches it.

See docs/editing.md#preview.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from editor import content

if TYPE_CHECKING:
    from editor.progress import Output
    from editor.site.render import SiteObject

PREFIX = "preview/"
PAGE_CACHE = "private, no-store"


@dataclass(frozen=True)
class Rendered:
    objects: dict[str, SiteObject]
    page_key: str  # the previewed page's key
    status: str  # "draft" | "published"


def _footer_pages(path: Path) -> list[Any]:
    """The published pages beside the file, as the footer would list them once published."""
    from editor import pages
    from editor.site import render

    folder = path.parent if content.is_page(path) else path.parent / content.PAGES_FOLDER
    found = []
    for candidate in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        try:
            page = pages.parse(candidate)
        except content.ContentError:
            continue  # a broken page is publish's to report; the preview shows the others
        if page.status == "published" or candidate.resolve() == path.resolve():
            found.append(page)
    found.sort(key=lambda page: (page.order, page.title, page.slug))
    return [render.Page(slug=p.slug, title=p.title, description=p.description, body_html=p.body_html,
                        footer=p.footer, footer_label=p.footer_label, updated_on=p.updated_on,
                        contact=p.contact) for p in found]


class _Images:
    """Variants made once per source for the life of the preview."""

    def __init__(self) -> None:
        self._made: dict[str, list[SiteObject]] = {}

    def objects(self, refs: list[content.ImageRef]) -> list[SiteObject]:
        from chalicelib.site.assets import IMMUTABLE
        from editor import images
        from editor.site.render import SiteObject

        found: list[SiteObject] = []
        for ref in refs:
            digest = ref.plan.source.digest
            if digest not in self._made:
                self._made[digest] = [SiteObject(v.key, body, v.content_type, IMMUTABLE)
                                      for v, body in images.make(ref.plan)]
            found.extend(self._made[digest])
        return found


def render_file(path: Path, site_url: str, api_url: str, made: _Images | None = None) -> Rendered:
    """The previewed page, its images and the assets, as objects keyed as on the site."""
    from dataclasses import replace

    from chalicelib.core.clock import utcnow
    from editor import pages
    from editor.site import render

    made = made or _Images()
    footer = _footer_pages(path)
    if content.is_page(path):
        source = pages.parse(path)
        refs = source.all_images()
        image_objects = made.objects(refs)
        body = content.finished_html(source.body_html, source.images, site_url, has_hero=False)
        view = render.Page(slug=source.slug, title=source.title, description=source.description,
                           body_html=body, footer=source.footer, footer_label=source.footer_label,
                           updated_on=source.updated_on, contact=source.contact)
        footer = [view if page.slug == view.slug else page for page in footer]
        renderer = render.Renderer(site_url=site_url, api_url=api_url, summaries=[], pages=footer,
                                   known_images={o.key for o in image_objects}, preview=True)
        page_object = renderer.page_object(view)
        status = source.status
    else:
        article = content.parse(path)
        refs = article.all_images()
        image_objects = made.objects(refs)
        body = content.finished_html(article.body_html, article.images, site_url,
                                     has_hero=article.lead is not None)
        summary = render.Summary(slug=article.slug, title=article.title, teaser=article.teaser,
                                 category=article.category, published_at=article.published_at or utcnow())
        renderer = render.Renderer(site_url=site_url, api_url=api_url, summaries=[], pages=footer,
                                   known_images={o.key for o in image_objects}, preview=True)
        page_object, _ = renderer.article_object(render.FullArticle(
            summary=summary, body_html=body, author=article.author, tags=article.tags,
            lead=article.lead.image_set() if article.lead else None))
        status = article.status
    page_object = replace(page_object, cache_control=PAGE_CACHE)
    objects = {obj.key: obj for obj in [*renderer.asset_objects(), *image_objects, page_object]}
    return Rendered(objects=objects, page_key=page_object.key, status=status)


# -- served locally ---------------------------------------------------------------------------


def port_of(server: Any) -> int:
    return int(server.server_address[1])


def serve(path: Path, port: int = 0) -> tuple[ThreadingHTTPServer, str]:
    """A server on 127.0.0.1 that renders ``path`` again on every request of its page."""
    from chalicelib.site.headers import security_headers

    made = _Images()
    state: dict[str, Rendered] = {}
    lock = threading.Lock()
    headers = security_headers(local_http=True)

    def current(site_url: str, fresh: bool) -> Rendered:
        with lock:
            if fresh or "last" not in state:
                state["last"] = render_file(path, site_url, f"{site_url}/api", made)
            return state["last"]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site_url = f"http://127.0.0.1:{port_of(self.server)}"
            key = self.path.split("?", 1)[0].lstrip("/")
            try:
                rendered = current(site_url, fresh=key in ("", "index.html") or not key.startswith(
                    ("assets/", "billeder/")))
            except content.ContentError as problem:
                self._answer(422, "text/plain; charset=utf-8", f"{problem}\n".encode(), "no-store")
                return
            if key in ("", "index.html"):
                self.send_response(302)
                self.send_header("Location", f"{site_url}/{rendered.page_key}")
                self.end_headers()
                return
            found = rendered.objects.get(key)
            if found is None:
                self._answer(404, "text/plain; charset=utf-8",
                             "Forhåndsvisningen viser kun den ene side.\n".encode(), "no-store")
                return
            self._answer(200, found.content_type, found.body, found.cache_control)

        def _answer(self, status: int, content_type: str, body: bytes, cache: str) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", cache)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the editor's terminal shows the address and problems, not every request

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    site_url = f"http://127.0.0.1:{port_of(server)}"
    rendered = current(site_url, fresh=True)  # problems in the file show now, not in the browser
    return server, f"{site_url}/{rendered.page_key}"


# -- uploaded to the stack's site ---------------------------------------------------------------


def upload_preview(path: Path, output: Output,
                   token: Callable[[], str] = lambda: secrets.token_urlsafe(16)) -> str:
    """Put the preview under a private prefix of the site bucket; returns its address."""
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    settings = get_settings()
    prefix = f"{PREFIX}{token()}/"
    base = f"{settings.site_url}/{prefix.rstrip('/')}"
    rendered = render_file(path, base, settings.api_url)
    s3 = aws.client("s3")
    objects = list(rendered.objects.values())
    for number, obj in enumerate(objects, start=1):
        s3.put_object(Bucket=settings.bucket, Key=prefix + obj.key, Body=obj.body,
                      ContentType=obj.content_type, CacheControl=obj.cache_control)
        output.step("upload", number, len(objects))
    return f"{base}/{rendered.page_key}"


def run(path: Path, output: Output, *, upload: bool, port: int) -> int:
    """The ``preview`` command."""
    if not path.is_file() or path.suffix.lower() != ".md":
        output.error(f"{path} is not a Markdown file")
        return 2
    try:
        if upload:
            address = upload_preview(path, output)
            print(f"Preview of {path}: {address}", flush=True)
            print("Only whoever has this address sees it; it is not listed anywhere, search engines are "
                  "told to skip it, and on AWS it is deleted after a day.", flush=True)
            return 0
        server, address = serve(path, port)
    except content.ContentError as problem:
        output.rejected(str(problem))
        return 1
    print(f"Preview of {path}: {address}", flush=True)
    print("Nothing is published. Save the file and reload the page to see a change; Ctrl-C stops.",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
