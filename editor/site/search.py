"""The site's search: a static Pagefind index built at publish time and served from the
bucket like any page, searched in the browser by /soeg (docs/site.md#search).

Pagefind stems Danish ("borgerne" finds "borger"), splits an index into small content-hashed
chunks that the browser fetches for the words it is asked, and keeps one fragment per article
(title, category, date, the text for the excerpt). It cannot amend an index, so the site has
two, merged by the browser (``pagefind.mergeIndex``), anchored like the list pages:

- ``pagefind/``, the archive: every article up to a cut-off, rebuilt only when one of those
  changes or is unpublished, when the recent index grows past ``RECENT_MAX``, or on a full
  rebuild; then everything but the newest article goes into it;
- ``pagefind-nyt/``, the recent articles since the cut-off: rebuilt on every publish, small.

So a new article re-indexes a few hundred articles at most, not 5,000, and only the files
whose bytes changed are PUT (the sync compares digests). The cut-off and the digest of what
the archive holds are one item (``SearchState``). Only what the search page loads is
published: the script, its worker, the Danish WebAssembly, the entry, meta, index and
fragment files (not Pagefind's own UI).
"""

from __future__ import annotations

import hashlib
import html
import re
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.core.config import get_settings
from chalicelib.core.models import StageTable
from editor.site.render import HTML_CACHE, SiteObject

ARCHIVE = "pagefind/"
RECENT = "pagefind-nyt/"
PREFIXES = (ARCHIVE, RECENT)
RECENT_MAX = 200
LANGUAGE = "da"
# An index cannot be empty: a site with fewer than two articles gets this page in the
# archive, a word nobody types, which search.js never shows.
PLACEHOLDER_URL = "/soeg"
# Content-hashed names (Pagefind's own): a browser may keep them forever.
IMMUTABLE = "public, max-age=31536000, immutable"
_HASHED = (".pf_index", ".pf_fragment", ".pf_meta", ".pf_filter")
_PUBLISHED = re.compile(r"^(pagefind\.js|pagefind-worker\.js|pagefind-entry\.json|wasm\.da\.pagefind"
                        r"|pagefind\.[\w-]+\.pf_meta|(index|fragment|filter)/[\w-]+\.pf_\w+)$")
_TYPES = {".js": "text/javascript; charset=utf-8", ".json": "application/json"}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Entry:
    """One article as an index holds it; ``digest`` stands for its text (kept by the build)."""

    url: str        # from the site's root: /artikler/<slug>
    title: str
    category: str   # its label
    date: str       # "3. maj 2024"
    published: str  # ISO, seconds, Z
    digest: str     # of the text

    @property
    def order(self) -> str:
        return f"{self.published} {self.url}"


class SearchState(Model):
    """Where the archive index ends, and the digest of the entries it holds."""

    class Meta(StageTable):
        table_name = get_settings().site_table

    pk = UnicodeAttribute(hash_key=True)   # always STATE
    sk = UnicodeAttribute(range_key=True)  # always "#search"
    cutoff = UnicodeAttribute()            # Entry.order of the newest archived article
    digest = UnicodeAttribute()            # entries_digest of the archived entries


STATE = "site#state"
_SK = "#search"


