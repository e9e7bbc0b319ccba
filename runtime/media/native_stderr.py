"""Catching what C libraries (libjpeg, libpng, OpenCV's logger) print on file descriptor 2."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[list[str]]:
    """Collect what C libraries (libjpeg, libpng, OpenCV's logger) write to fd 2 while decoding.

    Not thread-safe: it swaps the process's stderr for the duration, which is fine for the CLI's decoding.
    """
    sys.stderr.flush()
    messages: list[str] = []
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield messages
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            messages.extend(line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip())
