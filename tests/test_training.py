"""`impasto train` in miniature: the loss falls, a resumed run equals an uninterrupted one, the ONNX export matches."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
import torch
from conftest import painting, photo, run_cli

from impasto.export.training.perceptual import STYLE_LAYERS, gram_batch
from impasto.export.training.trainer import Trainer, TrainSettings
from impasto.export.training.transformer import ARCHITECTURES, ClampedNet, build, multiply_adds


def _settings(content_dir, tmp_path, name: str, **changes) -> TrainSettings:
    base = TrainSettings(
        name=name, style=str(painting("udnie")), content_dir=str(content_dir),
        work_dir=str(tmp_path / name), out_dir=str(tmp_path / "out"), size=48, style_size=96, batch_size=2,
        iterations=12, learning_rate=1e-2, checkpoint_every=3, preview_every=6,
    )  # fmt: skip
    return replace(base, **changes)


@pytest.fixture(scope="module")
def trained(content_folder, offline_weights, tmp_path_factory):
    """One tiny run of 12 steps on the shipped photos (rocket.jpg; the other three are held out), exported; shared
    by the tests below."""
    tmp_path = tmp_path_factory.mktemp("train")
    trainer = Trainer(_settings(content_folder, tmp_path, "tiny"), offline_weights)
    result = trainer.run(quiet=True)
    return trainer, result


def test_tiny_training_run_lowers_the_loss(trained):
    _, result = trained
    totals = [record["total"] for record in result.history]
    assert len(totals) == 12
    assert np.mean(totals[-3:]) < 0.9 * np.mean(totals[:3]), totals


def test_resumed_run_ends_with_the_same_weights(trained, content_folder, offline_weights, tmp_path):
    uninterrupted, _ = trained
    settings = _settings(content_folder, tmp_path, "tiny", iterations=5)
    Trainer(settings, offline_weights).run(quiet=True)  # stops at 5; checkpoints at 3 and at the end
    resumed = Trainer(replace(settings, iterations=12), offline_weights)
    assert resumed.step == 5
    resumed.run(quiet=True)
    _assert_same_checkpoint(resumed.work / "checkpoint.pt", uninterrupted.work / "checkpoint.pt")  # bit for bit


def test_resume_refuses_a_checkpoint_trained_differently(content_folder, offline_weights, tmp_path):
    from impasto.runtime.core.errors import ImpastoError

    settings = _settings(content_folder, tmp_path, "tiny", iterations=3)
    Trainer(settings, offline_weights).run(quiet=True)
    with pytest.raises(ImpastoError, match="style_weight"):
        Trainer(replace(settings, style_weight=99.0), offline_weights)
    # a checkpoint written before a setting existed holds the value that setting has always meant: it resumes, and
    # only that value does
    from impasto.export.training.settings import ADDED_LATER

    path = tmp_path / "tiny" / "checkpoint.pt"
    state = torch.load(path, weights_only=False)
    for key in ADDED_LATER:
        del state["settings"][key]
    torch.save(state, path)
    assert Trainer(replace(settings, iterations=4), offline_weights).step == 3
    with pytest.raises(ImpastoError, match="base_sha256"):
        Trainer(replace(settings, base_sha256="0" * 64), offline_weights)


@pytest.mark.parametrize("shape", [(1, 3, 64, 48), (2, 3, 53, 97)])
def test_exported_onnx_matches_the_pytorch_net(trained, shape):
    trainer, result = trained
    fp32, fp16 = result.onnx_files
    image = torch.from_numpy(np.random.default_rng(1).uniform(0, 255, shape).astype(np.float32))
    with torch.no_grad():
        reference = ClampedNet(trainer.net.cpu().eval())(image).numpy()
    assert reference.std() > 5, "the net's output is flat; the comparison would prove nothing"
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": image.numpy()})[0]
    assert out.shape == shape
    assert np.abs(out - reference).max() <= 1e-2
    half = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"]).run(None, {"image": image.numpy()})[0]
    assert np.abs(half - reference).mean() <= 1.0


def test_export_carries_its_metadata(trained):
    _, result = trained
    meta = ort.InferenceSession(str(result.onnx_files[0])).get_modelmeta().custom_metadata_map
    assert meta["impasto.kind"] == "transformer" and meta["impasto.precision"] == "fp32"
    training = json.loads(meta["impasto.training"])
    assert training["steps"] == 12 and training["style_layers"] == list(STYLE_LAYERS)
    trained_on = json.loads(meta["impasto.trained_on"])
    assert trained_on == ["rocket.jpg"], trained_on  # astronaut, chelsea and coffee are held out


def test_light_net_is_much_cheaper_than_the_full_one():
    full, light = (multiply_adds(build(name), 480, 640) for name in ("full", "light"))
    assert light * 15 < full
    assert set(ARCHITECTURES) == {"full", "light"}


def test_gram_normalisation_is_the_papers():
    features = torch.arange(24, dtype=torch.float32).reshape(1, 2, 3, 4)
    flat = features.reshape(2, 12)
    torch.testing.assert_close(gram_batch(features)[0], flat @ flat.T / 24)


def test_train_command_writes_onnx_and_manifest(content_folder, tmp_path):
    done = run_cli(
        "train", "--style", painting("great-wave"), "--content-dir", content_folder, "--size", "32",
        "--style-size", "64",
        "--batch-size", "1", "--iterations", "2", "--work", tmp_path / "work", "-o", tmp_path / "out",
        "--no-download", "--quiet", "--name", "wave-test",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    (entry,) = manifest["models"]
    assert entry["name"] == "wave-test" and entry["kind"] == "transformer"
    assert set(entry["files"]) == {"fp32", "fp16"}
    assert (tmp_path / "work" / "checkpoint.pt").is_file()
    done = run_cli("stylize", photo("chelsea"), "--model", tmp_path / "out" / "wave-test.onnx",
                   "--size", "64", "-o", tmp_path / "x.png", "--quiet")  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_train_command_bad_input(tmp_path):
    from conftest import assert_one_line_failure

    out = tmp_path / "out" / "manifest.json"
    done = run_cli(
        "train", "--style", tmp_path / "absent.jpg", "--content-dir", tmp_path, "-o", tmp_path / "out", "--no-download"
    )
    assert_one_line_failure(done, out, "no such style image")
    done = run_cli("train", "--style", painting("udnie"), "--content-dir", tmp_path / "none",
                   "-o", tmp_path / "out", "--no-download", "--work", tmp_path / "w")  # fmt: skip
    assert_one_line_failure(done, out, "not a folder of content images")


@pytest.mark.slow
def test_a_real_training_run_learns_the_style(shared_images, offline_weights, tmp_path):
    """300 steps at 128 px on the shared training photos (which a fresh clone does not have): the style loss falls to
    a fraction of its start and the content stays recognisable."""
    settings = _settings(shared_images / "content", tmp_path, "longer", style=str(painting("great-wave")),
                         size=128, style_size=256, iterations=300, learning_rate=2e-3, style_weight=10.0,
                         checkpoint_every=100, preview_every=100)  # fmt: skip
    trainer = Trainer(settings, offline_weights)
    history = trainer.run(quiet=False).history
    style = [r["style"] for r in history]
    assert np.mean(style[-20:]) < 0.05 * np.mean(style[:5]), (style[:5], style[-20:])
    content = [r["content"] for r in history]
    assert np.mean(content[-20:]) < 2.0 * np.mean(content[:5])


def test_a_net_of_several_styles_selects_and_blends_them_in_one_pass(content_folder, offline_weights, tmp_path):
    """Conditional instance normalisation (Dumoulin et al. 2017): one file, a style_weights input; one-hot weights
    give exactly that style's output in onnxruntime as in torch, and the output moves continuously with the weights."""
    paintings = [str(painting("udnie")), str(painting("great-wave"))]
    settings = _settings(content_folder, tmp_path, "duo", architecture="light2-8", styles=paintings, iterations=6)
    trainer = Trainer(settings, offline_weights)
    result = trainer.run(quiet=True)
    assert [r["style_index"] for r in result.history] == [0, 1, 0, 1, 0, 1]  # the styles in turn
    fp32, fp16 = result.onnx_files
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "style_weights"]
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["impasto.styles"]) == ["udnie", "great-wave"]
    assert json.loads(meta["impasto.architecture"])["styles"] == 2

    image = np.random.default_rng(0).uniform(0, 255, (1, 3, 40, 56)).astype(np.float32)
    net = trainer.net.eval()

    def run(weights: list[float]) -> np.ndarray:
        feeds = {"image": image, "style_weights": np.array([weights], np.float32)}
        return session.run(None, feeds)[0]

    for index in (0, 1):
        one_hot = [1.0 if i == index else 0.0 for i in range(2)]
        with torch.no_grad():
            expected = ClampedNet(net)(torch.from_numpy(image), torch.tensor([one_hot])).numpy()
        np.testing.assert_allclose(run(one_hot), expected, atol=0.05)
    first, second = run([1.0, 0.0]), run([0.0, 1.0])
    assert np.abs(first - second).mean() > 1.0  # two styles, told apart
    steps = [run([1 - t, t]) for t in np.linspace(0, 1, 11)]
    jumps = [np.abs(b - a).mean() for a, b in zip(steps, steps[1:], strict=False)]
    assert max(jumps) < 0.5 * np.abs(first - second).mean()  # no jump: the blend moves continuously
    half = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"])
    feeds = {"image": image, "style_weights": np.array([[0.0, 1.0]], np.float32)}
    assert np.abs(half.run(None, feeds)[0] - second).mean() < 1.0


