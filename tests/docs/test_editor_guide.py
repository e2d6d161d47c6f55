"""The editors' guide (docs/editing.md) works as written: every command line in it runs, in
order, against a stack started the way ``make run`` starts it, each with the exit code 0 and
the output the guide shows (``…`` stands for what differs from run to run).

The guide's conventions, read here: a ```console block's ``$ `` lines are commands, the lines
after one its output; ``<!-- file: PATH -->`` before a block is a file the editor writes, and
the pictures it names are made for it; ``<!-- edit: PATH "old" => "new" -->`` is an edit the
prose asks for. ``make run`` is the stack already started; ``.venv/bin/borgerdialog`` is the
console script's entry point (borgerdialog.py) run by this interpreter, the command that
``make`` installs there. The stack is named to the command through ``BORGERDIALOG_STACK``, as
``make run``'s default ``.local/stack.json`` would be found, without touching a developer's.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.fixtures import ROOT
from tests.support.images import photo
from tests.support.make_run import MakeRun, get, start, terminal_environment

pytestmark = pytest.mark.no_aws  # the stack is the subprocess's own moto server
GUIDE = ROOT / "docs" / "editing.md"
COMMAND = ".venv/bin/borgerdialog"


@dataclass
class Step:
    kind: str  # "command" | "file" | "edit"
    text: str  # the command line, the file's path, or the edit's path
    output: list[str] = field(default_factory=list)  # a command's shown output; a file's text
    edit: tuple[str, str] = ("", "")


def steps(text: str) -> list[Step]:
    found: list[Step] = []
    pending_file: str | None = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = re.fullmatch(r"<!-- file: (\S+) -->", line)
        edit = re.fullmatch(r'<!-- edit: (\S+) "(.*)" => "(.*)" -->', line)
        if marker:
            pending_file = marker.group(1)
        elif edit:
            found.append(Step("edit", edit.group(1), edit=(edit.group(2), edit.group(3))))
        elif line.startswith("```"):
            info = line[3:].strip()
            end = lines.index("```", index + 1)
            block = lines[index + 1:end]
            if pending_file is not None:
                found.append(Step("file", pending_file, output=block))
                pending_file = None
            elif info == "console":
                for entry in block:
                    if entry.startswith("$ "):
                        found.append(Step("command", entry[2:]))
                    else:
                        found[-1].output.append(entry)
            index = end
        index += 1
    return found


def test_the_guide_is_read_as_intended() -> None:
    read = steps(GUIDE.read_text(encoding="utf-8"))
    commands = [step.text for step in read if step.kind == "command"]
    assert commands[0] == "make run"
    assert all(command.startswith(f"{COMMAND} ") for command in commands[1:])
    for needed in ("preview", "publish", "rebuild", "digest preview", "digest send"):
        assert any(command.startswith(f"{COMMAND} {needed}") for command in commands), needed
    assert [step.kind for step in read].count("file") == 1 and [step.kind for step in read].count("edit") == 1


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    run = start(tmp_path_factory.mktemp("make-run"))
    yield run
    run.stop()


def _shown(expected: list[str], actual: str) -> None:
    """Each line the guide shows is in the output, in order; ``…`` is anything."""
    position = 0
    for line in expected:
        pattern = ".*".join(re.escape(part) for part in line.split("…"))
        found = re.compile(pattern).search(actual, position) if line != "…" else None
        if line == "…":
            continue
        assert found, f"{line!r} not in the output after position {position}:\n{actual}"
        position = found.end()


def test_every_command_line_of_the_guide_runs(stack: MakeRun, tmp_path: Path) -> None:
    workdir = tmp_path / "checkout"
    shutil.copytree(ROOT / "content", workdir / "content")
    environment = terminal_environment(BORGERDIALOG_STACK=str(stack.stack_file))
    ran: list[str] = []
    for step in steps(GUIDE.read_text(encoding="utf-8")):
        if step.kind == "file":
            path = workdir / step.text
            path.write_text("\n".join(step.output) + "\n", encoding="utf-8")
            pictures = re.findall(r"(?:^image: |\]\()(billeder/[\w-]+\.jpg)", path.read_text(encoding="utf-8"),
                                  re.MULTILINE)
            for number, picture in enumerate(pictures):  # each its own picture
                photo(path.parent / picture, colour=(30 + 40 * number, 90, 140))
            continue
        if step.kind == "edit":
            path = workdir / step.text
            old, new = step.edit
            assert old in path.read_text(encoding="utf-8")
            path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
            continue
        if step.text == "make run":
            assert stack.process.poll() is None  # started by the fixture, as make run starts it
            ran.append(step.text)
            continue
        argv = [sys.executable, str(ROOT / "borgerdialog.py"), *step.text.split()[1:]]
        if argv[2] == "preview" and "--upload" not in argv:
            output = _serve_once(argv, workdir, environment)
        else:
            done = subprocess.run(argv, cwd=workdir, env=environment, capture_output=True, text=True,
                                  timeout=300, check=False)
            assert done.returncode == 0, (step.text, done.stdout, done.stderr)
            output = done.stdout
            if "--upload" in step.text:
                address = re.search(r": (http://\S+)\n", output)
                assert address and get(address.group(1))[0] == 200, output  # on the running site
        _shown(step.output, output)
        ran.append(step.text)
    assert len(ran) == len([s for s in steps(GUIDE.read_text(encoding="utf-8")) if s.kind == "command"])
    status, _, home = get(f"{stack.site_url}/")
    assert status == 200 and b"Borgerpaneler i praksis" in home  # the guide's article is on the site


def _serve_once(argv: list[str], workdir: Path, environment: dict[str, str]) -> str:
    """A preview serves until Ctrl-C: read its address, fetch the page, press Ctrl-C."""
    process = subprocess.Popen(argv, cwd=workdir, env=environment, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        address = re.search(r": (http://127\.0\.0\.1:\d+/\S+)\n", lines[0])
        assert address, lines
        status, _, page = get(address.group(1))
        assert status == 200 and b"Borgerpaneler i praksis" in page
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=120) == 0  # a busy machine may still be making picture variants
    return "".join(lines)
