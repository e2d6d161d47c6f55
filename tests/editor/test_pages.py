"""Pages that are not articles: Markdown in content/sider/, the same layout, listed in the
footer where they ask to be, the seed's contact block with placeholders shown as nothing
(editor/pages.py)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from editor import cli
from editor.publishing import publish_paths
from editor.site.build import build_site
from tests.support.fixtures import ROOT
from tests.support.site import API, SITE, bucket_objects, parse_html, sitemap_locations

# Runs again against DynamoDB Local (the DynamoDB lane of `make test`): pages are conditional puts.
pytestmark = pytest.mark.dynamodb
PAGES = ("om", "privatlivspolitik", "tilgaengelighedserklaering")


@pytest.fixture
def content(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(ROOT / "content", folder)
    return folder


def publish(folder: Path) -> None:
    report = publish_paths([folder], site_url=SITE)
    assert not report.rejected, report.rejected
    build_site(report.changed, site_url=SITE, api_url=API)


def footer(body: bytes) -> Any:
    return parse_html(body).find(".//footer")


def text(element: Any) -> str:
    return " ".join("".join(element.itertext()).split())


def test_the_pages_are_published_with_the_site_layout(content: Path) -> None:
    publish(content)
    stored = bucket_objects()
    for slug in PAGES:
        page = stored[slug]
        assert page.content_type == "text/html; charset=utf-8"
        document = parse_html(page.body)
        assert document.find("head/link[@rel='canonical']").get("href") == f"{SITE}/{slug}"
        assert document.find(".//header[@class='site-header']") is not None
        assert document.find(".//main/article/h1").text
    assert "Hvidovre" not in stored["om"].body.decode()  # the page's own text, not an article's
    privacy = text(parse_html(stored["privatlivspolitik"].body).find(".//main"))
    for needed in ("IP-adresse", "samtykketeksten", "48 timer", "Datatilsynet", "Center for Borgerdialog er "
                   "dataansvarlig", "Senest opdateret 1. december 2026"):
        assert needed in privacy, needed
    assert {f"{SITE}/{slug}" for slug in PAGES} <= set(sitemap_locations(stored))


def test_the_footer_lists_the_pages_that_ask_in_their_order(content: Path) -> None:
    publish(content)
    stored = bucket_objects()
    for key in ("index.html", "artikler", "artikler/samarbejde-med-borgere-kan-laeres", "nyhedsbrev", "om",
                "404.html"):
        links = [(a.get("href"), a.text) for a in footer(stored[key].body).find(".//nav").iter("a")]
        assert links == [(f"{SITE}/om", "Om os og kontakt"), (f"{SITE}/privatlivspolitik", "Privatlivspolitik"),
                         (f"{SITE}/tilgaengelighedserklaering", "Tilgængelighedserklæring")], key


def test_the_contact_block_is_the_seeds_and_invents_nothing(content: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The seed: "Adresse / Center for Borgerdialog / Telefon: 24 47 78 18 / Mail", with no
    address and no mail address. Placeholders in the front matter; nothing shown for them."""
    assert cli.main(["publish", str(content)]) == 0
    out = capsys.readouterr().out
    about = content / "sider" / "om.md"
    assert f"note       {about}: contact.address is a placeholder (empty)" in out
    assert f"note       {about}: contact.email is a placeholder (empty)" in out
    assert f"note       {content / 'sider' / 'privatlivspolitik.md'}: review: " in out
    for key, obj in bucket_objects().items():
        if obj.content_type.startswith("text/html"):
            page = obj.body.decode()
            assert "kontakt@borgerdialog.dk" not in page and "mailto:" not in page, key
            assert "Udkast" not in page and "review" not in page, key  # the notes stay in the files
    block = footer(bucket_objects()["om"].body).find(".//section")
    assert text(block) == "Kontakt Center for Borgerdialog Telefon: 24 47 78 18"
    assert block.find(".//a").get("href") == "tel:+4524477818"


def test_filled_in_placeholders_are_shown_everywhere(content: Path) -> None:
    about = content / "sider" / "om.md"
    filled = about.read_text(encoding="utf-8")
    filled = filled.replace("  address:   #", '  address: "Eksempelvej 1, 8000 Aarhus C"  #')
    filled = filled.replace("  email:     #", "  email: kontakt@example.org  #")
    about.write_text(filled, encoding="utf-8")
    publish(content)
    stored = bucket_objects()
    for key in ("index.html", "om", "privatlivspolitik"):
        block = footer(stored[key].body).find(".//section")
        assert text(block) == ("Adresse Center for Borgerdialog Eksempelvej 1 8000 Aarhus C "
                               "Telefon: 24 47 78 18 Mail: kontakt@example.org"), key
    main = text(parse_html(stored["om"].body).find(".//main"))
    assert "Mail: kontakt@example.org" in main and "Eksempelvej 1" in main


def test_a_page_change_renders_every_page_again(content: Path) -> None:
    """The footer is on every page: a new footer link is a new layout."""
    publish(content)
    new = content / "sider" / "presse.md"
    new.write_text("---\ntitle: Presse\ndescription: Til journalister.\nfooter: true\norder: 4\n---\nRing til os.\n",
                   encoding="utf-8")
    publish(content)
    stored = bucket_objects()
    assert f'href="{SITE}/presse"' in stored["artikler/samarbejde-med-borgere-kan-laeres"].body.decode()
    assert "Ring til os." in stored["presse"].body.decode()


def test_a_draft_page_leaves_the_site_and_the_footer(content: Path) -> None:
    publish(content)
    page = content / "sider" / "tilgaengelighedserklaering.md"
    page.write_text(page.read_text(encoding="utf-8").replace("order: 3\n", "order: 3\nstatus: draft\n"),
                    encoding="utf-8")
    publish(content)
    stored = bucket_objects()
    assert "tilgaengelighedserklaering" not in stored
    assert "tilgaengelighedserklaering" not in stored["index.html"].body.decode()


BAD_PAGES = [
    ("reserved", "---\ntitle: Artikler\nslug: artikler\ndescription: d\n---\nTekst.\n",
     "the address /artikler belongs to the site"),
    ("no-description", "---\ntitle: Presse\n---\nTekst.\n", "missing front matter field(s) description"),
    ("footer-text", "---\ntitle: Presse\ndescription: d\nfooter: ja\n---\nTekst.\n", "'footer' must be true or false"),
    ("contact-field", "---\ntitle: Presse\ndescription: d\ncontact:\n  name: X\n  fax: 1\n---\nTekst.\n",
     "unknown contact field(s) fax"),
    ("second-contact", "---\ntitle: Presse\ndescription: d\ncontact:\n  name: Presse\n---\nTekst.\n",
     "only one page gives the contact block"),
    ("article-field", "---\ntitle: Presse\ndescription: d\ncategory: cases\n---\nTekst.\n",
     "unknown front matter field(s) category"),
]


@pytest.mark.parametrize(("name", "text_", "problem"), BAD_PAGES, ids=[b[0] for b in BAD_PAGES])
def test_a_malformed_page_is_rejected_by_name(content: Path, name: str, text_: str, problem: str) -> None:
    bad = content / "sider" / f"{name}.md"
    bad.write_text(text_, encoding="utf-8")
    report = publish_paths([content], site_url=SITE)
    assert len(report.rejected) == 1 and str(bad) in report.rejected[0] and problem in report.rejected[0]
    assert sorted(report.pages.created) == sorted(PAGES)
