"""``python -m editor``: the editors' and operators' command."""

import sys

from editor.cli import main

sys.exit(main())
