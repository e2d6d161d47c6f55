"""Where the package's files are: data (categories, consent, OpenAPI, voice clips), the
static assets and the templates, beside the code in the Lambda package as in a checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent
DATA = PACKAGE / "data"
STATIC = PACKAGE / "static"
TEMPLATES = PACKAGE / "templates"
