"""``impasto bench`` and the session options it measures: real sessions of the shipped models on the CPU."""

from __future__ import annotations

import json
import os
import statistics
import time

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from conftest import assert_one_line_failure, run_cli, style_feeds

from impasto.runtime.bench.runner import BenchSpec, plan, run_bench
from impasto.runtime.bench.targets import BenchTarget, resolve_targets
from impasto.runtime.core.graph_cache import optimized_cache_path
from impasto.runtime.core.io_binding import BoundRunner
from impasto.runtime.core.providers import provider_chain
from impasto.runtime.core.registry import TRANSFORMER, onnx_metadata, resolve
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.core.sessions import open_session

NET = "great-wave"  # a style of the shipped six-paintings net: benched as that net, labelled with the style
STYLE = style_feeds(resolve(NET, TRANSFORMER, "fp32").path)  # its style_weights input, for direct session runs
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    """One CLI run on the CPU at two sizes, with a model that cannot load and (here) a provider that is missing."""
    folder = tmp_path_factory.mktemp("bench")
    broken = folder / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf")
    done = run_cli(
        "bench", NET, str(broken), "--sizes", "48x64", "96x128", "--providers", "cpu", "cuda",
        "--precision", "fp32", "int8", "--runs", "5", "--warmup", "1",
        "-o", folder / "bench.json", "--plot", folder / "bench.png",
    )  # fmt: skip
    return done, folder