def plain_text(body_html: str) -> str:
    """The body's words without markup, for the index."""
    text = _TAG.sub(" ", body_html.replace("</p>", "\n").replace("<br>", "\n"))
    return " ".join(html.unescape(text).split())


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def pack(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def unpack(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8")


def entries_digest(entries: Iterable[Entry]) -> str:
    hasher = hashlib.sha256()
    for entry in entries:
        hasher.update(repr(entry).encode("utf-8"))
    return hasher.hexdigest()


def _page(entry: Entry, text: str) -> str:
    """The article as Pagefind reads it: the title and text to index, the rest as metadata."""
    meta = "".join(f'<meta data-pagefind-meta="{name}:{html.escape(value.replace(",", " "), quote=True)}">'
                   for name, value in (("category", entry.category), ("date", entry.date),
                                       ("published", entry.published)))
    title = html.escape(entry.title)
    return (f'<!doctype html><html lang="{LANGUAGE}"><head><meta charset="utf-8"><title>{title}</title>'
            f"{meta}</head><body><main data-pagefind-body><h1>{title}</h1>"
            f"<p>{html.escape(text)}</p></main></body></html>")


def index_files(entries: list[Entry], texts: dict[str, str], prefix: str) -> list[SiteObject]:
    """Pagefind's command over one small page per article (``<url>/index.html``, so a result's
    address is ``<url>/``). Its Python API answers one call per 100 ms (it polls), minutes at
    5,000 articles; the command reads a folder of them in seconds."""
    from pagefind.service import get_executable

    executable = get_executable()
    if executable is None:
        raise RuntimeError("Pagefind's binary is missing: install editor/requirements.txt (pagefind[bin])")
    with tempfile.TemporaryDirectory(prefix="pagefind-") as tmp:
        site, output = Path(tmp) / "site", Path(tmp) / "out"
        pages = [(entry, texts.get(entry.url, entry.title)) for entry in entries] or [
            (Entry(PLACEHOLDER_URL, "Søg", "", "", "", ""), "soegeindeks")]
        for entry, text in pages:
            folder = site / entry.url.strip("/")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "index.html").write_text(_page(entry, text), encoding="utf-8")
        subprocess.run([str(executable), "--site", str(site), "--output-path", str(output),
                        "--force-language", LANGUAGE, "--silent"], check=True, capture_output=True)
        objects: list[SiteObject] = []
        for path in sorted(output.rglob("*")):
            name = path.relative_to(output).as_posix()
            if not path.is_file() or not _PUBLISHED.match(name):
                continue
            cache = IMMUTABLE if path.suffix in _HASHED else HTML_CACHE
            objects.append(SiteObject(prefix + name, path.read_bytes(),
                                      _TYPES.get(path.suffix, "application/octet-stream"), cache))
    return objects


@dataclass
class Plan:
    """Which index a build makes again (``archive`` None: as the bucket holds it)."""

    archive: list[Entry] | None
    recent: list[Entry]
    state: tuple[str, str]  # (cutoff, digest) after this build


def plan(entries: list[Entry], state: tuple[str, str] | None, *, full: bool = False) -> Plan:
    """``entries`` oldest first; ``state`` (cutoff, digest) as the last build left it."""
    if state is not None and not full:
        cutoff, digest = state
        archived = [entry for entry in entries if entry.order <= cutoff]
        recent = entries[len(archived):]
        if entries_digest(archived) == digest and len(recent) <= RECENT_MAX and (recent or not entries):
            return Plan(archive=None, recent=recent, state=state)
    archived, recent = (entries[:-1], entries[-1:]) if len(entries) > 1 else ([], entries)
    cutoff = archived[-1].order if archived else ""
    return Plan(archive=archived, recent=recent, state=(cutoff, entries_digest(archived)))


def load_state() -> tuple[str, str] | None:
    try:
        item = SearchState.get(STATE, _SK, consistent_read=True)
    except DoesNotExist:
        return None
    return str(item.cutoff), str(item.digest)


def save_state(state: tuple[str, str]) -> None:
    SearchState(STATE, _SK, cutoff=state[0], digest=state[1]).save()


def index_objects(chosen: Plan, texts: Callable[[list[str]], dict[str, str]]) -> list[SiteObject]:
    """The files of the indexes ``chosen`` makes again; ``texts`` gives the text of articles
    by URL (read only for the entries indexed now)."""
    objects: list[SiteObject] = []
    for prefix, entries in ((ARCHIVE, chosen.archive), (RECENT, chosen.recent)):
        if entries is not None:
            objects += index_files(entries, texts([entry.url for entry in entries]), prefix)
    return objects
