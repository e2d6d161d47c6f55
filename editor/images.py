"""Images beside the Markdown: checked, resized, fingerprinted, uploaded once.

An article or page refers to an image by its path from the Markdown file
(``![Borgere ved et bord](billeder/borgermoede.jpg)``) or names a lead image in its front
matter. Publishing makes each image's variants:

- a few widths (``WIDTHS``, never wider than the original), as WebP and as JPEG (PNG when
  the original has transparency), turned upright by its EXIF orientation, converted to sRGB,
  every piece of metadata dropped (EXIF with its GPS position, XMP, comments, profiles);
- under keys made from the original's bytes, ``billeder/<name>-<fingerprint>-<width>.<ext>``,
  served ``immutable`` for a year: a changed image gets new keys, an unchanged one keeps
  its keys, and a key the site manifest already holds is neither made again nor uploaded.

A page shows one as ``<picture>``: a WebP ``srcset``, a JPEG/PNG ``srcset`` for browsers
without WebP, ``sizes`` for the article column, the intrinsic ``width``/``height`` (the
browser keeps the space: no layout shift) and ``loading="lazy"`` below the fold.

Pillow is imported only here, and only when an image is read. See docs/editing.md#images.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chalicelib.site.images import JPEG, PNG, PREFIX, WEBP, ImageSet, Variant

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["PREFIX", "ImageError", "ImageSet", "Plan", "Source", "Variant", "embed", "keys_in", "make",
           "plan", "publish"]

# Bump when what a variant looks like changes (widths, quality, format): every image then
# gets new keys and is made again, and pages point at the new ones.
PIPELINE = "1"
WIDTHS = (480, 960, 1600)
SOURCE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_SOURCE_BYTES = 30_000_000
MAX_SOURCE_PIXELS = 60_000_000  # 60 megapixels: beyond any camera an editor uses
EXTENSIONS = {WEBP: "webp", JPEG: "jpg", PNG: "png"}
OG_WIDTH = 1200  # og:image and the feed take the JPEG/PNG nearest above this


class ImageError(ValueError):
    """An image that cannot be published; the message says which and why."""


@dataclass(frozen=True)
class Source:
    """An image file a Markdown file refers to, read and fingerprinted."""

    path: Path
    digest: str  # of its bytes and PIPELINE: the variants' keys come from it

    @classmethod
    def read(cls, path: Path) -> Source:
        if path.suffix.lower() not in SOURCE_SUFFIXES:
            raise ImageError(f"'{path.name}' is not a JPEG, PNG or WebP file")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"'{path}' does not exist") from None
        except IsADirectoryError:
            raise ImageError(f"'{path}' is a folder, not an image") from None
        except OSError as error:
            raise ImageError(f"'{path}' cannot be read ({error.strerror})") from None
        if len(raw) > MAX_SOURCE_BYTES:
            raise ImageError(f"'{path.name}' is {len(raw) // 1_000_000} MB; at most "
                             f"{MAX_SOURCE_BYTES // 1_000_000} MB (save it smaller)")
        digest = hashlib.sha256(PIPELINE.encode() + b"\0" + raw).hexdigest()
        return cls(path=path, digest=digest)


@dataclass
class Plan:
    """The variants one source becomes (known from its header alone: nothing decoded)."""

    source: Source
    width: int  # upright
    height: int
    variants: list[Variant] = field(default_factory=list)

    def image_set(self, alt: str) -> ImageSet:
        largest = max(self.variants, key=lambda v: v.width)
        return ImageSet(alt=alt, width=largest.width, height=largest.height, variants=tuple(self.variants))


def _open(path: Path) -> PILImage.Image:
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_SOURCE_PIXELS  # larger raises DecompressionBombError
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError(f"'{path.name}' is not an image Pillow can read (is the file damaged?)") from None
    except Image.DecompressionBombError:
        raise ImageError(f"'{path.name}' has more than {MAX_SOURCE_PIXELS // 1_000_000} megapixels") from None
    if image.format not in ("JPEG", "PNG", "WEBP", "MPO"):  # MPO: a phone's JPEG with a depth map
        raise ImageError(f"'{path.name}' is {image.format}, not JPEG, PNG or WebP")
    return image


def _name(path: Path) -> str:
    from chalicelib.articles.slugs import slugify

    return (slugify(path.stem) or "billede")[:60].strip("-") or "billede"


def _has_alpha(image: PILImage.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)


def _damaged(path: Path) -> ImageError:
    return ImageError(f"'{path.name}' is not an image Pillow can read (is the file damaged?)")


def plan(source: Source) -> Plan:
    """The widths and keys of ``source``'s variants, from its header."""
    try:
        with _open(source.path) as image:
            width, height = image.size
            # EXIF orientations 5-8 turn the picture a quarter: width and height swap.
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width
            fallback = PNG if _has_alpha(image) else JPEG
    except (OSError, SyntaxError, ValueError) as problem:
        if isinstance(problem, ImageError):
            raise
        raise _damaged(source.path) from None
    if width < 1 or height < 1:
        raise ImageError(f"'{source.path.name}' has no pixels")
    widths = sorted({w for w in WIDTHS if w < width} | {min(width, WIDTHS[-1])})
    name, short = _name(source.path), source.digest[:12]
    found = Plan(source=source, width=width, height=height)
    for content_type in (WEBP, fallback):
        for target in widths:
            found.variants.append(Variant(
                key=f"{PREFIX}{name}-{short}-{target}.{EXTENSIONS[content_type]}", width=target,
                height=max(1, round(height * target / width)), content_type=content_type))
    return found


