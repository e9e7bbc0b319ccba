"""Request options (query string or form fields) as strict pydantic models, and the output formats.

One validation layer: an unknown field, a value that does not parse, a non-finite or out-of-range number or a word
that is not a boolean is a 422 ``bad_parameter`` naming the field, never ignored and never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from impasto.runtime.serve.errors import ApiError

FORMATS = {"png": (".png", "image/png"), "jpeg": (".jpg", "image/jpeg"), "jpg": (".jpg", "image/jpeg"),
           "webp": (".webp", "image/webp")}  # fmt: skip
Format = Literal["png", "jpeg", "jpg", "webp"]


class StrictParams(BaseModel):
    """Options refused rather than guessed: unknown fields, inf and nan, and booleans other than true/false, 1/0,
    yes/no, on/off."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


class StylizeParams(StrictParams):
    """``POST /v1/stylize``'s options (``size`` is also capped by the server's ``max_size``)."""

    model: str | None = None
    size: int | None = Field(None, ge=16)
    preserve_color: bool = False
    strength: float = Field(1.0, ge=0.0, le=1.0)
    format: Format = "png"


class LiveParams(StrictParams):
    """``/v1/live``'s query: ``key`` is allowed here, the one place a browser cannot send a header."""

    model: str | None = None
    size: int = Field(360, ge=16)
    strength: float = Field(1.0, ge=0.0, le=1.0)
    key: str | None = None


class ResultParams(StrictParams):
    format: Format = "png"


P = TypeVar("P", bound=StrictParams)


def parse_params(kind: type[P], params: Mapping[str, Any], max_size: int | None = None) -> P:
    """``params`` as ``kind``; 422 ``bad_parameter`` naming the first field that is unknown, malformed or out of
    range. Empty values count as absent (HTML forms send them); ``format`` is case-blind."""
    values = {name: value for name, value in params.items() if value != ""}
    if isinstance(values.get("format"), str):
        values["format"] = values["format"].lower()
    try:
        parsed = kind.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "parameters"
        reason = first["msg"]
        if first["type"] == "extra_forbidden":
            reason = f"unknown field (accepted: {', '.join(kind.model_fields)})"
        raise ApiError(422, "bad_parameter", f"{name}: {reason}, not {str(first.get('input'))[:40]!r}") from None
    size = getattr(parsed, "size", None)
    if max_size is not None and size is not None and size > max_size:
        raise ApiError(422, "bad_parameter", f"size: {size} is over this server's limit of {max_size}")
    return parsed


def output_format(name: str) -> tuple[str, str]:
    """(file suffix, media type) of a validated ``format``."""
    return FORMATS[name]
