"""Make the site bucket hold exactly the rendered objects, PUTting only what changed.

The manifest (``editor.site.manifest``) remembers the digest of every object PUT; an
object whose digest is unchanged is not sent again, so publishing the same content twice
costs one Query and no PutObject.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalicelib.core import aws
from chalicelib.core.config import get_settings
from editor.site.manifest import LAYOUT, MANIFEST, RenderedObject
from editor.site.render import SiteObject

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
_DELETE_BATCH = 1000  # S3 DeleteObjects' limit
_PUT_THREADS = 8


@dataclass
class SyncReport:
    put: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return f"{len(self.put)} put, {len(self.deleted)} deleted, {self.unchanged} unchanged"


class Manifest:
    """What the bucket holds, as last written by us: key → digest (and the layout)."""

    def __init__(self, entries: dict[str, str], inputs: dict[str, str] | None = None) -> None:
        self.entries = entries
        self.inputs = inputs or {}  # key → a list page's inputs, where recorded

    @classmethod
    def load(cls) -> Manifest:
        entries: dict[str, str] = {}
        inputs: dict[str, str] = {}
        for item in RenderedObject.query(MANIFEST):
            entries[item.sk] = item.digest
            if item.inputs:
                inputs[item.sk] = item.inputs
        return cls(entries, inputs)

    @property
    def layout(self) -> str | None:
        return self.entries.get(LAYOUT)

    def object_keys(self) -> set[str]:
        return {key for key in self.entries if key != LAYOUT}


def _put(bucket: str, obj: SiteObject) -> SiteObject:
    aws.client("s3").put_object(
        Bucket=bucket, Key=obj.key, Body=obj.body, ContentType=obj.content_type,
        CacheControl=obj.cache_control,
    )
    return obj


def put_objects(objects: list[SiteObject], *, progress: Progress | None = None) -> list[str]:
    """PUT ``objects`` (images: immutable, content-addressed) and record each in the
    manifest as it lands, so a run stopped half-way sends only the rest next time."""
    bucket = get_settings().bucket
    put: list[str] = []
    with ThreadPoolExecutor(max_workers=_PUT_THREADS) as pool, RenderedObject.batch_write() as batch:
        for obj in pool.map(lambda o: _put(bucket, o), objects):
            batch.save(RenderedObject(MANIFEST, obj.key, digest=obj.digest))
            put.append(obj.key)
            if progress:
                progress(len(put), len(objects))
    return put


def sync(
    manifest: Manifest,
    objects: Iterable[SiteObject],
    expected: set[str],
    *,
    layout: str,
    force: bool = False,
    progress: Progress | None = None,
) -> SyncReport:
    """PUT the objects whose digest differs from the manifest, then delete what is no
    longer ``expected``. New pages go up before old ones go away, so a link never points
    at a deleted page while a publish runs."""
    bucket = get_settings().bucket
    report = SyncReport()
    changed: list[SiteObject] = []
    relabelled: list[SiteObject] = []  # the same bytes from new inputs: the manifest learns them
    for obj in objects:
        if force or manifest.entries.get(obj.key) != obj.digest:
            changed.append(obj)
        else:
            report.unchanged += 1
            if obj.inputs and manifest.inputs.get(obj.key) != obj.inputs:
                relabelled.append(obj)
    gone = sorted(manifest.object_keys() - expected)
    total = len(changed) + len(gone)
    done = 0
    with ThreadPoolExecutor(max_workers=_PUT_THREADS) as pool, RenderedObject.batch_write() as batch:
        for obj in pool.map(lambda o: _put(bucket, o), changed):
            batch.save(RenderedObject(MANIFEST, obj.key, digest=obj.digest, inputs=obj.inputs))
            report.put.append(obj.key)
            done += 1
            if progress:
                progress(done, total)
        for obj in relabelled:
            batch.save(RenderedObject(MANIFEST, obj.key, digest=obj.digest, inputs=obj.inputs))
        if manifest.layout != layout:
            batch.save(RenderedObject(MANIFEST, LAYOUT, digest=layout))
    s3 = aws.client("s3")
    for start in range(0, len(gone), _DELETE_BATCH):
        chunk = gone[start:start + _DELETE_BATCH]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})
        with RenderedObject.batch_write() as batch:
            for key in chunk:
                batch.delete(RenderedObject(MANIFEST, key))
        report.deleted.extend(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    log.info("Site synced: %s", report.summary())
    return report
