"""Every pynamodb model of the project, found where the layout puts them.

A feature keeps its tables in ``<feature>/model.py`` or ``<feature>/models.py``; the editor's
models are the site manifest (``editor/site/manifest.py``) and the pages (``editor/pages.py``).
The call counter hooks every model's client; the IAM reader maps model classes to tables (the
Lambda's models only).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

EDITOR_MODELS = ("editor.site.manifest", "editor.pages")


def model_modules(*, editor: bool = True) -> list[str]:
    """Names of the modules that define models: chalicelib's, and the editor's if asked."""
    import chalicelib

    found = [info.name for info in pkgutil.walk_packages(chalicelib.__path__, "chalicelib.")
             if info.name.rsplit(".", 1)[-1] in {"model", "models"}]
    return sorted(found) + (list(EDITOR_MODELS) if editor else [])


def all_models(*, editor: bool = True) -> list[type[Any]]:
    """Every model class with a table, after importing the modules that define them."""
    from pynamodb.models import Model

    modules = model_modules(editor=editor)
    for name in modules:
        importlib.import_module(name)
    found: list[type[Any]] = []
    pending: list[type[Any]] = list(Model.__subclasses__())
    while pending:
        model = pending.pop(0)
        pending.extend(model.__subclasses__())
        if model.__module__ in modules and getattr(getattr(model, "Meta", None), "table_name", None):
            found.append(model)
    return found
