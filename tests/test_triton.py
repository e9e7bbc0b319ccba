"""``impasto export triton``: the repository's configurations against Triton's own schema, and its models run."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from conftest import run_cli

pytest.importorskip("tritonclient.grpc")
from google.protobuf import text_format  # noqa: E402
from tritonclient.grpc import model_config_pb2  # noqa: E402

from impasto.runtime.core.registry import read_manifest  # noqa: E402

TYPES = {"tensor(float)": model_config_pb2.TYPE_FP32, "tensor(float16)": model_config_pb2.TYPE_FP16}


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    folder = tmp_path_factory.mktemp("triton")
    done = run_cli("export", "triton", "-o", folder, "--instances", "2")
    assert done.returncode == 0, done.stderr
    return folder


def _config(folder) -> model_config_pb2.ModelConfig:
    config = model_config_pb2.ModelConfig()
    text_format.Parse((folder / "config.pbtxt").read_text(), config)  # raises on anything the schema lacks
    return config


def test_every_shipped_model_is_in_the_repository(repository):
    expected = set()
    for entry in read_manifest()["models"]:
        if entry["kind"] == "transformer":
            expected |= {entry["name"]} | ({f"{entry['name']}-fp16"} if "fp16" in entry["files"] else set())
        else:
            expected |= {entry["name"], f"{entry['name']}-features"}
    assert {p.name for p in repository.iterdir()} == expected


def test_configurations_match_their_models(repository):
    for folder in sorted(repository.iterdir()):
        config = _config(folder)
        assert config.name == folder.name and config.backend == "onnxruntime"
        assert (
            config.instance_group[0].count == 2
            and config.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        )
        session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        inputs = {i.name: i for i in session.get_inputs()}
        assert [i.name for i in config.input] == list(inputs)
        assert [o.name for o in config.output] == [o.name for o in session.get_outputs()]
        for entry in config.input:
            assert entry.data_type == TYPES[inputs[entry.name].type]
        if config.max_batch_size:
            assert config.HasField("dynamic_batching")
            assert list(config.input[0].dims) == [3, -1, -1] and list(config.output[0].dims) == [3, -1, -1]


def test_nets_take_batches_of_any_size_as_configured(repository):
    for name in ("six-paintings", "six-paintings-fp16"):
        config = _config(repository / name)
        assert config.max_batch_size == 8
        assert [entry.name for entry in config.input] == ["image", "style_weights"]
        assert list(config.input[1].dims) == [6]  # six styles; a blend per batch item
        session = ort.InferenceSession(str(repository / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        for shape in ((2, 3, 48, 64), (3, 3, 40, 40)):
            weights = np.eye(6, dtype=np.float32)[: shape[0]]
            out = session.run(None, {"image": np.full(shape, 128, np.float32), "style_weights": weights})[0]
            assert out.shape == shape and out.dtype == np.float32


def test_loss_graph_carries_its_weights_and_no_batching(repository):
    config = _config(repository / "vgg16-avg")
    assert config.max_batch_size == 0
    scalars = [entry for entry in config.input if entry.name == "content_weight"]
    assert list(scalars[0].dims) == [1] and scalars[0].HasField("reshape") and not scalars[0].reshape.shape
    assert (repository / "vgg16-avg" / "1" / "weights").is_dir()
    session = ort.InferenceSession(str(repository / "vgg16-avg-features" / "1" / "model.onnx"))
    assert session.get_outputs()  # its external weights were found beside it


def test_unknown_model_is_one_line_error(tmp_path):
    done = run_cli("export", "triton", "-o", tmp_path / "repo", "--models", "no-such-net")
    assert done.returncode == 2 and done.stderr.strip().startswith("impasto: error: no shipped model named")
    assert len(done.stderr.strip().splitlines()) == 1
