"""The CAPTCHA picture: the answer drawn with the ``captcha`` package's ImageCaptcha glyphs.

What a person needs (docs/captcha.md#the-picture):

- shown at its own pixel size, ``WIDTH`` × ``HEIGHT`` (the page gives width and height and
  never scales it);
- one character a tile, each rotated and warped a little (ImageCaptcha's own steps, milder:
  the strong warps and overlaps made W look like VV and M like N), no dots or short arcs
  that can pass for a character;
- ink against its ground at WCAG AA contrast or better: dark on light tiles, light on dark
  tiles (``contrast_ratio`` of the worst tones is over 7:1).

What stops cheap programs (bench/captcha_attacks.py, an OCR attack with tesseract):

- two or three of the five tiles are dark with light characters, the others light with dark
  ones, so no single threshold or inversion turns the picture into dark text on white;
- one long wavy stroke, as wide as the glyphs' own strokes and in the ink of each tile,
  runs through every character: filters that remove thin lines or dots cannot tell it from
  a letter, and it joins the characters, so segmenting them fails. A person sees one line
  through the word and reads past it.

Pillow and ``captcha`` are imported on first use only, so routes that draw nothing (and
``import app``) never load them; the drawer and its fonts are then kept for the process.
Glyphs are drawn as greyscale masks, not RGBA images: Pillow premultiplies and converts
back an RGBA image on every rotate and warp, which was most of the time.
"""

from __future__ import annotations

import math
import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from captcha.image import ImageCaptcha
    from PIL import Image

WIDTH, HEIGHT = 240, 80
FONT_SIZES = (44, 48, 52)
# Grey levels of the two tones (either may be the ground: the other is then the ink). The
# worst pair, 225 against 60, still has a contrast of 8.4:1 (WCAG AA asks 4.5:1 for text).
LIGHT = (225, 250)
DARK = (25, 60)
# The stroke through the text: as wide as a glyph's stroke at these font sizes, so no
# filter that keeps the glyphs removes it. (4 pixels let OCR read 1.7 % of 300 pictures,
# 5 pixels 0.3 %; a second stroke stopped OCR entirely but hid parts of the characters from
# people, so there is one.)
STROKE_WIDTH = 5
STROKES = 1
STROKE_AMPLITUDE = (6.0, 14.0)  # pixels up and down
STROKE_PERIOD = (120.0, 260.0)  # pixels per wave
JITTER_Y = 6  # pixels a character may sit above or below the middle
# How many of the five tiles are dark: two or three, never all alike.
DARK_TILES = (2, 3)
# zlib level 1: these pictures compress barely better at higher levels.
PNG_COMPRESS_LEVEL = 1


def _between(bounds: tuple[int, int]) -> int:
    low, high = bounds
    return low + secrets.randbelow(high - low + 1)


def _uniform(low: float, high: float) -> float:
    return low + secrets.randbits(32) / 2**32 * (high - low)


def relative_luminance(grey: int) -> float:
    """WCAG 2 relative luminance of a grey level 0-255."""
    channel = grey / 255
    return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4