def test_bench_writes_table_json_and_plot(bench_run):
    done, folder = bench_run
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0]
    for column in ("p50 ms", "p90 ms", "p99 ms", "FPS", "first ms", "+RSS MB"):
        assert column in header
    document = json.loads((folder / "bench.json").read_text())
    rows = [r for r in document["results"] if r["provider"] == "cpu" and r["model"] == NET]
    assert {(r["size"], r["precision"]) for r in rows} == {
        ("48x64", "fp32"), ("96x128", "fp32"), ("48x64", "int8"), ("96x128", "int8")
    }  # fmt: skip
    for row in rows:
        assert row["runs"] == 5 and len(row["times_ms"]) == 5
        assert 0 < row["p50_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["first_run_ms"] >= row["session_ms"] > 0
        assert row["fps"] == pytest.approx(1000 / row["mean_ms"], rel=0.01)
        assert row["gmac_per_run"] > 0 and 0 < row["fraction_of_peak"] < 1
        assert row["cpu_nodes"] == {}
        assert row["peak_rss_mb"] > 50 and row["rss_growth_mb"] >= 0  # the process with onnxruntime loaded
    bigger = {r["precision"]: r["gmac_per_run"] for r in rows if r["size"] == "96x128"}
    smaller = {r["precision"]: r["gmac_per_run"] for r in rows if r["size"] == "48x64"}
    border = int(onnx_metadata(resolve(NET, TRANSFORMER, "fp32").path).get("impasto.border", "0"))
    padded = (96 + 2 * border) * (128 + 2 * border) / ((48 + 2 * border) * (64 + 2 * border))  # 4× without one
    assert bigger["fp32"] == pytest.approx(padded * smaller["fp32"], rel=0.05)  # the pixels the net sees
    assert document["machine"]["cpu"]["cores"] >= 1 and document["machine"]["onnxruntime"] == ort.__version__
    plot = cv2.imread(str(folder / "bench.png"))
    assert plot is not None and plot.shape[0] > 300 and plot.shape[1] > 500


def test_bench_reports_a_broken_model_and_goes_on(bench_run):
    done, folder = bench_run
    failed = [line for line in done.stdout.splitlines() if line.startswith("broken.onnx")]
    assert failed and all("FAILED" in line and "not a loadable ONNX model" in line for line in failed)
    document = json.loads((folder / "bench.json").read_text())
    assert any(r["model"] == "broken.onnx" and "error" in r for r in document["results"])
    assert any(r["model"] == NET and "p50_ms" in r for r in document["results"])
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here")
def test_bench_skips_a_missing_provider_with_a_clear_note(bench_run):
    done, folder = bench_run
    assert "provider cuda: onnxruntime here has no CUDAExecutionProvider" in done.stderr
    document = json.loads((folder / "bench.json").read_text())
    assert not any(r["provider"] == "cuda" for r in document["results"])
    assert any("cuda" in note for note in document["notes"])


def test_bench_compares_with_pytorch_when_it_is_installed(bench_run):
    pytest.importorskip("torch")
    done, folder = bench_run
    document = json.loads((folder / "bench.json").read_text())
    eager = [r for r in document["results"] if r["provider"] == "pytorch-cpu"]
    assert {r["size"] for r in eager} == {"48x64", "96x128"}
    assert all("difference to onnxruntime" in r["note"] for r in eager)
    assert all(float(r["note"].rsplit(" ", 1)[1]) < 0.05 for r in eager)  # the baseline is the same net
    ours = [r for r in document["results"] if r["model"] == NET and r["provider"] == "cpu"]
    ratios = [r["vs_pytorch"] for r in ours if r["precision"] == "fp32"]
    assert len(ratios) == 2 and all(ratio > 0 for ratio in ratios)


class _DelayedSession:
    """A real session whose ``run`` also sleeps a known time per call: call 1 (the first run), then ``warmup`` calls,
    then the timed ones, each with its own delay."""

    def __init__(self, session, first_s: float, warmup_s: float, warmup: int, timed_s: list[float]) -> None:
        self._session, self.calls = session, 0
        self._delays = [first_s] + [warmup_s] * warmup + list(timed_s)

    def run(self, *args, **kwargs):
        delay = self._delays[self.calls] if self.calls < len(self._delays) else 0.0
        self.calls += 1
        time.sleep(delay)
        return self._session.run(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._session, name)


def test_bench_times_each_run_and_nothing_else(monkeypatch):
    """Known latencies injected into the session the bench times: every reported run time must be its own run's
    delay (not a warmup's, not the first run's, not an average), and the first-run time must hold the first call."""
    import impasto.runtime.bench.runner as runner

    runs, warmup = 8, 2
    timed = [0.010 + 0.010 * (i % 4) for i in range(runs)]  # 10, 20, 30, 40 ms, twice
    first, slow_warmup = 0.120, 0.250  # a warmup leaking into the timed runs would show as ≥ 250 ms
    made: list[_DelayedSession] = []
    real_open = runner.open_session

    def open_delayed(path, config=None, static=None):
        session = real_open(path, config, static)
        if config is None or config.optimization == "disable":  # the bench's own probes are not timed
            return session
        made.append(_DelayedSession(session, first, slow_warmup, warmup, timed))
        return made[-1]

    monkeypatch.setattr(runner, "open_session", open_delayed)
    spec = BenchSpec(models=[NET], sizes=[(32, 48)], providers=["cpu"], precisions=["fp32"], runs=runs, warmup=warmup)
    (result,) = list(run_bench(spec))
    assert result.error is None, result.error
    assert len(made) == 1 and made[0].calls == 1 + warmup + runs
    # the real run at 32×48 takes a millisecond or two; sleeping overshoots by a little: 25 ms of slack
    plain = _own_median_ms(made[0]._session, (32, 48))
    for reported, delay in zip(result.times_ms, timed, strict=True):
        assert delay * 1000 <= reported < delay * 1000 + plain + 25, (result.times_ms, timed)
    assert np.corrcoef(result.times_ms, timed)[0, 1] > 0.95  # run i reported as run i
    first_call_ms = result.first_run_ms - result.session_ms
    assert first * 1000 <= first_call_ms < (first + slow_warmup) * 1000, (result.first_run_ms, result.session_ms)
    assert result.summary()["p50_ms"] == pytest.approx(float(np.median(result.times_ms)), abs=0.01)


def _own_median_ms(session, size: tuple[int, int]) -> float:
    frame = {"image": np.random.default_rng(1).uniform(0, 255, (1, 3, *size)).astype(np.float32), **STYLE}
    for _ in range(3):
        session.run(None, frame)
    own = []
    for _ in range(15):
        began = time.perf_counter()
        session.run(None, frame)
        own.append((time.perf_counter() - began) * 1000)
    return statistics.median(own)


def test_bench_latencies_agree_with_an_independent_timing():
    """The bench's p50 against a plain timing of the same model in this process."""
    spec = BenchSpec(models=[NET], sizes=[(120, 160)], providers=["cpu"], precisions=["fp32"], runs=15, warmup=2)
    (result,) = list(run_bench(spec))
    assert result.error is None
    assert len(result.times_ms) == 15 and result.first_run_ms > result.session_ms > 0
    (target,) = resolve_targets(NET, ["fp32"])
    own = _own_median_ms(open_session(target.path), (120, 160))
    ratio = result.summary()["p50_ms"] / own
    assert 1 / 3 < ratio < 3, f"bench p50 {result.summary()['p50_ms']} ms vs own {own} ms"


def test_plan_notes_unknown_models_and_providers():
    bench_plan = plan(BenchSpec(models=["no-such-net", NET], sizes=[(64, 64)], providers=["cpu", "tpu"]))
    assert [t.label for t in bench_plan.targets] == [NET] * 3  # fp32, fp16, int8
    assert bench_plan.providers == ["cpu"]
    assert any("no-such-net" in note for note in bench_plan.notes)
    assert any("'tpu' unknown" in note for note in bench_plan.notes)


def test_bench_with_nothing_usable_is_one_line_error(tmp_path):
    output = tmp_path / "bench.json"
    done = run_cli("bench", "no-such-net", "--sizes", "32x32", "-o", output, "--plot", tmp_path / "b.png")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("impasto: error: nothing to benchmark")
    assert not output.exists()
    done = run_cli("bench", NET, "-o", tmp_path / "bench.txt")
    assert_one_line_failure(done, tmp_path / "bench.txt", "unsupported --output type")


def test_loss_graph_target_is_its_loss_graph():
    (target,) = resolve_targets("vgg16-avg")
    assert target.path.name == "vgg16-avg.loss.onnx" and target.kind == "gatys-loss"


def test_optimised_graph_cache_is_written_once_and_reused(tmp_path):
    (target,) = resolve_targets(NET, ["fp32"])
    config = SessionConfig(cache_dir=tmp_path)
    frame = {"image": np.random.default_rng(2).uniform(0, 255, (1, 3, 64, 80)).astype(np.float32), **STYLE}
    expected = open_session(target.path).run(None, frame)[0]
    first = open_session(target.path, config).run(None, frame)[0]
    cached = optimized_cache_path(target.path, config)
    assert cached.is_file() and not list(tmp_path.glob(".*.tmp"))
    stamp = cached.stat().st_mtime_ns
    second = open_session(target.path, config)
    assert cached.stat().st_mtime_ns == stamp
    assert dict(second.get_modelmeta().custom_metadata_map)["impasto.kind"] == "transformer"
    np.testing.assert_allclose(first, expected, atol=1e-3)
    np.testing.assert_allclose(second.run(None, frame)[0], expected, atol=1e-3)
    assert optimized_cache_path(target.path, config.with_(optimization="basic")) != cached


def test_optimised_cache_of_a_graph_with_external_weights(tmp_path):
    from impasto.runtime.gatys.loss_model import GatysLossModel

    model = GatysLossModel("vgg16-avg")
    cached = GatysLossModel("vgg16-avg", SessionConfig(cache_dir=tmp_path))
    again = GatysLossModel("vgg16-avg", SessionConfig(cache_dir=tmp_path))
    assert len(list(tmp_path.glob("*.onnx"))) == 2 and list(tmp_path.glob("*.data"))
    image = np.random.default_rng(3).uniform(0, 255, (48, 48, 3)).astype(np.float32)
    targets = model.targets(image)
    batch = image.transpose(2, 0, 1)[None].copy()
    losses = [m.evaluate(batch, targets, m.weights()).loss for m in (model, cached, again)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-4) and losses[2] == pytest.approx(losses[0], rel=1e-4)


def test_provider_options_reach_onnxruntime_as_documented(tmp_path):
    cuda = provider_chain(SessionConfig(provider="cuda", cudnn_conv_algo_search="exhaustive", cuda_graph=True))
    assert cuda[0] == (
        "CUDAExecutionProvider",
        {"cudnn_conv_algo_search": "EXHAUSTIVE", "cudnn_conv_use_max_workspace": "1", "enable_cuda_graph": "1"},
    )
    assert cuda[-1] == "CPUExecutionProvider"
    config = SessionConfig(
        provider="tensorrt", cache_dir=tmp_path, trt_fp16=True, trt_profile=((256, 256), (720, 1280), (1080, 1920))
    )
    name, options = provider_chain(config, ["image"])[0]
    assert name == "TensorrtExecutionProvider"
    assert options["trt_engine_cache_enable"] == "1" and options["trt_timing_cache_enable"] == "1"
    assert options["trt_engine_cache_path"] == str(tmp_path / "tensorrt")
    assert options["trt_profile_min_shapes"] == "image:1x3x256x256"
    assert options["trt_profile_max_shapes"] == "image:1x3x1080x1920"
    assert options["trt_fp16_enable"] == "1"
    assert [p if isinstance(p, str) else p[0] for p in provider_chain(config)][1:] == [
        "CUDAExecutionProvider", "CPUExecutionProvider"
    ]  # fmt: skip


def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def test_session_options_are_what_onnxruntime_uses():
    """Read back from the session onnxruntime opened, not from the options object our code built."""
    (target,) = resolve_targets(NET, ["fp32"])
    config = SessionConfig(threads=1, optimization="basic", memory_arena=False)
    session = open_session(target.path, config)
    used = session.get_session_options()
    assert used.intra_op_num_threads == 1
    assert used.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert used.enable_cpu_mem_arena is False
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert list(session.get_provider_options()) == ["CPUExecutionProvider"]

    defaults = open_session(target.path).get_session_options()
    assert defaults.intra_op_num_threads == 0  # onnxruntime's own choice: one per core
    assert defaults.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert defaults.enable_cpu_mem_arena is True
    for level, expected in (("disable", "ORT_DISABLE_ALL"), ("extended", "ORT_ENABLE_EXTENDED")):
        used = open_session(target.path, SessionConfig(optimization=level)).get_session_options()
        assert used.graph_optimization_level == getattr(ort.GraphOptimizationLevel, expected)


def test_optimised_graph_from_the_cache_is_not_optimised_again(tmp_path):
    (target,) = resolve_targets(NET, ["fp32"])
    config = SessionConfig(cache_dir=tmp_path, threads=2)
    first = open_session(target.path, config).get_session_options()
    assert first.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    second = open_session(target.path, config).get_session_options()  # loads the optimised copy
    assert second.graph_optimization_level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert second.intra_op_num_threads == 2


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads through /proc (Linux)")
def test_threads_are_the_threads_onnxruntime_starts():
    """threads=N gives onnxruntime's intra-op pool N − 1 workers besides the caller: count the process's threads."""
    (target,) = resolve_targets(NET, ["fp32"])
    sessions = []
    for threads in (1, 3, 4):
        before = _threads()
        sessions.append(open_session(target.path, SessionConfig(threads=threads)))
        assert _threads() - before == threads - 1, threads
    frame = {"image": np.random.default_rng(0).uniform(0, 255, (1, 3, 32, 32)).astype(np.float32), **STYLE}
    for session in sessions:  # and they run
        assert session.run(None, frame)[0].shape == (1, 3, 32, 32)


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA")
def test_cuda_provider_options_are_what_onnxruntime_uses():
    (target,) = resolve_targets(NET, ["fp32"])
    session = open_session(target.path, SessionConfig(provider="cuda", cudnn_conv_algo_search="exhaustive",
                                                      cudnn_max_workspace=False))  # fmt: skip
    assert session.get_providers()[0] == "CUDAExecutionProvider"
    options = session.get_provider_options()["CUDAExecutionProvider"]
    assert options["cudnn_conv_algo_search"] == "EXHAUSTIVE"
    assert options["cudnn_conv_use_max_workspace"] == "0"
    assert options.get("enable_cuda_graph", "0") == "0"


def test_io_binding_gives_what_a_plain_run_gives():
    (target,) = resolve_targets(NET, ["fp32"])
    session = open_session(target.path)
    runner = BoundRunner(session, "cpu", output_like_input=True)
    for shape in ((1, 3, 64, 80), (1, 3, 64, 80), (1, 3, 48, 48)):
        frame = np.random.default_rng(sum(shape)).uniform(0, 255, shape).astype(np.float32)
        feeds = {"image": frame, **STYLE}
        np.testing.assert_allclose(runner.run(feeds)[0], session.run(None, feeds)[0])
    generic = BoundRunner(session, "cpu")
    np.testing.assert_allclose(generic.run(feeds)[0], session.run(None, feeds)[0])


def test_cli_session_options_and_precision_reach_stylize(tmp_path):
    output = tmp_path / "out.png"
    done = run_cli(
        "stylize", "--model", NET, "--precision", "int8", "--threads", "1", "--graph-opt", "extended",
        "--cache-dir", tmp_path / "cache", "--size", "96", "-o", output,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert max(cv2.imread(str(output)).shape[:2]) == 96
    assert list((tmp_path / "cache").glob(f"{resolve(NET, TRANSFORMER, 'int8').path.stem}.*.onnx"))


def test_cuda_graph_needs_a_gpu_provider(tmp_path):
    output = tmp_path / "out.png"
    done = run_cli("stylize", "--model", NET, "--cuda-graph", "-o", output)
    assert_one_line_failure(done, output, "CUDA graphs need")


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA")
def test_bench_on_cuda_times_io_binding_and_cuda_graphs(tmp_path):
    spec = BenchSpec(
        models=[NET], sizes=[(480, 640)], providers=["cuda"], precisions=["fp32", "fp16"],
        modes=["host", "iobinding", "cudagraph"], runs=10, warmup=2,
    )  # fmt: skip
    rows = [result.summary() for result in run_bench(spec)]
    assert {r["mode"] for r in rows} == {"host", "iobinding", "cudagraph"}
    for row in rows:
        assert "error" not in row, row
        assert row["cpu_nodes"] == {}, row


def test_shipped_targets_are_what_the_manifest_lists():
    targets = resolve_targets(NET)
    assert {t.precision for t in targets} >= {"fp32", "fp16", "int8"}
    assert all(isinstance(t, BenchTarget) and t.path.is_file() and t.kind == "transformer" for t in targets)


def test_loss_graph_io_binding_keeps_targets_on_the_device_and_follows_changes():
    from conftest import random_image

    from impasto.runtime.gatys.loss_model import GatysLossModel, to_nchw

    plain, bound = GatysLossModel("vgg16-avg"), GatysLossModel("vgg16-avg", io_binding=True)
    first, second = plain.targets(random_image(40, 48, 4)), plain.targets(random_image(40, 48, 5))
    image = to_nchw(random_image(40, 48, 6))
    for targets, weights in (
        (first, plain.weights()), (first, plain.weights()), (second, plain.weights()),
        (second, plain.weights(style=0)), (first, plain.weights()),
    ):  # fmt: skip
        expected, got = plain.evaluate(image, targets, weights), bound.evaluate(image, targets, weights)
        assert got.loss == pytest.approx(expected.loss, rel=1e-5)
        np.testing.assert_allclose(got.grad, expected.grad, rtol=1e-4, atol=1e-6 * np.abs(expected.grad).max())


def test_fixed_shapes_fold_the_shape_arithmetic_that_cuda_graphs_cannot_capture(tmp_path):
    """The nets compute their upsampling sizes with Shape/Slice nodes that onnxruntime keeps on the CPU; a CUDA
    graph needs every node on the GPU. With the input shape fixed they must fold away, leaving the same result."""
    import onnx

    from impasto.runtime.core.static_shapes import static_shape_model

    (target,) = resolve_targets(NET, ["fp32"])
    assert "Shape" in {node.op_type for node in onnx.load(str(target.path)).graph.node}
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "static.onnx")
    static = ort.InferenceSession(static_shape_model(target.path, {"image": (1, 3, 64, 80)}), options)
    remaining = {node.op_type for node in onnx.load(str(tmp_path / "static.onnx")).graph.node}
    assert "Shape" not in remaining, remaining  # what is left is arithmetic on the image (crop slices, convs)
    frame = {"image": np.random.default_rng(7).uniform(0, 255, (1, 3, 64, 80)).astype(np.float32), **STYLE}
    np.testing.assert_allclose(static.run(None, frame)[0], open_session(target.path).run(None, frame)[0], atol=1e-3)


def test_io_binding_with_preallocated_outputs_of_a_loss_graph():
    """The cudagraph mode's binding (every output in a fixed buffer) on the CPU: same values as a plain run."""
    (target,) = resolve_targets("vgg16-avg")
    session = open_session(target.path)
    from impasto.runtime.bench.targets import make_feeds

    feeds = make_feeds(target, session, (40, 48))
    expected = session.run(None, feeds)
    shapes = {o.name: (v.shape, v.dtype) for o, v in zip(session.get_outputs(), expected, strict=True)}
    runner = BoundRunner(session, "cpu", output_shapes=shapes)
    for _ in range(2):
        for got, want in zip(runner.run(feeds), expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, float(np.abs(want).max())))


