"""Helpers for the static-site tests: read the bucket, parse pages strictly, find links, call
the local servers over TCP."""

from __future__ import annotations

import http.client
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


def call(base: str, method: str, path: str, *, source: str = "127.0.0.1", body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request to the server at ``base`` from the loopback address ``source`` (Linux
    routes all of 127.0.0.0/8 to lo, so a test can be several visitors)."""
    url = urlsplit(base)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


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


_SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def sitemap_locations(stored: dict[str, Any], site: str = SITE) -> list[str]:
    """Every address the sitemap lists, as a crawler reads it: ``sitemap.xml`` is a sitemap
    index; each file it names is a urlset of this site (checked here). ``stored``: key →
    object with ``body`` (``Stored`` or ``SiteObject``)."""
    from xml.etree import ElementTree

    index = ElementTree.fromstring(stored["sitemap.xml"].body)  # noqa: S314 - our own output
    assert index.tag == f"{_SITEMAP}sitemapindex"
    found: list[str] = []
    for entry in index.iter(f"{_SITEMAP}sitemap"):
        url = entry.findtext(f"{_SITEMAP}loc") or ""
        assert url.startswith(site + "/"), url
        urlset = ElementTree.fromstring(stored[url.removeprefix(site + "/")].body)  # noqa: S314
        assert urlset.tag == f"{_SITEMAP}urlset"
        locations = [loc.text or "" for loc in urlset.iter(f"{_SITEMAP}loc")]
        assert 0 < len(locations) <= 50_000 and all(loc.startswith(site + "/") for loc in locations)
        found += locations
    return found


def write_article(folder: Path, name: str, *, title: str, body: str, category: str = "metoder",
                  status: str = "published", published_at: str = "2024-05-01T09:00:00Z",
                  teaser: str = "En kort teaser.", tags: list[str] | None = None) -> Path:
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
        + (f"tags: {json.dumps(tags, ensure_ascii=False)}\n" if tags else "")
        + "---\n" + body + "\n",
        encoding="utf-8",
    )
    return path


# OWASP's classic vectors: as article text they must reach the page as text, never markup.
XSS_VECTORS = [
    "<script>window.__xss = 1</script>",
    "<SCRIPT SRC=https://xss.example/xss.js></SCRIPT>",
    '<img src="https://xss.example/x.png" alt="Et billede" onerror="window.__xss = 1">',
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>">',
    "<svg/onload=alert('XSS')>",
    "<BODY ONLOAD=alert('XSS')>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">klik</a>',
    '<a href="  JaVaScRiPt:alert(1)">klik 2</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">data</a>',
    "[markdown-link](javascript:alert(1))",
    '<div style="background-image: url(javascript:alert(1))">stil</div>',
    '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>',
    '<form action="javascript:alert(1)"><button>send</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    '<TABLE><TD BACKGROUND="javascript:alert(\'XSS\')">',
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
]
# Vectors that leave an <img> without alt text or with an address that is no image beside the
# file once sanitised: publishing refuses the file, naming each one's line (editor/content.py).
XSS_IMAGE_VECTORS = [
    '<img src="x" onerror="window.__xss = 1">',
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>",
    '<IMG SRC="jav&#x09;ascript:alert(\'XSS\');">',
]
