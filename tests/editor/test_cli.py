"""The editor command itself: installed as ``borgerdialog``, the same as ``python -m editor``,
which stack it works on (editor/target.py), one sentence instead of a traceback when there is
none, --quiet and the progress bar, and the exit codes the guide documents."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from editor import cli, target
from editor.progress import Output
from tests.support.fixtures import ROOT
from tests.support.make_run import editor, terminal_environment


@pytest.mark.no_aws
def test_the_console_script_is_declared_and_runs_the_editor_from_any_folder(tmp_path: Path) -> None:
    """pyproject.toml declares ``borgerdialog``; its entry point runs editor.cli.main. The
    venv holds an unrelated PyPI package named ``editor`` (chalice → inquirer → editor), and an
    editable install puts the checkout after site-packages: the entry point must still run ours."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"] == {"borgerdialog": "borgerdialog:main"}
    assert project["tool"]["setuptools"]["py-modules"] == ["borgerdialog"]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install --quiet --no-deps -e ." in makefile

    # What the installed script does: import the entry point with the checkout last on the path.
    script = (f"import sys; sys.path = [p for p in sys.path if p not in ('', {str(ROOT)!r})] + [{str(ROOT)!r}]\n"
              "import importlib.util; print('first:', importlib.util.find_spec('editor').origin)\n"
              "from borgerdialog import main; sys.exit(main(['--help']))\n")
    found = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True,
                           env=terminal_environment(), check=False, timeout=60)
    assert found.returncode == 0, found.stderr
    assert "usage: borgerdialog" in found.stdout and "publish" in found.stdout and "preview" in found.stdout
    # The other "editor" is real here: without the entry point's care, it would be imported.
    first = found.stdout.splitlines()[0]
    assert first.startswith("first: ") and not first.endswith(str(ROOT / "editor" / "__init__.py"))


@pytest.mark.no_aws
def test_python_m_editor_is_the_same_command() -> None:
    via_module = editor("--help")
    via_script = subprocess.run([sys.executable, str(ROOT / "borgerdialog.py"), "--help"], capture_output=True,
                                text=True, env=terminal_environment(), check=False, timeout=60)
    assert via_module.returncode == via_script.returncode == 0
    assert via_module.stdout == via_script.stdout
    for command in ("publish", "preview", "rebuild", "digest"):
        assert command in via_module.stdout
    # Options go before or after the command's name alike.
    assert "--stage" in editor("publish", "--help").stdout and "--quiet" in editor("digest", "send", "--help").stdout


@pytest.mark.no_aws
def test_without_a_running_stack_the_command_says_so_in_one_sentence(tmp_path: Path) -> None:
    done = editor("publish", "content/", "--stack", str(tmp_path / "stack.json"))
    assert done.returncode == cli.EX_UNAVAILABLE
    assert done.stdout == ""
    assert done.stderr.startswith("error: No local stack is running") and "make run" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def _stack_file(path: Path, *, pid: int, endpoint: str) -> Path:
    target.write_stack_file(path, environment={"AWS_ENDPOINT_URL": endpoint, "STAGE": "local"},
                            urls={"site": "http://127.0.0.1:9"}, pid=pid, started_at="2026-12-01T09:00:00+00:00")
    return path