def test_tensorrt_profiles_name_only_image_inputs():
    from impasto.runtime.core.static_shapes import image_input_names

    (loss,) = resolve_targets("vgg16-avg")  # its content target is 4-D too, with 512 channels
    assert image_input_names(loss.path) == ["image"]
    assert image_input_names(resolve_targets(NET, ["fp32"])[0].path) == ["image"]


def test_pytorch_baselines_cover_each_device_and_precision_timed():
    from impasto.runtime.bench.runner import baseline_jobs

    targets = resolve_targets(NET)  # fp32, fp16, int8
    fp32 = targets[0].path
    assert baseline_jobs(targets, ["cpu"]) == [(NET, fp32, False, "cpu")]
    assert baseline_jobs(targets, ["cpu", "tensorrt"]) == [
        (NET, fp32, False, "cpu"), (NET, fp32, False, "cuda"), (NET, fp32, True, "cuda")
    ]  # fmt: skip
    assert baseline_jobs(resolve_targets(NET, ["int8"]), ["cpu"]) == []  # no fp32 file to rebuild the net from
    (loss,) = resolve_targets("vgg16-avg")
    assert baseline_jobs([loss], ["cpu"]) == [("vgg16-avg", loss.path, False, "cpu")]


def test_io_binding_never_writes_into_the_callers_arrays():
    (target,) = resolve_targets(NET, ["fp32"])
    runner = BoundRunner(open_session(target.path), "cpu", output_like_input=True)
    first = np.full((1, 3, 32, 32), 10, np.float32)
    runner.run({"image": first, **STYLE})
    runner.run({"image": np.full((1, 3, 32, 32), 200, np.float32), **STYLE})
    assert (first == 10).all()
