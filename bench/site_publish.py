"""What a site build and a publish with images cost: a first publish against one change.

Against a moto server started here: N articles, every tenth with a lead picture and one in its
body (2400x1600 JPEGs, each its own), are published and the site built from nothing (the
baseline: every page rendered and PUT, every picture's six variants made and PUT). Then:

- one article's body changes, the site is built again (goal: one PutObject, well under the
  full build's time), then nothing changes (goal: no PutObject);
- one picture changes and the whole publish runs (articles, images, site): its six variants
  and the one page showing it are PUT (goal: 7 PUTs), in a fraction of the first publish's
  time, since no other picture is made again.

Wall time, since most of it is waiting for moto (and, for pictures, Pillow).

    .venv/bin/python bench/site_publish.py [articles]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
REGION = "eu-north-1"
TIME_GOAL = 0.25
IMAGE_TIME_GOAL = 0.25
PICTURE_EVERY = 10


def _picture(path: Path, number: int, shade: int = 0) -> None:
    """A photo-sized JPEG, its own for each number (and shade)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (2400, 1600), ((40 * number + shade) % 256, 90, (7 * number) % 256))
    draw = ImageDraw.Draw(image)
    for x in range(0, 2400, 60 + number % 40):
        draw.rectangle([x, 0, x + 25, 1600], fill=(200, (120 + shade) % 256, 40))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=88)


def _write(folder: Path, number: int, body: str) -> None:
    lead = ""
    if number % PICTURE_EVERY == 0:
        lead = f"image: billeder/lead-{number:04d}.jpg\nimage_alt: Billede til artikel {number}\n"
        body += f"\n\n![Et billede i artikel {number}](billeder/body-{number:04d}.jpg)\n"
    (folder / f"a-{number:04d}.md").write_text(
        "---\n"
        f"title: Artikel nummer {number}\n"
        f"teaser: Om borgerdialog, del {number}.\n"
        f"category: {('erfaringer', 'cases', 'metoder', 'udgivelser')[number % 4]}\n"
        f"published_at: 2024-01-01T{number % 24:02d}:{number % 60:02d}:00Z\n"
        + lead + "---\n" + body + "\n", encoding="utf-8")


def _publish(folder: Path, calls: Counter[str]) -> tuple[float, int, int]:
    """The site build after the articles are written: (ms, PUTs of pages, PUTs of search
    index files, which change with any article's text: bench/site_scale.py)."""
    from editor.publishing import publish_paths
    from editor.site.build import build_site
    from editor.site.search import PREFIXES

    report = publish_paths([folder])  # the articles table and pictures: publishing's cost, not the site's
    calls.clear()
    start = time.perf_counter()
    site = build_site(report.changed)
    index = sum(1 for key in site.sync.put if key.startswith(PREFIXES))
    return (time.perf_counter() - start) * 1000, calls["PutObject"] - index, index


def _publish_all(folder: Path, calls: Counter[str]) -> tuple[float, int]:
    """The whole publish, as the command runs it (articles, pictures, site): (ms, PUTs)."""
    from editor.publishing import publish_paths
    from editor.site.build import build_site

    calls.clear()
    start = time.perf_counter()
    report = publish_paths([folder])
    build_site(report.changed)
    return (time.perf_counter() - start) * 1000, calls["PutObject"]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 120
    from devtools.stack import aws_stack

    with aws_stack():
        from chalicelib.core import aws

        calls: Counter[str] = Counter()

        def count_call(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        aws.client("s3").meta.events.register("before-call.s3.*", count_call)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            pictures = 0
            for number in range(count):
                _write(folder, number, f"Tekst {number}. " * 200)
                if number % PICTURE_EVERY == 0:
                    _picture(folder / "billeder" / f"lead-{number:04d}.jpg", number)
                    _picture(folder / "billeder" / f"body-{number:04d}.jpg", number, shade=100)
                    pictures += 2
            from editor.publishing import publish_paths
            from editor.site.build import build_site

            # The first publish: the articles and every picture's variants, then the whole site.
            start = time.perf_counter()
            report = publish_paths([folder])
            articles_ms, picture_puts = (time.perf_counter() - start) * 1000, calls["PutObject"]
            calls.clear()
            start = time.perf_counter()
            build_site(report.changed)
            full_ms, full_puts = (time.perf_counter() - start) * 1000, calls["PutObject"]
            first_ms, first_puts = articles_ms + full_ms, picture_puts + full_puts
            _write(folder, 7, "En ny tekst. " * 200)
            one_ms, one_puts, one_index = _publish(folder, calls)
            same_ms, same_puts, _ = _publish(folder, calls)
            _picture(folder / "billeder" / f"body-{PICTURE_EVERY:04d}.jpg", PICTURE_EVERY, shade=180)
            image_ms, image_puts = _publish_all(folder, calls)
    print(f"{count} articles: full build {full_ms:.0f} ms ({full_puts} PUTs); one body changed "
          f"{one_ms:.0f} ms ({one_puts} PUT + {one_index} search index files); "
          f"nothing changed {same_ms:.0f} ms ({same_puts} PUTs)")
    print(f"{count} articles with {pictures} pictures: first publish {first_ms:.0f} ms ({first_puts} PUTs); "
          f"one picture changed {image_ms:.0f} ms ({image_puts} PUTs)")
    print("BENCH " + json.dumps({"figure": f"site build after one article changed vs full build "
                                           f"({count} articles)", "value": f"{one_ms:.0f} ms",
                                 "baseline": f"{full_ms:.0f} ms", "ratio": round(one_ms / full_ms, 3),
                                 "goal": f"<= {TIME_GOAL}"}))
    print("BENCH " + json.dumps({"figure": "S3 PUTs of pages when one article's body changed (search index "
                                           f"files besides: {one_index})", "value": str(one_puts),
                                 "baseline": str(full_puts), "ratio": round(one_puts / full_puts, 4),
                                 "goal": "1 PUT"}))
    print("BENCH " + json.dumps({"figure": "S3 PUTs when nothing changed", "value": str(same_puts),
                                 "baseline": str(full_puts), "ratio": 0.0 if not same_puts else 1.0,
                                 "goal": "0 PUTs"}))
    print("BENCH " + json.dumps({"figure": f"publish after one picture changed vs first publish ({count} "
                                           f"articles, {pictures} pictures)", "value": f"{image_ms:.0f} ms",
                                 "baseline": f"{first_ms:.0f} ms", "ratio": round(image_ms / first_ms, 3),
                                 "goal": f"<= {IMAGE_TIME_GOAL}"}))
    print("BENCH " + json.dumps({"figure": "S3 PUTs when one picture changed", "value": str(image_puts),
                                 "baseline": str(first_puts), "ratio": round(image_puts / first_puts, 4),
                                 "goal": "7 PUTs (6 variants + its page)"}))


if __name__ == "__main__":
    main()
