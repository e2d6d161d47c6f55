"""The CAPTCHA picture: the answer drawn by the ``captcha`` package's ImageCaptcha as PNG.

Pillow and ``captcha`` are imported on first use only, so routes that draw nothing (and
``import app``) never load them; the drawer and its fonts are then kept for the process.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from captcha.image import ImageCaptcha

WIDTH, HEIGHT = 200, 70


@lru_cache(maxsize=1)
def _drawer() -> ImageCaptcha:
    from captcha.image import ImageCaptcha

    return ImageCaptcha(width=WIDTH, height=HEIGHT)


def render_png(answer: str) -> bytes:
    """A fresh PNG of ``answer`` (random distortion, noise and colours every call)."""
    return _drawer().generate(answer, format="png").getvalue()
