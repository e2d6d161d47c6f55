"""The CAPTCHA picture: the answer drawn by the ``captcha`` package's ImageCaptcha as PNG.

Pillow and ``captcha`` are imported on first use only, so routes that draw nothing (and
``import app``) never load them; the drawer and its fonts are then kept for the process.

The drawing is ImageCaptcha's (per-character offset, rotation and quad warp, overlap,
noise dots, a noise arc, smoothing) with one change of medium: glyphs are drawn as
greyscale masks instead of RGBA images. Pillow premultiplies and converts back an RGBA
image on every bilinear rotate and warp, which was most of the time; a mask needs none of
that, and a grey picture (dark text on a light ground, good contrast for weak eyes)
encodes to a PNG about half the size. Colour adds nothing a bot cannot undo.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from captcha.image import ImageCaptcha

WIDTH, HEIGHT = 200, 70
FONT_SIZES = (40, 46, 52)
# Grey levels: the text dark grey, the ground near white. (Never 0: generate_image takes
# a falsy colour as "pick a random RGBA one", which a grey image cannot take.)
INK = (10, 90)
GROUND = (235, 255)
# zlib level 1: these small noisy images compress barely better at higher levels.
PNG_COMPRESS_LEVEL = 1


def _between(bounds: tuple[int, int]) -> int:
    low, high = bounds
    return low + secrets.randbelow(high - low + 1)


@lru_cache(maxsize=1)
def _drawer() -> ImageCaptcha:
    from captcha.image import ImageCaptcha
    from PIL import Image, ImageDraw

    class GreyImageCaptcha(ImageCaptcha):
        """ImageCaptcha with glyphs as "L" masks (see the module docstring)."""

        def _draw_character(self, c: str, draw: Any, color: Any) -> Image.Image:
            font = secrets.choice(self.truefonts)
            _, _, w, h = draw.multiline_textbbox((1, 1), c, font=font)
            dx1 = _between(self.character_offset_dx)
            dy1 = _between(self.character_offset_dy)
            im = Image.new("L", (int(w) + dx1, int(h) + dy1), 0)
            ImageDraw.Draw(im).text((dx1, dy1), c, font=font, fill=255)
            box = im.getbbox()
            if box:
                im = im.crop(box)
            low, high = self.character_rotate
            im = im.rotate(low + secrets.randbits(32) / 2**32 * (high - low),
                           Image.Resampling.BILINEAR, expand=True)
            # The quad warp, as ImageCaptcha does it.
            dx2 = w * (secrets.randbits(32) / 2**32) * (
                self.character_warp_dx[1] - self.character_warp_dx[0]) + self.character_warp_dx[0]
            dy2 = h * (secrets.randbits(32) / 2**32) * (
                self.character_warp_dy[1] - self.character_warp_dy[0]) + self.character_warp_dy[0]
            x1, x2 = (int(secrets.randbits(32) / 2**32 * 2 * dx2 - dx2) for _ in range(2))
            y1, y2 = (int(secrets.randbits(32) / 2**32 * 2 * dy2 - dy2) for _ in range(2))
            w2, h2 = int(w) + abs(x1) + abs(x2), int(h) + abs(y1) + abs(y2)
            quad = (x1, y1, -x1, h2 - y2, w2 + x2, h2 + y2, w2 - x2, -y1)
            im = im.resize((w2, h2))
            return im.transform((int(w), int(h)), Image.Transform.QUAD, quad)

        def create_captcha_image(self, chars: str, color: Any, background: Any) -> Image.Image:
            image = Image.new("L", (self._width, self._height), background)
            draw = ImageDraw.Draw(image)
            masks: list[Image.Image] = []
            for c in chars:
                if secrets.randbits(32) / 2**32 > self.word_space_probability:
                    masks.append(self._draw_character(" ", draw, color))
                masks.append(self._draw_character(c, draw, color))
            text_width = sum(mask.size[0] for mask in masks)
            width = max(text_width, self._width)
            image = image.resize((width, self._height))
            average = int(text_width / len(chars))
            rand = int(self.word_offset_dx * average)
            offset = int(average * 0.1)
            for mask in masks:
                w, h = mask.size
                image.paste(color, (offset, int((self._height - h) / 2), offset + w,
                                    int((self._height - h) / 2) + h), mask)
                offset = offset + w - secrets.randbelow(rand + 1)
            if width > self._width:
                image = image.resize((self._width, self._height))
            return image

    return GreyImageCaptcha(width=WIDTH, height=HEIGHT, font_sizes=FONT_SIZES)


def render_png(answer: str) -> bytes:
    """A fresh PNG of ``answer`` (random distortion, noise and grey levels every call)."""
    import io

    drawer: Any = _drawer()
    image = drawer.generate_image(answer, bg_color=_between(GROUND), fg_color=_between(INK))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()
