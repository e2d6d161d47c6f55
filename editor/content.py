"""Editors' articles: Markdown files with YAML front matter, parsed and validated.

Everything here is pure (no AWS): the publisher decides what to write. Markdown and nh3
are imported only when a body is rendered, so the API's cold start never pays for them.

Images are checked here too (``editor.images``): every image needs alt text, and one given
by its path from the file (``billeder/x.jpg``) must be a JPEG, PNG or WebP that exists; a
problem names the file and the line. Their fingerprints are part of the content hash, so
an article whose picture changed is published again although its text did not.
The helpers for front matter and images serve pages too (``editor.pages``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import yaml

from chalicelib.articles import categories, slugs

if TYPE_CHECKING:
    from editor.images import ImageSet, Plan

MAX_FILE_BYTES = 1_000_000
MAX_TITLE = 200
MAX_TEASER = 500
MAX_TAGS = 20
FIELDS = {"title", "slug", "teaser", "category", "tags", "author", "status", "published_at", "image",
          "image_alt"}
MAX_ALT = 300
# Where pages live: a Markdown file in a folder of this name is a page (editor/pages.py).
PAGES_FOLDER = "sider"
_IMAGE_SYNTAX = re.compile(r"!\[|<img\b", re.IGNORECASE)
REQUIRED = ("title", "teaser", "category")
STATUSES = ("published", "draft")

# What an article body may contain after sanitising: text structure, links, images.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "em", "figcaption", "figure", "h2", "h3",
    "h4", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody",
    "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}


class ContentError(ValueError):
    """A file that cannot be published; the message names the file and the problem."""


@dataclass(frozen=True)
class ImageRef:
    """An image of this site's a file refers to: in its body or as its lead image."""

    src: str  # as written: "billeder/borgermoede.jpg"
    alt: str
    line: int  # in the file, for messages
    plan: Plan  # the variants it becomes (editor.images)

    def image_set(self) -> ImageSet:
        return self.plan.image_set(self.alt)


@dataclass(frozen=True)
class ArticleSource:
    path: Path
    slug: str
    title: str
    teaser: str
    category: str
    tags: list[str]
    author: str | None
    status: str
    published_at: datetime | None
    body_md: str
    content_hash: str
    warnings: list[str] = field(default_factory=list)
    # The body as sanitised HTML, local images still as the <img> Markdown made of them.
    body_html: str = ""
    images: list[ImageRef] = field(default_factory=list)
    lead: ImageRef | None = None

    def all_images(self) -> list[ImageRef]:
        return [*self.images, *([self.lead] if self.lead else [])]


