"""What a command prints while it works: a progress bar, its lines, its summary.

Every command gets one ``Output``. The bar goes to stderr: on a terminal once a phase has
taken longer than a second (quick runs stay clean), with ``--progress`` always, also into a
pipe or a log. ``--quiet`` prints nothing but warnings and errors; the exit code says how
it went (docs/editing.md#exit-codes).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30
SHOW_AFTER_S = 1.0  # a phase that ends sooner never shows a bar


class Output:
    def __init__(self, *, quiet: bool = False, progress: bool | None = None,
                 out: TextIO | None = None, err: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        wanted = self.err.isatty() if progress is None else progress
        self.bar = wanted and not quiet
        # Asked for (--progress): from the first step. On a terminal: after a second.
        self._delay = 0.0 if progress else SHOW_AFTER_S
        self._clock = clock
        self._phase: str | None = None
        self._started = 0.0
        self._drawn = False

    # -- lines --------------------------------------------------------------------------------

    def line(self, text: str) -> None:
        """A result line (created, updated, …): stdout, not with --quiet."""
        if not self.quiet:
            self._clear()
            print(text, file=self.out, flush=True)

    def summary(self, text: str) -> None:
        self.line(text)

    def warning(self, text: str) -> None:
        """Always shown, on stderr."""
        self._clear()
        print(f"warning    {text}", file=self.err, flush=True)

    def rejected(self, text: str) -> None:
        self._clear()
        print(f"rejected   {text}", file=self.err, flush=True)

    def error(self, text: str) -> None:
        self._clear()
        print(f"error: {text}", file=self.err, flush=True)

    # -- the bar ------------------------------------------------------------------------------

    def step(self, phase: str, done: int, total: int) -> None:
        """``done`` of ``total`` in ``phase`` (render, upload, images, send …)."""
        if not self.bar:
            return
        now = self._clock()
        if phase != self._phase:
            self._clear()
            self._phase, self._started = phase, now
        if now - self._started < self._delay and not self._drawn:
            return  # not yet a second, or the whole phase took under one: no bar at all
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        print(f"\r{phase:7} [{bar}] {done}/{total}", end="", file=self.err, flush=True)
        self._drawn = True
        if done >= total:
            print(file=self.err, flush=True)
            self._drawn = False
            self._phase = None

    def _clear(self) -> None:
        if self._drawn:
            print(file=self.err, flush=True)
            self._drawn = False