def contrast_ratio(first: int, second: int) -> float:
    """WCAG 2 contrast ratio of two grey levels (1 to 21)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@lru_cache(maxsize=1)
def _drawer() -> ImageCaptcha:
    from captcha.image import ImageCaptcha
    from PIL import Image, ImageDraw

    class GlyphCaptcha(ImageCaptcha):
        """ImageCaptcha's per-character drawing as an "L" mask, with milder distortion."""

        # Rotation and warp: ImageCaptcha's defaults (±30°, warps of 10-30 %) made people
        # read K as X and M as N; these keep each glyph's shape.
        character_rotate = (-15, 15)
        character_warp_dx = (0.0, 0.1)
        character_warp_dy = (0.0, 0.1)

        def glyph(self, char: str) -> Image.Image:
            font = secrets.choice(self.truefonts)
            probe = ImageDraw.Draw(Image.new("L", (1, 1)))
            _, _, width, height = probe.multiline_textbbox((0, 0), char, font=font)
            mask = Image.new("L", (int(width) + 2, int(height) + 2), 0)
            ImageDraw.Draw(mask).text((1, 1), char, font=font, fill=255)
            box = mask.getbbox()
            if box:
                mask = mask.crop(box)
            low, high = self.character_rotate
            mask = mask.rotate(_uniform(low, high), Image.Resampling.BICUBIC, expand=True)
            # The quad warp, as ImageCaptcha does it.
            w, h = mask.size
            dx = w * _uniform(*self.character_warp_dx)
            dy = h * _uniform(*self.character_warp_dy)
            x1, x2 = (int(_uniform(-dx, dx)) for _ in range(2))
            y1, y2 = (int(_uniform(-dy, dy)) for _ in range(2))
            w2, h2 = w + abs(x1) + abs(x2), h + abs(y1) + abs(y2)
            quad = (x1, y1, -x1, h2 - y2, w2 + x2, h2 + y2, w2 - x2, -y1)
            mask = mask.resize((w2, h2), Image.Resampling.BICUBIC)
            return mask.transform((w, h), Image.Transform.QUAD, quad, Image.Resampling.BICUBIC)

    return GlyphCaptcha(width=WIDTH, height=HEIGHT, font_sizes=FONT_SIZES)


def _dark_tiles(count: int) -> list[bool]:
    while True:  # a few draws at most: most patterns of five have two or three dark tiles
        pattern = [bool(secrets.randbits(1)) for _ in range(count)]
        if DARK_TILES[0] <= sum(pattern) <= DARK_TILES[1]:
            return pattern


def draw(answer: str) -> Image.Image:
    """A fresh picture of ``answer`` ("L" mode): random glyphs, tiles, stroke and tones."""
    from PIL import Image, ImageDraw

    drawer: Any = _drawer()
    light, dark = _between(LIGHT), _between(DARK)
    tiles = _dark_tiles(len(answer))
    cell = WIDTH / len(answer)
    # Tile edges a little off the grid, so they do not line up from picture to picture.
    edges = [0, *(round(cell * i) + secrets.randbelow(7) - 3 for i in range(1, len(answer))), WIDTH]
    dark_ground = Image.new("L", (WIDTH, HEIGHT), 0)  # 255 where a tile is dark
    shade = ImageDraw.Draw(dark_ground)
    for index, is_dark in enumerate(tiles):
        if is_dark:
            shade.rectangle((edges[index], 0, edges[index + 1] - 1, HEIGHT), fill=255)

    ink = Image.new("L", (WIDTH, HEIGHT), 0)  # how much of each pixel is ink
    for index, char in enumerate(answer):
        glyph = drawer.glyph(char)
        centre_x = (edges[index] + edges[index + 1]) / 2 + _uniform(-3, 3)
        centre_y = HEIGHT / 2 + _uniform(-JITTER_Y, JITTER_Y)
        ink.paste(255, (int(centre_x - glyph.width / 2), int(centre_y - glyph.height / 2)), glyph)
    for _ in range(STROKES):
        amplitude, period = _uniform(*STROKE_AMPLITUDE), _uniform(*STROKE_PERIOD)
        phase, middle = _uniform(0, 2 * math.pi), HEIGHT / 2 + _uniform(-8, 8)
        wave = [(x, middle + amplitude * math.sin(phase + 2 * math.pi * x / period))
                for x in range(-3, WIDTH + 4, 3)]
        ImageDraw.Draw(ink).line(wave, fill=255, width=STROKE_WIDTH, joint="curve")

    light_plane = Image.new("L", (WIDTH, HEIGHT), light)
    dark_plane = Image.new("L", (WIDTH, HEIGHT), dark)
    on_light = Image.composite(dark_plane, light_plane, ink)
    on_dark = Image.composite(light_plane, dark_plane, ink)
    return Image.composite(on_dark, on_light, dark_ground)


def render_png(answer: str) -> bytes:
    """A fresh PNG of ``answer`` (see :func:`draw`)."""
    import io

    out = io.BytesIO()
    draw(answer).save(out, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return out.getvalue()
