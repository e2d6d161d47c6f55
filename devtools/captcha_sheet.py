"""A contact sheet of fresh CAPTCHA pictures, for a person to check how readable they are.

    .venv/bin/python -m devtools.captcha_sheet [count=50] [folder=test-artifacts]

Writes ``captcha-sheet.png`` (the pictures numbered, each at its own pixel size, as the
signup page shows it) and, separately, ``captcha-sheet-answers.txt``. To measure yourself:
open the PNG at 100 % zoom, time yourself writing down what you read for each picture,
once, without going back; only then open the answers and count the exact matches (the goal
is 95 %: docs/captcha.md#reading-it-yourself). The test run writes a fresh sheet too
(tests/captcha/test_sheet.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHEET = "captcha-sheet.png"
ANSWERS = "captcha-sheet-answers.txt"
COLUMNS = 5
GAP = 12  # pixels between pictures
LABEL = 14  # pixels above each picture for its number


def write_sheet(folder: Path, count: int = 50) -> tuple[Path, Path]:
    """The sheet and its answers for ``count`` fresh pictures; returns their paths."""
    import io

    from PIL import Image, ImageDraw

    from chalicelib.captcha.challenges import random_answer
    from chalicelib.captcha.picture import HEIGHT, WIDTH, render_png

    answers = [random_answer() for _ in range(count)]
    rows = (count + COLUMNS - 1) // COLUMNS
    sheet = Image.new("L", (GAP + COLUMNS * (WIDTH + GAP), GAP + rows * (LABEL + HEIGHT + GAP)), 255)
    draw = ImageDraw.Draw(sheet)
    for index, answer in enumerate(answers):
        x = GAP + (index % COLUMNS) * (WIDTH + GAP)
        y = GAP + (index // COLUMNS) * (LABEL + HEIGHT + GAP)
        draw.text((x, y), str(index + 1), fill=0)
        with Image.open(io.BytesIO(render_png(answer))) as picture:
            sheet.paste(picture, (x, y + LABEL))  # as it is: never scaled
    folder.mkdir(parents=True, exist_ok=True)
    sheet_path, answers_path = folder / SHEET, folder / ANSWERS
    sheet.save(sheet_path)
    answers_path.write_text("".join(f"{index + 1} {answer}\n" for index, answer in enumerate(answers)),
                            encoding="utf-8")
    return sheet_path, answers_path


def main(argv: list[str]) -> int:
    count = int(argv[0]) if argv else 50
    folder = Path(argv[1]) if len(argv) > 1 else ROOT / "test-artifacts"
    sheet, answers = write_sheet(folder, count)
    print(f"{count} pictures: {sheet}\nanswers (read them last): {answers}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
