"""Pictures for the image tests, made with Pillow: a photo-like JPEG that carries what a
phone's photo carries (EXIF with a GPS position and a camera, an orientation, a comment, an
ICC profile), and a PNG with transparency."""

from __future__ import annotations

from pathlib import Path

GPS_IFD = 0x8825
MAKE, ORIENTATION = 0x010F, 0x0112


def photo(path: Path, size: tuple[int, int] = (2400, 1600), *, orientation: int = 1,
          colour: tuple[int, int, int] = (30, 90, 140)) -> Path:
    """A striped JPEG of ``size`` as stored (before the orientation turns it)."""
    from PIL import Image, ImageCms, ImageDraw

    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 80):
        draw.rectangle([x, 0, x + 40, size[1]], fill=(200, 120, 40))
    exif = Image.Exif()
    exif[MAKE] = "Telefonkamera"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (55.0, 38.0, 0.0), 3: "E", 4: (12.0, 28.0, 0.0)})
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=90, exif=exif.tobytes(), icc_profile=srgb, comment=b"Hvidovre, 2011")
    return path


def transparent_png(path: Path, size: tuple[int, int] = (900, 600)) -> Path:
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse([50, 50, size[0] - 50, size[1] - 50], fill=(11, 79, 113, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
    return path
