"""IO binding under threads: one BoundRunner shared by two callers can hand one caller the other's result; the nets
give each thread a runner of its own, so concurrent callers always get their own results. On the CPU, so it runs
everywhere: a CPU BoundRunner binds host buffers the same way a CUDA one binds device buffers."""

from __future__ import annotations

import threading

import numpy as np
from conftest import REPO, random_image, shipped_transformers, style_feeds

from impasto.runtime.core.io_binding import BoundRunner
from impasto.runtime.core.sessions import open_session
from impasto.runtime.nets.stylizer import Stylizer
from impasto.runtime.nets.transformer import TransformerModel

NET = shipped_transformers()[0]
SHAPE = (64, 96)  # every image the same size: a new size would rebind the buffers and hide the race
THREADS, RUNS = 2, 30


def _batch(image: np.ndarray) -> np.ndarray:
    return image.transpose(2, 0, 1)[None].copy()


def test_a_shared_runner_answers_one_callers_request_with_anothers_result():
    """The hazard, step by step as two threads can interleave: A loads its frame, B loads its own into the same
    bound buffer, A runs and reads back — B's result."""
    session = open_session(REPO / "models" / NET["files"]["fp32"])
    runner = BoundRunner(session, "cpu", output_like_input=True)
    frame_a, frame_b = _batch(random_image(*SHAPE, seed=1)), _batch(random_image(*SHAPE, seed=2))
    style = style_feeds(REPO / "models" / NET["files"]["fp32"])
    expected_a = session.run(None, {"image": frame_a, **style})[0]
    expected_b = session.run(None, {"image": frame_b, **style})[0]
    assert np.abs(expected_a - expected_b).mean() > 5  # the two results are told apart easily

    runner.load({"image": frame_a, **style})  # thread A
    runner.load({"image": frame_b, **style})  # thread B, before A has run
    runner.run_on_device()  # thread A
    got = runner.results()[0]  # thread A reads what it thinks is its result
    np.testing.assert_allclose(got, expected_b, atol=1e-3)
    assert np.abs(got - expected_a).mean() > 5


def _hammer(call, images: list[np.ndarray]) -> list[tuple[int, int, np.ndarray]]:
    """THREADS threads, started together, each making RUNS calls on rotating images; (thread, image, result)."""
    barrier = threading.Barrier(THREADS)
    results: list[list] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def work(thread: int) -> None:
        try:
            barrier.wait()
            for run in range(RUNS):
                index = (thread + THREADS * run) % len(images)  # the threads never ask for the same image at once
                results[thread].append((thread, index, call(images[index])))
        except BaseException as error:  # noqa: BLE001 — re-raised in the main thread
            errors.append(error)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors
    assert all(len(r) == RUNS for r in results)
    return [item for per_thread in results for item in per_thread]


def _images() -> list[np.ndarray]:
    return [random_image(*SHAPE, seed=10 + i) for i in range(6)]


def test_transformer_model_with_io_binding_gives_every_thread_its_own_result():
    model = TransformerModel(NET["name"], io_binding=True)
    assert model.io_binding and model.config.device == "cpu"
    images = _images()
    reference = [model.stylize(image) for image in images]  # single-threaded
    assert min(np.abs(a - b).mean() for i, a in enumerate(reference) for b in reference[i + 1 :]) > 5
    for thread, index, result in _hammer(model.stylize, images):
        assert np.array_equal(result, reference[index]), f"thread {thread} got another image's result ({index})"


def test_stylizer_with_io_binding_gives_every_thread_its_own_result():
    stylizer = Stylizer(NET["name"], io_binding=True)
    assert stylizer.net.io_binding
    images = _images()
    reference = [stylizer.stylize(image) for image in images]
    for thread, index, result in _hammer(stylizer.stylize, images):
        assert np.array_equal(result, reference[index]), f"thread {thread} got another image's result ({index})"
