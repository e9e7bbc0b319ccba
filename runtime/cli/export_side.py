"""Running a function of ``impasto.export.cli`` (needs torch), imported only when its command runs, so the
runtime-only install never touches torch."""

from __future__ import annotations

import argparse
import importlib

from impasto.runtime.core.errors import ImpastoError


def run_export_side(function: str, command: str, args: argparse.Namespace) -> int:
    """``impasto.export.cli.<function>(args)``; one ImpastoError line when the export extra is missing."""
    try:
        module = importlib.import_module("impasto.export.cli")
    except ImportError as error:
        raise ImpastoError(f"`{command}` needs the export extra (pip install 'impasto[export]'): {error}") from error
    return getattr(module, function)(args)