# Ctrl-C. A KeyboardInterrupt raised where SIGINT lands used to be checkpointed as it was: mostly in the middle of a
# step, after the crop sampler had drawn the batch but before the weights and the step counter moved, so the resumed
# run skipped a batch. Now Ctrl-C ends the step first; a second Ctrl-C abandons the step and the last checkpoint
# stands. Either way the resumed run must end with the very bits of an uninterrupted one.


def _assert_same_checkpoint(path, reference) -> None:
    """Two checkpoints hold the same step, history, random states, weights and Adam state, bit for bit."""
    ours, theirs = torch.load(path, weights_only=False), torch.load(reference, weights_only=False)
    assert ours["step"] == theirs["step"] and ours["history"] == theirs["history"]
    assert ours["sampler"] == theirs["sampler"] and torch.equal(ours["torch_rng"], theirs["torch_rng"])
    assert ours["net"].keys() == theirs["net"].keys()
    for name, value in theirs["net"].items():
        assert torch.equal(ours["net"][name], value), name
    assert ours["optimizer"]["param_groups"] == theirs["optimizer"]["param_groups"]
    for index, state in theirs["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(ours["optimizer"]["state"][index][key], value), (index, key)


def _onnx_weights(path) -> dict[str, bytes]:
    import onnx

    return {tensor.name: tensor.raw_data for tensor in onnx.load(str(path)).graph.initializer}


def test_ctrl_c_in_the_middle_of_steps_resumes_to_the_same_bits(trained, content_folder, offline_weights, tmp_path):
    """SIGINT raised at the worst moments, through torch's own hooks: once just after the sampler drew step 4's batch
    (the run finishes step 4 and checkpoints it), then twice after Adam updated step 8's weights but before the step
    was counted (the step is abandoned; step 6's checkpoint stands). Resumed to 12: the uninterrupted run's bits."""
    uninterrupted, _ = trained
    settings = _settings(content_folder, tmp_path, "tiny")

    def sigint_during_step(trainer: Trainer, step: int, times: int):
        def hook(*_) -> None:
            if trainer.step == step - 1:
                for _ in range(times):
                    signal.raise_signal(signal.SIGINT)

        return hook

    first = Trainer(settings, offline_weights)
    first.net.register_forward_pre_hook(sigint_during_step(first, 4, times=1))
    with pytest.raises(KeyboardInterrupt, match=r"^interrupted at step 4 of 12; checkpoint saved"):
        first.run(quiet=True)
    second = Trainer(settings, offline_weights)
    assert second.step == 4
    second.optimizer.register_step_post_hook(sigint_during_step(second, 8, times=2))
    with pytest.raises(
        KeyboardInterrupt, match=r"^interrupted in the middle of a step; the same command resumes from step 6"
    ):
        second.run(quiet=True)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the run put Python's handler back
    third = Trainer(settings, offline_weights)
    assert third.step == 6
    third.run(quiet=True)
    _assert_same_checkpoint(third.work / "checkpoint.pt", uninterrupted.work / "checkpoint.pt")


def test_train_command_ctrl_c_resumes_to_the_same_weights(trained, content_folder, tmp_path):
    """The real command, stopped by SIGINT soon after its first checkpoint (step 3), wherever in a step it lands; the
    same command resumes it, and both its checkpoint and its exported net equal the uninterrupted run's bit for bit.
    The first run asks for 1000 steps so it cannot end before the signal (steps may be raised on resuming)."""
    uninterrupted, result = trained
    work, out = tmp_path / "work", tmp_path / "out"
    command = [
        sys.executable, "-m", "impasto.runtime.cli", "train", "--style", painting("udnie"),
        "--content-dir", content_folder, "--name", "tiny", "--size", "48", "--style-size", "96", "--batch-size", "2",
        "--learning-rate", "1e-2", "--checkpoint-every", "3", "--preview-every", "6", "--device", "cpu",
        "--work", work, "-o", out, "--no-download", "--quiet",
    ]  # fmt: skip
    command = [str(part) for part in command]
    process = subprocess.Popen([*command, "--iterations", "1000"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (work / "checkpoint.pt").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stderr = process.communicate(timeout=120)[1]
    assert process.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    found = re.fullmatch(r"impasto: interrupted at step (\d+) of 1000; checkpoint saved, the same command resumes "
                         r"from there", last)  # fmt: skip
    assert found, stderr
    step = int(found[1])
    assert 3 <= step < 12 and torch.load(work / "checkpoint.pt", weights_only=False)["step"] == step
    assert not out.exists() or not list(out.iterdir())  # nothing exported

    done = subprocess.run([*command, "--iterations", "12"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming tiny from step {step}" in done.stderr
    _assert_same_checkpoint(work / "checkpoint.pt", uninterrupted.work / "checkpoint.pt")
    assert _onnx_weights(out / "tiny.onnx") == _onnx_weights(result.onnx_files[0])


@pytest.mark.parametrize(
    "where",
    ["-o a-file.txt/out", "-o /proc", "--work a-file.txt/work", "--work /proc/w"],
)
def test_train_refuses_an_unwritable_place_before_loading_anything(content_folder, tmp_path, where):
    """A file used as a folder, a folder that cannot be made, an existing folder nothing can be written in (root's
    os.access says yes to /proc): one line naming it, before the VGG16 weights are looked for (--vgg-weights names a
    file that does not exist: looked for first, it would be the error), and no folder left behind."""
    from conftest import assert_one_line_failure

    (tmp_path / "a-file.txt").write_text("not a folder")
    flag, value = where.split()
    place = value if value.startswith("/") else str(tmp_path / value)
    places = {"-o": str(tmp_path / "out"), "--work": str(tmp_path / "work"), flag: place}
    done = run_cli("train", "--style", painting("udnie"), "--content-dir", content_folder, "--iterations", "2",
                   "--size", "32", "--vgg-weights", tmp_path / "absent.pth", "--name", "refused", "--device", "cpu",
                   *[part for pair in places.items() for part in pair], timeout=120)  # fmt: skip
    assert_one_line_failure(done, tmp_path / "out" / "refused.onnx", place)
    assert "absent.pth" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file.txt"]  # neither work nor out was left behind
