"""How a page shows a picture the editor published: the image set (its variants in the site
bucket) and its ``<picture>`` element. The editor makes the variants (editor/images.py) and
stores the set as JSON with an article's lead image; the site build and the digest mail read
it back from here, so the format has one definition. Pure: no Pillow, no AWS.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

PREFIX = "billeder/"
WEBP, JPEG, PNG = "image/webp", "image/jpeg", "image/png"
# The article column: 42rem wide from 46rem of viewport up, else the viewport less padding.
SIZES = "(min-width: 46rem) 42rem, calc(100vw - 2.5rem)"
# The width a page's src takes (the JPEG/PNG nearest above it).
DEFAULT_WIDTH = 960


@dataclass(frozen=True)
class Variant:
    key: str
    width: int
    height: int
    content_type: str


@dataclass(frozen=True)
class ImageSet:
    """What a page needs to show one image: its alt text, its size and its variants."""

    alt: str
    width: int  # the largest variant's: the intrinsic size the page reserves
    height: int
    variants: tuple[Variant, ...]

    @property
    def fallback_type(self) -> str:
        return PNG if any(v.content_type == PNG for v in self.variants) else JPEG

    def of_type(self, content_type: str) -> list[Variant]:
        return sorted((v for v in self.variants if v.content_type == content_type), key=lambda v: v.width)

    def nearest(self, width: int, content_type: str | None = None) -> Variant:
        """The smallest variant at least ``width`` wide (else the largest), JPEG/PNG by default."""
        found = self.of_type(content_type or self.fallback_type)
        return next((v for v in found if v.width >= width), found[-1])

    def variant_keys(self) -> list[str]:
        return [v.key for v in self.variants]

    def picture(self, site_url: str, *, lazy: bool, hero: bool = False) -> str:
        """The ``<picture>`` element; every value is escaped (alt is the editor's text)."""
        def srcset(content_type: str) -> str:
            return ", ".join(f"{site_url}/{v.key} {v.width}w" for v in self.of_type(content_type))

        fallback = self.fallback_type
        loading = ' loading="lazy"' if lazy else (' fetchpriority="high"' if hero else "")
        return (
            f'<picture><source type="{WEBP}" srcset="{html.escape(srcset(WEBP))}" sizes="{SIZES}">'
            f'<img src="{html.escape(f"{site_url}/{self.nearest(DEFAULT_WIDTH).key}")}" '
            f'srcset="{html.escape(srcset(fallback))}" sizes="{SIZES}" '
            f'width="{self.width}" height="{self.height}" alt="{html.escape(self.alt)}"'
            f'{loading} decoding="async"></picture>'
        )

    def to_json(self) -> str:
        return json.dumps({"alt": self.alt, "width": self.width, "height": self.height,
                           "variants": [[v.key, v.width, v.height, v.content_type] for v in self.variants]},
                          ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ImageSet:
        data: dict[str, Any] = json.loads(text)
        return cls(alt=str(data["alt"]), width=int(data["width"]), height=int(data["height"]),
                   variants=tuple(Variant(str(k), int(w), int(h), str(t)) for k, w, h, t in data["variants"]))
