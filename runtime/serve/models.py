"""The pool of transformer nets a client may name: only shipped nets, each opened once and shared by every request.

Built on :class:`~impasto.runtime.nets.stylizer.StylizerCache` (onnxruntime sessions are thread-safe); this module
adds what the API needs on top: the default model, and a 404 for a name that is not a shipped transformer net or a
style (or blend, ``a:0.7,b:0.3``) of a shipped net of several styles. Names never reach the disk as paths.
"""

from __future__ import annotations

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import TRANSFORMER, default_name, find_styles, names
from impasto.runtime.nets.stylizer import Stylizer, StylizerCache
from impasto.runtime.serve.errors import ApiError
from impasto.runtime.serve.settings import ServeSettings


class ModelPool:
    """The shipped transformer nets a client may name, each opened once, on first use."""

    def __init__(self, settings: ServeSettings) -> None:
        self.names = names(TRANSFORMER)
        self.stylizers = StylizerCache(settings.session, settings.precision)

    def get(self, name: str | None) -> Stylizer:
        """The Stylizer of ``name`` (None or empty: the default net); 404 for anything but a shipped net."""
        name = name or default_name(TRANSFORMER)
        if name not in self.names and not self._is_style(name):
            raise ApiError(404, "unknown_model", f"no transformer net named {name!r}; see GET /v1/models")
        try:
            return self.stylizers.get(name)
        except ImpastoError as error:
            raise ApiError(404, "unknown_model", str(error)) from None

    @staticmethod
    def _is_style(name: str) -> bool:
        """A style or blend of a shipped net of several styles (never a path)."""
        if "/" in name or "\\" in name or name.endswith(".onnx"):
            return False
        try:
            return find_styles(name) is not None
        except ImpastoError:
            return False

    def loaded(self) -> list[str]:
        """Names of the nets opened so far (for /healthz)."""
        return self.stylizers.loaded()
