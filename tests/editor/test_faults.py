"""Publishing under AWS faults: whichever call of a publish (the articles table, then the
site's render and sync to the bucket) fails, the CLI says so and exits 75, nothing is
half-written, and running the same command again ends where a run without the fault ends.

Faults are injected at the app's botocore clients (tests/support/faults.py); every other
call goes to moto server as usual.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.articles.model import Article
from editor import cli
from tests.support.faults import (
    BY_SERVICE,
    SLOW_DOWN,
    THROTTLING,
    THROUGHPUT,
    Fault,
    FaultInjector,
    case_id,
)

DYNAMODB_FAULTS = BY_SERVICE["dynamodb"]


ARTICLE = """---
title: {title}
teaser: En kort tekst.
category: metoder
---
Brødtekst om {title}.
"""


def _articles() -> dict[str, tuple[str, str]]:
    return {a.slug: (a.title, a.body_html) for a in Article.scan()}  # a test may scan


@pytest.mark.parametrize("fault", DYNAMODB_FAULTS, ids=lambda f: f.code)
@pytest.mark.parametrize("failing_call", [0, 1, 2, 3], ids=lambda n: f"call{n}")
def test_publish_under_throttling_fails_cleanly_and_a_rerun_finishes_it(
    tmp_path: Path, faults: FaultInjector, capsys: pytest.CaptureFixture[str],
    fault: Fault, failing_call: int,
) -> None:
    """Publishing two articles starts with four DynamoDB calls (GetItem, PutItem each);
    whichever fails, the CLI says so and exits 75, each article is whole or absent, and
    running the same command again ends exactly where a run without the fault would."""
    _write_articles(tmp_path)
    faults.inject("dynamodb.*", fault, after=failing_call)

    assert cli.main(["publish", str(tmp_path)]) == cli.EX_TEMPFAIL
    assert "run publish again" in capsys.readouterr().err
    assert faults.injected
    faults.clear()
    partial = _articles()
    assert len(partial) == failing_call // 2  # calls before the fault wrote whole articles
    assert all(body.startswith("<p>Brødtekst om ") for _, body in partial.values())

    assert cli.main(["publish", str(tmp_path)]) == 0
    _assert_site_is_whole()
    assert _articles() == {
        "borgerpaneler": ("Borgerpaneler", "<p>Brødtekst om Borgerpaneler.</p>"),
        "dialogmoeder": ("Dialogmøder", "<p>Brødtekst om Dialogmøder.</p>"),
    }


def _write_articles(folder: Path, *, draft: str | None = None) -> None:
    for title in ("Borgerpaneler", "Dialogmøder"):
        text = ARTICLE.format(title=title)
        if title == draft:
            text = text.replace("category: metoder\n", "category: metoder\nstatus: draft\n")
        (folder / f"{title}.md").write_text(text, encoding="utf-8")


def _assert_site_is_whole() -> None:
    """The manifest names exactly the objects in the bucket, with their real digests, and a
    full render finds nothing to change: the bucket is what a run without faults leaves."""
    from editor.site.build import build_site
    from editor.site.manifest import LAYOUT, MANIFEST, RenderedObject
    from editor.site.render import SiteObject
    from tests.support.site import bucket_objects

    stored = {key: obj for key, obj in bucket_objects().items() if not key.startswith("captcha/")}
    manifest = {item.sk: item.digest for item in RenderedObject.query(MANIFEST) if item.sk != LAYOUT}
    assert set(stored) == set(manifest)
    for key, obj in stored.items():
        assert SiteObject(key, obj.body, obj.content_type, obj.cache_control).digest == manifest[key], key
    again = build_site([], full=True)
    # A full render also removes the search index files superseded by a publish (kept until
    # then for the pages and entry file caches still hold: editor/site/build.py).
    assert again.sync.put == [] and all(key.startswith(("pagefind/", "pagefind-nyt/")) for key in again.sync.deleted)


# A first publish of two articles: GetItem + PutItem each, then the site: Query (published
# index), Query (manifest), BatchGetItem (bodies), one PutObject per object (18), one
# BatchWriteItem (manifest). Unpublishing one later adds DeleteObjects + BatchWriteItem.
SITE_FAULTS = [
    ("dynamodb.Query", 0, THROTTLING), ("dynamodb.Query", 1, THROUGHPUT),
    ("dynamodb.BatchGetItem", 0, THROUGHPUT), ("s3.PutObject", 0, SLOW_DOWN),
    ("s3.PutObject", 9, SLOW_DOWN), ("dynamodb.BatchWriteItem", 0, THROTTLING),
    ("dynamodb.BatchWriteItem", 0, THROUGHPUT),
]
UNPUBLISH_FAULTS = [("s3.DeleteObjects", 0, SLOW_DOWN), ("dynamodb.BatchWriteItem", 1, THROUGHPUT)]


@pytest.mark.parametrize("case", SITE_FAULTS, ids=lambda case: "-".join(map(case_id, case)))
def test_site_rendering_under_faults_fails_cleanly_and_a_rerun_makes_it_whole(
    tmp_path: Path, faults: FaultInjector, capsys: pytest.CaptureFixture[str],
    case: tuple[str, int, Fault],
) -> None:
    call, after, fault = case
    _write_articles(tmp_path)
    faults.inject(call, fault, after=after)
    assert cli.main(["publish", str(tmp_path)]) == cli.EX_TEMPFAIL
    err = capsys.readouterr().err
    assert "run the same command again" in err and "Traceback" not in err
    assert faults.injected, f"{call} #{after} was never made: update SITE_FAULTS"
    faults.clear()

    assert cli.main(["publish", str(tmp_path)]) == 0
    _assert_site_is_whole()


@pytest.mark.parametrize(("call", "after", "fault"), UNPUBLISH_FAULTS, ids=case_id)
def test_unpublishing_under_faults_fails_cleanly_and_a_rerun_removes_the_page(
    tmp_path: Path, faults: FaultInjector, call: str, after: int, fault: Fault,
) -> None:
    from tests.support.site import bucket_objects

    _write_articles(tmp_path)
    assert cli.main(["publish", str(tmp_path)]) == 0
    _write_articles(tmp_path, draft="Dialogmøder")
    faults.inject(call, fault, after=after)
    assert cli.main(["publish", str(tmp_path)]) == cli.EX_TEMPFAIL
    assert faults.injected, f"{call} #{after} was never made: update UNPUBLISH_FAULTS"
    faults.clear()

    assert cli.main(["publish", str(tmp_path)]) == 0
    _assert_site_is_whole()
    assert not any("dialogmoeder" in key for key in bucket_objects())
