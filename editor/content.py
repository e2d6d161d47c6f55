"""Editors' articles: Markdown files with YAML front matter, parsed and validated.

Everything here is pure (no AWS): the publisher decides what to write. Markdown and nh3
are imported only when a body is rendered, so the API's cold start never pays for them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml

from chalicelib.articles import categories, slugs

MAX_FILE_BYTES = 1_000_000
MAX_TITLE = 200
MAX_TEASER = 500
MAX_TAGS = 20
FIELDS = {"title", "slug", "teaser", "category", "tags", "author", "status", "published_at"}
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


def _split_front_matter(text: str, name: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ContentError(f"{name}: the file must start with front matter between '---' lines")
    for number, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:number]), "".join(lines[number + 1:])
    raise ContentError(f"{name}: the front matter has no closing '---' line")


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
    head, body = _split_front_matter(text, name)
    try:
        meta = yaml.safe_load(head)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise ContentError(f"{name}: the front matter is not valid YAML{where}") from error
    if not isinstance(meta, dict):
        raise ContentError(f"{name}: the front matter must be 'key: value' lines")
    unknown = sorted(str(key) for key in meta if key not in FIELDS)
    if unknown:
        raise ContentError(f"{name}: unknown front matter field(s) {', '.join(unknown)}; "
                           f"known are {', '.join(sorted(FIELDS))}")
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

    fingerprint = json.dumps([sorted((str(k), str(v)) for k, v in meta.items()), body])
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
        content_hash=hashlib.sha256(fingerprint.encode()).hexdigest(),
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
