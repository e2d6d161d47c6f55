"""The ``borgerdialog`` console script: ``python -m editor``, from any folder.

``make`` installs this checkout into ``.venv`` (``pip install --no-deps -e .``, declared in
pyproject.toml's ``[project.scripts]``), so ``.venv/bin/borgerdialog publish content/`` runs
this checkout's editor (editor/cli.py). The checkout goes first on ``sys.path``: chalice's
dependency inquirer installs an unrelated PyPI package named ``editor`` into site-packages,
which an editable install's path entry (after site-packages) would otherwise lose to.
See docs/editing.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    if sys.path[:1] != [str(ROOT)]:
        sys.path.insert(0, str(ROOT))
    loaded = sys.modules.get("editor")
    where = Path(getattr(loaded, "__file__", None) or "").resolve().parent
    if loaded is not None and where != ROOT / "editor":
        for name in [name for name in sys.modules if name == "editor" or name.startswith("editor.")]:
            del sys.modules[name]  # another "editor" came first: ours replaces it
    from editor.cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