def render_markdown(source: str) -> str:
    """Markdown to HTML that is safe to show: nh3 drops scripts, handlers, unsafe URLs."""
    import markdown
    import nh3

    html = markdown.markdown(source, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def split_front_matter(text: str, name: str) -> tuple[str, str, int]:
    """(front matter, body, the file's line number of the body's first line)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ContentError(f"{name}: the file must start with front matter between '---' lines")
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:number]), "".join(lines[number + 1:]), number + 2
    raise ContentError(f"{name}: the front matter has no closing '---' line")


def read_front_matter(path: Path, fields: set[str]) -> tuple[dict[str, Any], str, str, int]:
    """Read ``path``: (front matter, its text, body, the body's first line). Raises
    ContentError naming the file for anything unreadable or a field not in ``fields``."""
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ContentError(f"{name}: cannot be read ({error.strerror})") from error
    if len(raw) > MAX_FILE_BYTES:
        raise ContentError(f"{name}: is {len(raw)} bytes; at most {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ContentError(f"{name}: is not UTF-8 (byte {error.start})") from error
    head, body, body_line = split_front_matter(text, name)
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise ContentError(f"{name}: the front matter is not valid YAML{where}") from error
    if not isinstance(meta, dict):
        raise ContentError(f"{name}: the front matter must be 'key: value' lines")
    unknown = sorted(str(key) for key in meta if key not in fields)
    if unknown:
        raise ContentError(f"{name}: unknown front matter field(s) {', '.join(unknown)}; "
                           f"known are {', '.join(sorted(fields))}")
    return meta, head, body, body_line


def _image(path: Path, src: str, alt: str, line: int) -> ImageRef:
    """The image ``src`` (a path from ``path``) with its variants planned; ContentError if
    it cannot be shown."""
    from editor import images

    where = f"{path}, line {line}"
    if not images.is_local(src):
        raise ContentError(f"{where}: '{src}' is not a path from this file to an image beside it "
                           "(e.g. billeder/borgermoede.jpg)")
    try:
        found = images.plan(images.Source.read((path.parent / unquote(src)).resolve()))
    except images.ImageError as problem:
        raise ContentError(f"{where}: {problem}") from None
    return ImageRef(src=src, alt=alt, line=line, plan=found)


def body_images(path: Path, body: str, body_line: int, body_html: str) -> list[ImageRef]:
    """Every image in the body: alt text required; this site's must exist beside the file,
    an image at an http(s) address is the author's choice (the build reports one on the
    site's own address that the bucket does not hold). Raises ContentError naming the file and
    the line of each problem."""
    from editor import images

    problems: list[str] = []
    found: list[ImageRef] = []
    lines = body.splitlines()
    tags = images.img_tags(body_html)
    # Where each image is written: the n-th "![" or "<img" of the source is the n-th <img>
    # when the counts agree (no image syntax inside code); else where its address is.
    written = [n for n, text in enumerate(lines) for _ in _IMAGE_SYNTAX.finditer(text)]
    searched_from = 0
    for number, (_, attributes) in enumerate(tags):
        src = attributes.get("src", "")
        alt = " ".join(attributes.get("alt", "").split())
        if len(written) == len(tags):
            offset: int | None = written[number]
        else:
            offsets = [n for n, text in enumerate(lines) if src and src in text]
            offset = next((n for n in offsets if n >= searched_from), offsets[0] if offsets else None)
        line = body_line + (offset if offset is not None else 0)
        if offset is not None:
            searched_from = offset
        where = f"{path}, line {line}"
        shown = src or "(no address)"
        if not alt:
            problems.append(f"{where}: the image '{shown}' has no alt text; write what it shows "
                            f"between the brackets: ![Borgere ved et bord]({shown})")
            continue
        if len(alt) > MAX_ALT:
            problems.append(f"{where}: the alt text of '{shown}' is {len(alt)} characters; at most {MAX_ALT}")
            continue
        if not src:
            problems.append(f"{where}: an image without an address")
        elif src.startswith("/"):
            problems.append(f"{where}: '{src}' is an address on the site; write the path from this file "
                            f"to the image instead, e.g. {src.lstrip('/')}")
        elif images.is_local(src):
            try:
                found.append(_image(path, src, alt, line))
            except ContentError as problem:
                problems.append(str(problem))
        elif not src.startswith(("https://", "http://")):
            problems.append(f"{where}: '{src}' must be a path to an image beside the file or an "
                            "https address")
    if problems:
        raise ContentError("; ".join(problems))
    return found


def lead_image(path: Path, meta: dict[str, Any], head: str) -> ImageRef | None:
    """The front matter's ``image`` with its ``image_alt``, or None."""
    src, alt = meta.get("image"), meta.get("image_alt")
    line = next((n for n, text in enumerate(head.splitlines(), start=2) if text.startswith("image:")), 1)
    if src is None:
        if alt is not None:
            raise ContentError(f"{path}, line {line}: 'image_alt' without an 'image'")
        return None
    if not isinstance(src, str) or not src.strip():
        raise ContentError(f"{path}, line {line}: 'image' must be the path to an image, e.g. "
                           "billeder/borgermoede.jpg")
    if not isinstance(alt, str) or not alt.strip():
        raise ContentError(f"{path}, line {line}: the lead image '{src}' has no alt text; add "
                           "'image_alt:' with what it shows")
    alt = " ".join(alt.split())
    if len(alt) > MAX_ALT:
        raise ContentError(f"{path}, line {line}: 'image_alt' is {len(alt)} characters; at most {MAX_ALT}")
    return _image(path, src.strip(), alt, line)


def fingerprint(meta: dict[str, Any], body: str, refs: list[ImageRef]) -> str:
    """The content hash: front matter, body and (when there are any) the images' bytes."""
    parts: list[Any] = [sorted((str(k), str(v)) for k, v in meta.items()), body]
    if refs:
        parts.append(sorted(ref.plan.source.digest for ref in refs))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _text(meta: dict[str, Any], key: str, name: str, limit: int) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ContentError(f"{name}: '{key}' must be a non-empty text")
    value = " ".join(value.split())
    if len(value) > limit:
        raise ContentError(f"{name}: '{key}' is {len(value)} characters; at most {limit}")
    return value


def _timestamp(value: Any, name: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(9, 0))
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as error:
            raise ContentError(
                f"{name}: 'published_at' {value!r} is not a date like 2012-03-01T09:00:00Z"
            ) from error
    else:
        raise ContentError(f"{name}: 'published_at' must be a date like 2012-03-01T09:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse(path: Path) -> ArticleSource:
    """Read and validate one article file. Raises ContentError naming the file."""
    name = str(path)
    meta, head, body, body_line = read_front_matter(path, FIELDS)
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        raise ContentError(f"{name}: missing front matter field(s) {', '.join(missing)}")

    title = _text(meta, "title", name, MAX_TITLE)
    teaser = _text(meta, "teaser", name, MAX_TEASER)
    category = meta["category"]
    if not isinstance(category, str) or not categories.is_category(category):
        known = ", ".join(c.slug for c in categories.all_categories())
        raise ContentError(f"{name}: unknown category {category!r}; use one of {known}")
    slug = meta.get("slug") or slugs.slugify(title)
    if not isinstance(slug, str) or not slugs.is_slug(slug):
        raise ContentError(f"{name}: slug {slug!r} must be lower-case a-z, 0-9 and hyphens")
    tags = meta.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise ContentError(f"{name}: 'tags' must be a list of texts")
    if len(tags) > MAX_TAGS:
        raise ContentError(f"{name}: {len(tags)} tags; at most {MAX_TAGS}")
    author = meta.get("author")
    if author is not None and (not isinstance(author, str) or not author.strip()):
        raise ContentError(f"{name}: 'author' must be a text")
    status = meta.get("status", "published")
    if status not in STATUSES:
        raise ContentError(f"{name}: status {status!r} must be 'published' or 'draft'")
    published_at = _timestamp(meta["published_at"], name) if meta.get("published_at") else None
    if not body.strip():
        raise ContentError(f"{name}: the article has no body below the front matter")
    body_html = render_markdown(body)
    refs = body_images(path, body, body_line, body_html)
    lead = lead_image(path, meta, head)

    return ArticleSource(
        path=path,
        slug=slug,
        title=title,
        teaser=teaser,
        category=category,
        tags=[" ".join(t.split()) for t in tags],
        author=author.strip() if author else None,
        status=status,
        published_at=published_at,
        body_md=body.strip() + "\n",
        content_hash=fingerprint(meta, body, [*refs, *([lead] if lead else [])]),
        body_html=body_html,
        images=refs,
        lead=lead,
    )


def discover(paths: list[Path]) -> list[Path]:
    """The Markdown files named, or found below the folders named, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*.md")) if p.name.lower() != "readme.md")
        else:
            found.append(path)
    return found


_ROOT_LINK = re.compile(r'(<a\b[^>]*\bhref=")/(?!/)')


def finished_html(body_html: str, refs: list[ImageRef], site_url: str, *, has_hero: bool) -> str:
    """The body as it is stored and shown: its local images as ``<picture>`` on the site,
    and links written from the site's root (``[privatlivspolitik](/privatlivspolitik)``)
    made absolute, so they hold in the API's answer and in a preview's address alike."""
    from editor import images

    pictured = images.embed(body_html, {ref.src: ref.image_set() for ref in refs}, site_url,
                            has_hero=has_hero)
    return _ROOT_LINK.sub(lambda match: f"{match.group(1)}{site_url}/", pictured)


def stored_hash(content_hash: str, body_html: str, refs: list[ImageRef], site_url: str) -> str:
    """The content hash as stored: with the site's address when the stored HTML holds it
    (pictures, links from the root), so a new SITE_URL publishes those bodies again."""
    if not refs and not _ROOT_LINK.search(body_html):
        return content_hash
    return hashlib.sha256(f"{content_hash}\n{site_url}".encode()).hexdigest()


def is_page(path: Path) -> bool:
    """A page (about, privacy policy …) rather than an article: it lives in a ``sider`` folder."""
    return path.parent.name == PAGES_FOLDER
