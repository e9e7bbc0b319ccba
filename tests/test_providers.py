"""The provider in effect is the one asked for, or the session is refused (``--allow-fallback`` runs it anyway)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
from conftest import run_cli, shipped_transformer_names

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.registry import resolve
from impasto.runtime.core.session_config import PROVIDER_NAMES, SessionConfig
from impasto.runtime.core.sessions import confirm_provider, open_session


def _cpu_session():
    return open_session(resolve(shipped_transformer_names()[0]).path, SessionConfig())


@pytest.mark.parametrize("asked", ["cuda", "tensorrt", "openvino"])
def test_a_session_that_fell_back_to_the_cpu_is_refused(asked):
    """What onnxruntime does when a provider it has cannot start: the session comes back on the CPU alone."""
    session = _cpu_session()
    assert session.get_providers() == ["CPUExecutionProvider"]
    with pytest.raises(ImpastoError, match=f"asked for {PROVIDER_NAMES[asked]}, but onnxruntime runs it on CPU"):
        confirm_provider(session, SessionConfig(provider=asked), "net.onnx")


def test_allow_fallback_runs_it_with_one_warning(capsys):
    session = _cpu_session()
    confirm_provider(session, SessionConfig(provider="cuda", allow_fallback=True), "net.onnx")
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [
        "impasto: warning: net.onnx: asked for CUDAExecutionProvider, but onnxruntime runs it on CPUExecutionProvider"
    ]


def test_the_provider_asked_for_passes():
    confirm_provider(_cpu_session(), SessionConfig(provider="cpu"), "net.onnx")


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="a GPU build: CUDA may start")
def test_the_command_line_has_allow_fallback(tmp_path):
    done = run_cli("stylize", "--provider", "cuda", "--allow-fallback", "-o", tmp_path / "x.png", "--quiet")
    assert done.returncode == 2 and "has no CUDAExecutionProvider" in done.stderr  # not installed: a different error
