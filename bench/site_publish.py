"""What a site build costs: the build after a first publish against a one-article change.

Against a moto server started here: N articles are published and the site built from
nothing (the baseline: every page rendered and PUT), then one article's body changes and
the site is built again (goal: one PutObject, well under the full build's time), then
nothing changes (goal: no PutObject). Wall time, since most of it is waiting for moto.

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


def _write(folder: Path, number: int, body: str) -> None:
    (folder / f"a-{number:04d}.md").write_text(
        "---\n"
        f"title: Artikel nummer {number}\n"
        f"teaser: Om borgerdialog, del {number}.\n"
        f"category: {('erfaringer', 'cases', 'metoder', 'udgivelser')[number % 4]}\n"
        f"published_at: 2024-01-01T{number % 24:02d}:{number % 60:02d}:00Z\n"
        "---\n" + body + "\n", encoding="utf-8")


def _publish(folder: Path, calls: Counter[str]) -> tuple[float, int]:
    from editor.publishing import publish_paths
    from editor.site.build import build_site

    report = publish_paths([folder])  # the articles table; its cost is publishing's, not the site's
    calls.clear()
    start = time.perf_counter()
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
            for number in range(count):
                _write(folder, number, f"Tekst {number}. " * 200)
            full_ms, full_puts = _publish(folder, calls)
            _write(folder, 7, "En ny tekst. " * 200)
            one_ms, one_puts = _publish(folder, calls)
            same_ms, same_puts = _publish(folder, calls)
    print(f"{count} articles: full build {full_ms:.0f} ms ({full_puts} PUTs); one body changed "
          f"{one_ms:.0f} ms ({one_puts} PUT); nothing changed {same_ms:.0f} ms ({same_puts} PUTs)")
    print("BENCH " + json.dumps({"figure": f"site build after one article changed vs full build "
                                           f"({count} articles)", "value": f"{one_ms:.0f} ms",
                                 "baseline": f"{full_ms:.0f} ms", "ratio": round(one_ms / full_ms, 3),
                                 "goal": f"<= {TIME_GOAL}"}))
    print("BENCH " + json.dumps({"figure": "S3 PUTs when one article's body changed", "value": str(one_puts),
                                 "baseline": str(full_puts), "ratio": round(one_puts / full_puts, 4),
                                 "goal": "1 PUT"}))
    print("BENCH " + json.dumps({"figure": "S3 PUTs when nothing changed", "value": str(same_puts),
                                 "baseline": str(full_puts), "ratio": 0.0 if not same_puts else 1.0,
                                 "goal": "0 PUTs"}))


if __name__ == "__main__":
    main()
