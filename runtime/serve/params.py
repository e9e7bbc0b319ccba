"""Request options (query string or form fields) parsed and range-checked, and the output formats: a bad value is a
400 ``bad_parameter`` naming the option, never a 500."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from impasto.runtime.serve.errors import ApiError

FORMATS = {"png": (".png", "image/png"), "jpeg": (".jpg", "image/jpeg"), "jpg": (".jpg", "image/jpeg"),
           "webp": (".webp", "image/webp")}  # fmt: skip


def option(params: Mapping[str, Any], name: str, kind: type, default: Any, low: Any = None, high: Any = None) -> Any:
    """``params[name]`` as ``kind`` (int, float or bool: 1/true/yes/on), ``default`` when absent or empty; 400 when
    it does not parse or lies outside ``low``–``high``."""
    text = params.get(name)
    if text in (None, ""):
        return default
    try:
        value = kind(text) if kind is not bool else str(text).lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise ApiError(400, "bad_parameter", f"{name}: not a {kind.__name__}: {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise ApiError(400, "bad_parameter", f"{name}: must be a finite number, not {text!r}")
    if low is not None and value < low or high is not None and value > high:
        raise ApiError(400, "bad_parameter", f"{name}: {value} is outside {low}–{high}")
    return value


def output_format(params: Mapping[str, Any]) -> tuple[str, str]:
    """(file suffix, media type) of the ``format`` option (default png); 400 for a format not served."""
    name = str(params.get("format", "png")).lower()
    if name not in FORMATS:
        raise ApiError(400, "bad_parameter", f"format: {name!r}; use png, jpeg or webp")
    return FORMATS[name]
