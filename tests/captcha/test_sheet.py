"""Every test run leaves a fresh contact sheet of 50 pictures in test-artifacts/, with the
answers in a separate file, for a person to read and time themselves (devtools/captcha_sheet.py)."""

from __future__ import annotations

import pytest

from chalicelib.captcha.picture import HEIGHT, WIDTH
from chalicelib.core.config import CAPTCHA_ALPHABET, CAPTCHA_LENGTH
from devtools import captcha_sheet
from tests.support.fixtures import ROOT

pytestmark = pytest.mark.no_aws


def test_a_fresh_contact_sheet_of_50_pictures_at_display_size_and_its_answers() -> None:
    from PIL import Image

    sheet_path, answers_path = captcha_sheet.write_sheet(ROOT / "test-artifacts", 50)
    lines = answers_path.read_text(encoding="utf-8").splitlines()
    assert [line.split()[0] for line in lines] == [str(n) for n in range(1, 51)]
    assert all(len(answer) == CAPTCHA_LENGTH and set(answer) <= set(CAPTCHA_ALPHABET)
               for _, answer in (line.split() for line in lines))
    with Image.open(sheet_path) as sheet:
        gap, label, columns = captcha_sheet.GAP, captcha_sheet.LABEL, captcha_sheet.COLUMNS
        assert sheet.size == (gap + columns * (WIDTH + gap), gap + 10 * (label + HEIGHT + gap))
        for index in range(50):
            x = gap + (index % columns) * (WIDTH + gap)
            y = gap + (index // columns) * (label + HEIGHT + gap) + label
            tile = sheet.crop((x, y, x + WIDTH, y + HEIGHT))
            levels = tile.tobytes()  # "L": a byte a pixel
            assert max(levels) - min(levels) > 150  # a picture, pasted at its own size, not scaled
            assert sheet.getpixel((x + WIDTH + gap // 2, y + HEIGHT // 2)) == 255  # white between