@pytest.mark.no_aws
def test_a_stopped_or_unreachable_stack_is_one_sentence_too(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    stopped = _stack_file(tmp_path / "stopped.json", pid=int(gone), endpoint="http://127.0.0.1:9")
    done = editor("rebuild", "--stack", str(stopped))
    assert done.returncode == cli.EX_UNAVAILABLE
    assert re.fullmatch(r"error: The local stack in \S+ has stopped \(make run, process \d+, is gone\): "
                        r"start it with `make run` in another terminal, or name a deployed stage with "
                        r"--stage dev\.\n", done.stderr)
    silent = _stack_file(tmp_path / "silent.json", pid=os.getpid(), endpoint="http://127.0.0.1:9")
    done = editor("digest", "send", "--stack", str(silent))
    assert done.returncode == cli.EX_UNAVAILABLE
    assert "does not answer at http://127.0.0.1:9" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.no_aws
def test_a_stale_aws_endpoint_url_is_refused_not_followed(tmp_path: Path) -> None:
    from devtools.emulators.moto_server import free_port

    with __import__("socket").create_server(("127.0.0.1", free_port())) as listening:
        endpoint = f"http://127.0.0.1:{listening.getsockname()[1]}"
        stack = _stack_file(tmp_path / "stack.json", pid=os.getpid(), endpoint=endpoint)
        done = editor("publish", "content/", "--stack", str(stack), AWS_ENDPOINT_URL="http://127.0.0.1:4566")
    assert done.returncode == cli.EX_UNAVAILABLE
    assert done.stderr == (f"error: AWS_ENDPOINT_URL=http://127.0.0.1:4566 is not the running local stack "
                           f"({endpoint}): unset it (`unset AWS_ENDPOINT_URL`); the command finds the stack by "
                           "itself.\n")


@pytest.mark.no_aws
def test_a_deployed_stage_without_credentials_is_one_sentence(tmp_path: Path) -> None:
    """The issue's first trap was a raw NoCredentialsError traceback."""
    done = editor("--stage", "dev", "digest", "runs", HOME=str(tmp_path), AWS_CONFIG_FILE=os.devnull,
                  AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_EC2_METADATA_DISABLED="true")
    assert done.returncode == cli.EX_NOPERM
    assert done.stderr.startswith("error: no AWS credentials: log in first")
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


@pytest.mark.no_aws
def test_a_deployed_stage_reads_its_settings_from_the_chalice_config() -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "APP_SECRET": "x" * 40, "AWS_PROFILE": "centret"}
    found = target.apply(stage="prod", stack=None, environ=environ)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
    expected = config["stages"]["prod"]["environment_variables"]
    assert found.kind == "deployed" and found.site_url == "https://borgerdialog.dk"
    assert {name: environ[name] for name in expected} == expected
    # Never a local emulator, never a local run's throwaway secret; the profile is the editor's own.
    assert "AWS_ENDPOINT_URL" not in environ and "APP_SECRET" not in environ
    assert environ["AWS_PROFILE"] == "centret"
    assert target.stack_file(None, {}) == ROOT / ".local" / "stack.json"  # what make run writes


def test_quiet_prints_nothing_but_problems(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.md").write_text("---\ntitle: En\nteaser: t\ncategory: cases\n---\nTekst.\n", encoding="utf-8")
    (tmp_path / "b.md").write_text("---\ntitle: To\n---\nTekst.\n", encoding="utf-8")
    assert cli.main(["publish", str(tmp_path), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"rejected   {tmp_path / 'b.md'}: missing front matter field(s)")
    assert cli.main(["--quiet", "rebuild"]) == 0
    assert capsys.readouterr() == ("", "")


def test_progress_shows_each_phase_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for number in range(3):
        (tmp_path / f"a{number}.md").write_text(
            f"---\ntitle: Artikel {number}\nteaser: t\ncategory: cases\n---\nTekst.\n", encoding="utf-8")
    assert cli.main(["publish", str(tmp_path), "--progress"]) == 0
    err = capsys.readouterr().err
    full = "#" * 30
    for phase in (f"read    [{full}] 3/3", f"render  [{full}] 3/3", f"upload  [{full}]"):
        assert phase in err, err


@pytest.mark.no_aws
def test_the_bar_waits_a_second_on_a_terminal() -> None:
    """On a terminal the bar shows once a phase has run a second; a quicker one shows none."""
    now = [0.0]

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    output = Output(err=err, clock=lambda: now[0])
    for done in range(1, 4):
        output.step("render", done, 3)
    assert err.getvalue() == ""
    for done in range(1, 4):
        output.step("upload", done, 3)
        now[0] += 0.6
    assert err.getvalue().strip().endswith("upload  [##############################] 3/3")
    assert "1/3" not in err.getvalue()  # the first step came before the second had passed
    quiet = Terminal()
    Output(err=quiet, quiet=True, progress=True).step("upload", 1, 1)
    assert quiet.getvalue() == ""


@pytest.mark.no_aws
def test_the_guide_documents_every_exit_code() -> None:
    guide = (ROOT / "docs" / "editing.md").read_text(encoding="utf-8")
    section = guide.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| `(\d+)` \|", section, re.MULTILINE)}
    codes = {0, 1, cli.EX_USAGE, cli.EX_UNAVAILABLE, cli.EX_TEMPFAIL, cli.EX_NOPERM, cli.EX_CONFIG, 130}
    assert documented == codes


def test_a_warning_is_printed_once(tmp_path: Path) -> None:
    """In a terminal, the site build's problems were printed twice: the command's line and a
    log line of the same. The command runs here in a subprocess on this test's stack."""
    from chalicelib.core.config import get_settings

    missing = f"{get_settings().site_url}/billeder/moede.jpg"  # on the site's address, not in the bucket
    (tmp_path / "a.md").write_text("---\ntitle: Et billede mangler\nteaser: t\ncategory: cases\n---\n"
                                   f"![Borgermøde i Hvidovre]({missing})\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "editor", "publish", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, env=dict(os.environ), check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (f"warning    et-billede-mangler: image '{missing}' not found; shown as its alt "
                           "text\n")
