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
def test_the_command_refuses_cuda_here_and_allow_fallback_runs_it_on_the_cpu_with_one_warning(tmp_path):
    output = tmp_path / "x.png"
    refused = run_cli("stylize", "--provider", "cuda", "-o", output, "--size", "48", "--quiet")
    assert refused.returncode == 2 and "has no CUDAExecutionProvider" in refused.stderr and not output.exists()
    ran = run_cli("stylize", "--provider", "cuda", "--allow-fallback", "-o", output, "--size", "48", "--quiet")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("impasto: warning:") and "running on the CPU" in lines[0]
    assert output.is_file()
    optimized = run_cli("optimize", "--provider", "cuda", "--allow-fallback", "-o", tmp_path / "o.png", "--size",
                        "32", "--iters", "1", "--quiet")  # fmt: skip
    assert optimized.returncode == 0, optimized.stderr
    assert sum(line.startswith("impasto: warning:") for line in optimized.stderr.splitlines()) == 1


def test_a_model_opened_after_a_fallback_runs_on_what_is_in_effect():
    """IO binding and CUDA graphs follow the session's provider, not the one asked for."""
    from impasto.runtime.core.sessions import config_in_effect

    session = _cpu_session()
    assert config_in_effect(session, SessionConfig(provider="cuda", cuda_graph=True)).device == "cpu"
    assert config_in_effect(session, SessionConfig()) == SessionConfig()