def _upright_srgb(path: Path, largest: int) -> PILImage.Image:
    """The picture decoded once, upright, in sRGB, without any metadata left on it."""
    from PIL import Image, ImageCms, ImageOps

    with _open(path) as image:
        if image.format == "JPEG":
            image.draft("RGB", (largest, largest))  # decode at a reduced scale when that suffices
        image.load()
        icc = image.info.get("icc_profile")
        upright = ImageOps.exif_transpose(image)
    mode = "RGBA" if _has_alpha(upright) else "RGB"
    converted = upright.convert(mode)
    if icc:
        # A broken profile: the pixels as they are, read as sRGB.
        with contextlib.suppress(ImageCms.PyCMSError, OSError, ValueError):
            converted = ImageCms.profileToProfile(
                converted, ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB"),
                outputMode=mode) or converted
    clean = Image.new(mode, converted.size)
    clean.paste(converted)  # a new image: no info, EXIF, XMP, comment or profile comes along
    return clean


def make(found: Plan) -> list[tuple[Variant, bytes]]:
    """Every variant of ``found``, encoded. ImageError when the file turns out damaged
    (a header that reads but pixels that do not)."""
    from PIL import Image

    largest = max(v.width for v in found.variants)
    try:
        picture = _upright_srgb(found.source.path, largest)
    except (OSError, SyntaxError, ValueError) as problem:
        if isinstance(problem, ImageError):
            raise
        raise _damaged(found.source.path) from None
    made: list[tuple[Variant, bytes]] = []
    for variant in found.variants:
        sized = picture if picture.width == variant.width else picture.resize(
            (variant.width, variant.height), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = io.BytesIO()
        if variant.content_type == WEBP:
            sized.save(out, "WEBP", quality=80, method=4)
        elif variant.content_type == PNG:
            sized.save(out, "PNG", optimize=True)
        else:
            sized.save(out, "JPEG", quality=82, optimize=True, progressive=True)
        made.append((variant, out.getvalue()))
    return made


# -- references in a page's HTML --------------------------------------------------------------

_IMG = re.compile(r"<img\b[^>]*>")
_ATTRIBUTE = re.compile(r'\b([a-z-]+)="([^"]*)"')
_BLOCK_END = re.compile(r"</(?:p|h[1-6]|ul|ol|blockquote|table|pre|figure)>")


def img_tags(body_html: str) -> list[tuple[re.Match[str], dict[str, str]]]:
    """Every ``<img>`` of sanitised HTML with its attributes, unescaped. nh3 has normalised
    the HTML (double-quoted, escaped attributes), so a regular expression over it is exact."""
    return [(m, {k: html.unescape(v) for k, v in _ATTRIBUTE.findall(m.group(0))})
            for m in _IMG.finditer(body_html)]


def is_local(src: str) -> bool:
    """A path from the Markdown file (``billeder/x.jpg``, ``../billeder/x.jpg``)."""
    return bool(src) and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^/|^#", src)


def embed(body_html: str, images: dict[str, ImageSet], site_url: str, *, has_hero: bool) -> str:
    """Every local ``<img>`` as its ``<picture>``. The first image is loaded at once when it
    is at the top of a page without a lead image (it is in view); every other one lazily."""
    first = True

    def replace(match: re.Match[str]) -> str:
        nonlocal first
        attributes = {k: html.unescape(v) for k, v in _ATTRIBUTE.findall(match.group(0))}
        found = images.get(attributes.get("src", ""))
        if found is None:
            return match.group(0)
        above_the_fold = first and not has_hero and len(_BLOCK_END.findall(body_html[:match.start()])) < 2
        first = False
        return found.picture(site_url, lazy=not above_the_fold)

    return _IMG.sub(replace, body_html)


# -- publishing -------------------------------------------------------------------------------

Progress = Callable[[str, int, int], None]


@dataclass
class ImageReport:
    made: list[str] = field(default_factory=list)  # source files whose variants were made now
    unchanged: list[str] = field(default_factory=list)  # every variant already in the bucket
    put: list[str] = field(default_factory=list)  # keys uploaded
    failed: dict[str, str] = field(default_factory=dict)  # source digest → why it cannot be shown

    def summary(self) -> str:
        return (f"images: {len(self.made)} made ({len(self.put)} variant(s) uploaded), "
                f"{len(self.unchanged)} unchanged")


def publish(plans: Iterable[Plan], *, progress: Progress | None = None) -> ImageReport:
    """Make and upload the variants the site does not have yet, each recorded in the site
    manifest as it lands (one Query to read it, so unchanged images cost no S3 request)."""
    from chalicelib.site.assets import IMMUTABLE
    from editor.site import sync
    from editor.site.render import SiteObject

    report = ImageReport()
    unique = {p.source.digest: p for p in plans}
    if not unique:
        return report
    manifest = sync.Manifest.load()
    missing = [p for p in unique.values() if any(v.key not in manifest.entries for v in p.variants)]
    report.unchanged = sorted(str(p.source.path) for p in unique.values() if p not in missing)
    objects: list[SiteObject] = []

    def attempt(found: Plan) -> list[tuple[Variant, bytes]] | ImageError:
        try:
            return make(found)
        except ImageError as problem:
            return problem

    with ThreadPoolExecutor(max_workers=4) as pool:  # Pillow lets go of the GIL while it codes
        results = zip(missing, pool.map(attempt, missing), strict=True)
        for number, (found, made) in enumerate(results, start=1):
            if isinstance(made, ImageError):
                report.failed[found.source.digest] = str(made)
            else:
                objects.extend(SiteObject(v.key, body, v.content_type, IMMUTABLE) for v, body in made
                               if v.key not in manifest.entries)
            if progress:
                progress("images", number, len(missing))
    report.made = sorted(str(p.source.path) for p in missing if p.source.digest not in report.failed)
    if objects:
        def upload(done: int, total: int) -> None:
            if progress:
                progress("upload", done, total)

        report.put = sync.put_objects(objects, progress=upload)
    return report


def keys_in(body_html: str) -> set[str]:
    """The image keys a page's HTML points at (its ``src`` and ``srcset`` URLs)."""
    return set(re.findall(rf"/({re.escape(PREFIX)}[a-z0-9-]+\.(?:webp|jpg|png))\b", body_html))
