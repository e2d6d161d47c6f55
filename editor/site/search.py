"""The site's search: a static Pagefind index built at publish time and served from the
bucket like any page, searched in the browser by /soeg (docs/site.md#search).

Pagefind stems Danish ("borgerne" finds "borger"), splits an index into small content-hashed
chunks that the browser fetches for the words it is asked, and keeps one fragment per article
(title, category, date, the text for the excerpt). It cannot amend an index, so the site has
two, merged by the browser (``pagefind.mergeIndex``), anchored like the list pages:

- ``pagefind/``, the archive: every article up to a cut-off, made again only when more than
  ``RECENT_MAX`` articles would be in the recent index or hidden, or on a full rebuild; then
  everything but the newest article goes into it;
- ``pagefind-nyt/``, the articles since the cut-off and the archived ones edited since (as
  they read now): made on every publish, small; with ``skjult.json``, the ids of the archive's
  copies of the edited and the unpublished, which search.js never shows.

So a new article or an edit re-indexes a few hundred articles at most, not 5,000, and only the
files whose bytes changed are PUT (the sync compares digests). The cut-off, and each archived
article's id and digest (``State``), are kept in the build's snapshot. Only what
the search page loads is published: the script, its worker, the Danish WebAssembly, the
entry, meta, index and fragment files (not Pagefind's own UI).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor.site.render import HTML_CACHE, SiteObject

ARCHIVE = "pagefind/"
RECENT = "pagefind-nyt/"
PREFIXES = (ARCHIVE, RECENT)
HIDDEN = RECENT + "skjult.json"
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


@dataclass(frozen=True)
class State:
    """The archive index as the bucket holds it: its cut-off, and for every article in it
    (by URL) Pagefind's id for it (a result's ``id``, its fragment's name) and ``entry_digest``
    of the entry indexed, so a build can tell which archived articles changed or went."""

    cutoff: str
    archived: dict[str, tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"cutoff": self.cutoff, "archived": self.archived}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> State:
        archived = data["archived"]
        return cls(str(data["cutoff"]), {url: (page, digest) for url, (page, digest) in archived.items()})


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


def entry_digest(entry: Entry) -> str:
    return hashlib.sha256(repr(entry).encode("utf-8")).hexdigest()[:16]


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
    # Pagefind ids of archived articles the browser must not show: changed since (the recent
    # index holds them now) or unpublished.
    hidden: list[str]
    cutoff: str
    kept: dict[str, tuple[str, str]]  # State.archived, when the archive stays

    def state(self, objects: list[SiteObject]) -> State:
        """The state after this build, given the index files it made (``index_objects``)."""
        if self.archive is None:
            return State(self.cutoff, self.kept)
        ids = {url: page for page, url in _fragment_urls(objects, ARCHIVE)}
        return State(self.cutoff, {entry.url: (ids.get(entry.url, ""), entry_digest(entry))
                                   for entry in self.archive})


def _fragment_urls(objects: list[SiteObject], prefix: str) -> Iterator[tuple[str, str]]:
    """(Pagefind's page id, the article's URL) of every fragment among ``objects`` under
    ``prefix``: a fragment is gzip'd ``pagefind_dcd`` + JSON naming its page's folder."""
    start = prefix + "fragment/"
    for obj in objects:
        if obj.key.startswith(start):
            data = gzip.decompress(obj.body).removeprefix(b"pagefind_dcd")
            yield obj.key[len(start):].removesuffix(".pf_fragment"), json.loads(data)["url"].rstrip("/")


def plan(entries: list[Entry], state: State | None, *, full: bool = False) -> Plan:
    """``entries`` oldest first; ``state`` as the last build left it. The archive stays unless
    more than ``RECENT_MAX`` articles would be in the recent index or hidden: the articles
    since the cut-off, and the archived ones changed or unpublished since it was made."""
    if state is not None and not full:
        in_range = [entry for entry in entries if entry.order <= state.cutoff]
        since = [entry for entry in entries if entry.order > state.cutoff]
        changed = [entry for entry in in_range
                   if state.archived.get(entry.url, ("", ""))[1] != entry_digest(entry)]
        current = {entry.url for entry in in_range}
        gone = [url for url in state.archived if url not in current]
        hidden = [state.archived[entry.url][0] for entry in changed if entry.url in state.archived]
        hidden += [state.archived[url][0] for url in gone]
        recent = changed + since
        if len(recent) + len(gone) <= RECENT_MAX and (recent or not entries):
            return Plan(archive=None, recent=recent, hidden=sorted(hidden), cutoff=state.cutoff,
                        kept=state.archived)
    archived, recent = (entries[:-1], entries[-1:]) if len(entries) > 1 else ([], entries)
    return Plan(archive=archived, recent=recent, hidden=[], cutoff=archived[-1].order if archived else "",
                kept={})


def hidden_object(chosen: Plan) -> SiteObject:
    """``pagefind-nyt/skjult.json``: the ids search.js drops from the archive's results,
    published with the recent index (and cached as it is)."""
    return SiteObject(HIDDEN, json.dumps(chosen.hidden).encode("utf-8"), _TYPES[".json"], HTML_CACHE)


def index_objects(chosen: Plan, texts: Callable[[list[str]], dict[str, str]]) -> list[SiteObject]:
    """The files of the indexes ``chosen`` makes again, and the hidden ids; ``texts`` gives
    the text of articles by URL (read only for the entries indexed now)."""
    objects: list[SiteObject] = []
    for prefix, entries in ((ARCHIVE, chosen.archive), (RECENT, chosen.recent)):
        if entries is not None:
            objects += index_files(entries, texts([entry.url for entry in entries]), prefix)
    return [*objects, hidden_object(chosen)]
