"""Helpers for the static-site tests: read the bucket, parse pages strictly, find links."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SITE = "https://borgerdialog.test"
API = "https://borgerdialog.test/api"


@dataclass(frozen=True)
class Stored:
    key: str
    body: bytes
    content_type: str
    cache_control: str


def bucket_objects() -> dict[str, Stored]:
    from chalicelib.core import aws
    from chalicelib.core.config import get_settings

    s3: Any = aws.client("s3")
    bucket = get_settings().bucket
    found: dict[str, Stored] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=entry["Key"])
            found[entry["Key"]] = Stored(entry["Key"], got["Body"].read(), got["ContentType"],
                                         got.get("CacheControl", ""))
    return found


def parse_html(body: bytes) -> Any:
    """Strict HTML5 parsing: any parse error raises html5lib's ParseError."""
    import html5lib

    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False)
    return parser.parse(body.decode("utf-8"))


def links(document: Any) -> list[tuple[str, str, str]]:
    """(tag, attribute, value) for every URL-bearing attribute."""
    found: list[tuple[str, str, str]] = []
    for element in document.iter():
        for attribute in ("href", "src", "action", "formaction", "data", "poster"):
            value = element.get(attribute)
            if value is not None:
                found.append((str(element.tag), attribute, value))
    return found


def key_for(url: str) -> str | None:
    """The bucket key a site URL is served from, or None when it is not a site page."""
    if not url.startswith(SITE + "/") or url.startswith(API + "/"):
        return None
    path = urlsplit(url).path
    return "index.html" if path == "/" else path.lstrip("/")


def write_article(folder: Path, name: str, *, title: str, body: str, category: str = "metoder",
                  status: str = "published", published_at: str = "2024-05-01T09:00:00Z",
                  teaser: str = "En kort teaser.") -> Path:
    import json

    path = folder / f"{name}.md"
    path.write_text(
        "---\n"
        f"title: {json.dumps(title, ensure_ascii=False)}\n"
        f"slug: {name}\n"
        f"teaser: {json.dumps(teaser, ensure_ascii=False)}\n"
        f"category: {category}\n"
        f"status: {status}\n"
        f"published_at: {published_at}\n"
        "---\n" + body + "\n",
        encoding="utf-8",
    )
    return path
