"""Images beside the Markdown: variants made once and uploaded once, metadata gone, alt text
required, <picture> with srcset, sizes, width/height and lazy loading, a lead image as hero,
og:image, feed and digest picture (editor/images.py)."""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest

from chalicelib.articles.model import Article
from editor import cli, images
from editor.publishing import Report, publish_paths
from editor.site.build import BuildReport, build_site
from tests.support.images import GPS_IFD, photo, transparent_png
from tests.support.site import API, SITE, bucket_objects, parse_html

ARTICLE = """---
title: Borgerpaneler i praksis
slug: borgerpaneler
teaser: Sådan kom tre kommuner i gang.
category: metoder
published_at: 2024-05-01T09:00:00Z
{lead}---
Et **borgerpanel** er en gruppe borgere.

![Borgere omkring et bord i Hvidovre](billeder/moede.jpg)

Mere tekst om paneler.

![Et panel i gang](billeder/panel.png)
"""
LEAD = "image: billeder/forside.jpg\nimage_alt: Et fyldt borgermøde i en gymnastiksal\n"


def write(folder: Path, *, lead: bool = False, text: str = ARTICLE) -> Path:
    photo(folder / "billeder" / "moede.jpg")
    transparent_png(folder / "billeder" / "panel.png")
    if lead:
        photo(folder / "billeder" / "forside.jpg", (1800, 1200), colour=(120, 40, 40))
    path = folder / "borgerpaneler.md"
    path.write_text(text.format(lead=LEAD if lead else ""), encoding="utf-8")
    return path


def publish(folder: Path) -> tuple[Report, BuildReport]:
    report = publish_paths([folder], site_url=SITE)
    assert not report.rejected, report.rejected
    return report, build_site(report.changed, site_url=SITE, api_url=API)


def image_keys() -> dict[str, str]:
    return {key: obj.content_type for key, obj in bucket_objects().items() if key.startswith("billeder/")}


