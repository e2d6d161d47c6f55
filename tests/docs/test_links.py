"""The documentation holds together: every link in README.md and docs/ resolves inside the
repository, the README stays short and starts with the two commands, and nothing points at
files outside the repository that its users do not have."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_MAX_LINES = 150

# Module docstrings in the code link to these by path, so they must exist.
REQUIRED_DOCS = (
    "docs/README.md",
    "docs/architecture.md",
    "docs/api.md",
    "docs/editing.md",
    "docs/site.md",
    "docs/captcha.md",
    "docs/newsletter.md",
    "docs/digest.md",
    "docs/deploy.md",
    "docs/operations.md",
    "docs/testing.md",
    "docs/decisions/README.md",
    "docs/decisions/conditional-writes.md",
)

_FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
# [text](target) and ![alt](target), with an optional <target> and "title".
_INLINE = re.compile(r"\]\(\s*(<[^>\n]*>|[^)\s]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
# [label]: target
_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*(<[^>\n]*>|\S+)", re.MULTILINE)
_EXTERNAL = ("http://", "https://", "mailto:")


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and code spans, where brackets are not links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def link_targets(text: str) -> list[str]:
    prose = _prose(text)
    found = [m.group(1) for m in _INLINE.finditer(prose)] + [m.group(1) for m in _REFERENCE.finditer(prose)]
    return [target[1:-1] if target.startswith("<") and target.endswith(">") else target for target in found]


def broken_links(path: Path) -> list[str]:
    """Every local link target in one file that does not name a path inside the repository."""
    problems: list[str] = []
    for target in link_targets(path.read_text(encoding="utf-8")):
        if target.startswith(_EXTERNAL) or target.startswith("#"):
            continue
        local = unquote(target.split("#", 1)[0])
        if not local:
            problems.append(f"{target!r}: empty target")
            continue
        resolved = (path.parent / local).resolve()
        if not resolved.is_relative_to(ROOT):
            problems.append(f"{target!r}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target!r}: no such file or folder")
    return problems


@pytest.mark.no_aws
def test_the_link_finder_sees_every_kind_of_link() -> None:
    text = (
        "See [a](docs/a.md), ![pic](img/p.png \"title\") and [b](<docs/b c.md>).\n"
        "[ref]: ../chalicelib/core/\n"
        "`[not](a-link.md)` and\n```\n[nor](this.md)\n```\n"
    )
    assert link_targets(text) == ["docs/a.md", "img/p.png", "docs/b c.md", "../chalicelib/core/"]


@pytest.mark.no_aws
def test_the_documents_the_code_links_to_exist() -> None:
    missing = [name for name in REQUIRED_DOCS if not (ROOT / name).is_file()]
    assert missing == []


@pytest.mark.no_aws
def test_every_local_link_resolves_inside_the_repository() -> None:
    problems = {
        str(path.relative_to(ROOT)): found for path in markdown_files() if (found := broken_links(path))
    }
    assert problems == {}


@pytest.mark.no_aws
def test_nothing_points_outside_the_repository() -> None:
    mentions = [str(path.relative_to(ROOT)) for path in markdown_files()
                if "../shared" in path.read_text(encoding="utf-8")]
    assert mentions == []


@pytest.mark.no_aws
def test_the_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


@pytest.mark.no_aws
def test_the_readme_starts_with_the_two_commands() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ")
    first = [line for line in lines[1:] if line.strip()][:2]
    assert len(first) == 2
    assert "make run" in first[0]
    assert "make test" in first[1]