def test_variants_are_made_once_and_uploaded_once(tmp_path: Path, aws_calls: Counter[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path)
    made: list[str] = []
    real_make = images.make

    def counted(plan: images.Plan) -> list[tuple[images.Variant, bytes]]:
        made.append(plan.source.path.name)
        return real_make(plan)

    monkeypatch.setattr(images, "make", counted)

    first, _ = publish(tmp_path)
    stored = image_keys()
    # The photo: 480, 960 and 1600 px (never wider than its 2400), WebP and JPEG; the PNG
    # with transparency: 480 and its own 900, WebP and PNG.
    assert sorted(made) == ["moede.jpg", "panel.png"]
    assert len([k for k in stored if "moede" in k]) == 6 and len([k for k in stored if "panel" in k]) == 4
    assert {re.sub(r".*-(\d+)\.(\w+)$", r"\1.\2", k) for k in stored if "moede" in k} == {
        "480.webp", "960.webp", "1600.webp", "480.jpg", "960.jpg", "1600.jpg"}
    assert {re.sub(r".*-(\d+)\.(\w+)$", r"\1.\2", k) for k in stored if "panel" in k} == {
        "480.webp", "900.webp", "480.png", "900.png"}
    assert set(stored.values()) == {"image/webp", "image/jpeg", "image/png"}
    objects = bucket_objects()
    assert all(objects[key].cache_control == "public, max-age=31536000, immutable" for key in stored)
    assert first.images.put and sorted(first.images.made) == sorted(
        str(tmp_path / "billeder" / name) for name in ("moede.jpg", "panel.png"))

    # Nothing changed: nothing made, nothing uploaded, not even the article page.
    made.clear()
    aws_calls.clear()
    second, site = publish(tmp_path)
    assert made == [] and aws_calls["s3.PutObject"] == 0
    assert second.images.put == [] and len(second.images.unchanged) == 2
    assert second.unchanged == ["borgerpaneler"] and site.sync.put == []


def test_a_changed_image_is_uploaded_again_under_new_keys(tmp_path: Path, aws_calls: Counter[str]) -> None:
    write(tmp_path)
    publish(tmp_path)
    before = set(image_keys())
    photo(tmp_path / "billeder" / "moede.jpg", colour=(10, 130, 60))  # the same name, a new picture
    aws_calls.clear()
    report, site = publish(tmp_path)
    after = set(image_keys())
    fresh = sorted(after - before)
    assert len(fresh) == 6 and all("moede" in key for key in fresh)  # only the changed image
    assert sorted(report.images.put) == fresh
    assert report.updated == ["borgerpaneler"]  # the text did not change; its picture did
    assert aws_calls["s3.PutObject"] == 6 + len(site.sync.put)
    body = Article.get("borgerpaneler").body_html
    assert all(key in body for key in fresh if key.endswith((".webp", ".jpg")))
    assert before & after == before  # the old ones stay for pages still cached


def test_the_page_shows_pictures_with_srcset_sizes_dimensions_and_lazy_loading(tmp_path: Path) -> None:
    write(tmp_path)
    publish(tmp_path)
    page = bucket_objects()["artikler/borgerpaneler"].body
    document = parse_html(page)  # strict HTML5
    pictures = list(document.iter("picture"))
    assert len(pictures) == 2
    stored = image_keys()
    for picture, width, height, loading in zip(pictures, (1600, 900), (1067, 600), (None, "lazy"),
                                               strict=True):
        source, img = picture.find("source"), picture.find("img")
        assert source.get("type") == "image/webp" and img.get("sizes") == source.get("sizes")
        assert "42rem" in img.get("sizes")
        assert (img.get("width"), img.get("height")) == (str(width), str(height))
        assert img.get("alt") and img.get("loading") == loading  # the first is in view: eager
        for srcset in (source.get("srcset"), img.get("srcset")):
            candidates = [part.strip().split(" ") for part in srcset.split(",")]
            assert all(url.startswith(f"{SITE}/billeder/") and url[len(SITE) + 1:] in stored
                       and descriptor.endswith("w") for url, descriptor in candidates)
        assert img.get("src")[len(SITE) + 1:] in stored
    assert pictures[0].find("img").get("alt") == "Borgere omkring et bord i Hvidovre"


def test_variants_carry_no_metadata_and_stand_upright(tmp_path: Path) -> None:
    from PIL import Image

    photo(tmp_path / "billeder" / "moede.jpg", (1200, 800), orientation=6)  # a phone held upright
    plan = images.plan(images.Source.read(tmp_path / "billeder" / "moede.jpg"))
    assert (plan.width, plan.height) == (800, 1200)
    made = images.make(plan)
    assert {(v.width, v.height) for v, _ in made} == {(480, 720), (800, 1200)}
    for variant, body in made:
        with Image.open(io.BytesIO(body)) as picture:
            assert picture.size == (variant.width, variant.height)
            exif = picture.getexif()
            assert not exif and not exif.get_ifd(GPS_IFD), variant.key
            assert "icc_profile" not in picture.info and "comment" not in picture.info, variant.key
            assert "exif" not in picture.info and "xmp" not in picture.info, variant.key
        assert b"Telefonkamera" not in body and b"Hvidovre" not in body


BAD_IMAGES = [
    ("no-alt", "Tekst.\n\n![](billeder/moede.jpg)\n", 8, "the image 'billeder/moede.jpg' has no alt text"),
    ("blank-alt", "Tekst.\n\nMere.\n\n![   ](billeder/moede.jpg)\n", 10, "has no alt text"),
    ("html-no-alt", 'Tekst.\n\n<img src="billeder/moede.jpg">\n', 8, "has no alt text"),
    ("missing-file", "Tekst.\n\n![Et billede](billeder/findes-ikke.jpg)\n", 8, "findes-ikke.jpg' does not exist"),
    ("site-address", "![Et billede](/billeder/moede.jpg)\n", 6, "write the path from this file"),
    ("not-an-image", "![Et dokument](billeder/noter.txt)\n", 6, "'noter.txt' is not a JPEG, PNG or WebP file"),
    ("broken", "![Et billede](billeder/i-stykker.jpg)\n", 6, "is not an image Pillow can read"),
]


@pytest.mark.parametrize(("name", "body", "line", "problem"), BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_an_image_that_cannot_be_shown_rejects_the_file_with_its_line(
        tmp_path: Path, name: str, body: str, line: int, problem: str) -> None:
    write(tmp_path)
    (tmp_path / "billeder" / "noter.txt").write_text("noter", encoding="utf-8")
    (tmp_path / "billeder" / "i-stykker.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    path = tmp_path / f"{name}.md"
    path.write_text(f"---\ntitle: {name}\nteaser: En teaser.\ncategory: cases\n---\n{body}", encoding="utf-8")
    report = publish_paths([path], site_url=SITE)
    assert report.created == [] and len(report.rejected) == 1
    assert report.rejected[0].startswith(f"{path}, line {line}: "), report.rejected[0]
    assert problem in report.rejected[0]
    assert image_keys() == {}  # a rejected file uploads nothing


def test_a_lead_image_without_alt_text_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, lead=True)
    path.write_text(path.read_text(encoding="utf-8").replace("image_alt: Et fyldt borgermøde i en gymnastiksal\n",
                                                             ""), encoding="utf-8")
    assert cli.main(["publish", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"rejected   {path}, line 7: the lead image 'billeder/forside.jpg' has no alt text" in err


def test_the_lead_image_is_the_hero_og_image_and_the_feeds_picture(tmp_path: Path) -> None:
    import feedparser

    write(tmp_path, lead=True)
    publish(tmp_path)
    stored = bucket_objects()
    document = parse_html(stored["artikler/borgerpaneler"].body)
    hero = document.find(".//figure[@class='hero']/picture/img")
    assert hero.get("alt") == "Et fyldt borgermøde i en gymnastiksal"
    assert hero.get("fetchpriority") == "high" and hero.get("loading") is None
    assert (hero.get("width"), hero.get("height")) == ("1600", "1067")
    # With a hero above it, the body's first picture is below the fold: lazy.
    assert [img.get("loading") for img in document.iter("img")][1:] == ["lazy", "lazy"]
    og = {meta.get("property"): meta.get("content") for meta in document.iter("meta") if meta.get("property")}
    assert re.fullmatch(rf"{SITE}/billeder/forside-[0-9a-f]{{12}}-1600\.jpg", og["og:image"])
    assert og["og:image:alt"] == "Et fyldt borgermøde i en gymnastiksal" and og["og:image:width"] == "1600"
    assert og["og:image"][len(SITE) + 1:] in stored
    feed = feedparser.parse(stored["feed.xml"].body)
    assert not feed.bozo
    assert feed.entries[0].media_content[0]["url"] == og["og:image"]
    assert feed.entries[0].media_content[0]["medium"] == "image"


def test_a_full_rebuild_deletes_the_images_no_page_shows(tmp_path: Path) -> None:
    path = write(tmp_path, lead=True)
    publish(tmp_path)
    path.write_text(path.read_text(encoding="utf-8").replace("![Et panel i gang](billeder/panel.png)\n", ""),
                    encoding="utf-8")
    publish(tmp_path)
    assert any("panel" in key for key in image_keys())  # kept by a publish: cached pages show it
    site = build_site([], full=True, site_url=SITE, api_url=API)
    kept = image_keys()
    assert not any("panel" in key for key in kept)
    assert sorted(key for key in site.sync.deleted if key.startswith("billeder/panel"))
    assert len([k for k in kept if "moede" in k]) == 6 and len([k for k in kept if "forside" in k]) == 6


def test_a_picture_damaged_past_its_header_rejects_its_file_and_writes_nothing(tmp_path: Path) -> None:
    """The header reads (the plan is made), the pixels do not (making the variants fails):
    the file is rejected with the picture's line, the article is not written."""
    path = write(tmp_path)
    whole = (tmp_path / "billeder" / "moede.jpg").read_bytes()
    (tmp_path / "billeder" / "moede.jpg").write_bytes(whole[: len(whole) // 3])
    report = publish_paths([path], site_url=SITE)
    assert report.created == []
    assert report.rejected == [f"{path}, line 10: 'moede.jpg' is not an image Pillow can read "
                               "(is the file damaged?)"]
    assert not any(key.startswith("artikler/") for key in bucket_objects())
    with pytest.raises(Article.DoesNotExist):
        Article.get("borgerpaneler")
