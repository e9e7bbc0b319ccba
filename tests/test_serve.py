"""``impasto serve`` started on loopback as a user would start it, and exercised over real HTTP and WebSocket."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import run_cli

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")

from impasto.runtime.core.registry import shipped_models_dir  # noqa: E402

PHOTO = shipped_models_dir() / "images" / "chelsea.png"
NET = "great-wave"  # a style of the shipped six-paintings net
KEY = "test-key-123"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(*options: str, key: str | None = None):
    """``impasto serve`` in a child process; yields (base URL, pid)."""
    port = _free_port()
    env = {**os.environ, "IMPASTO_API_KEY": key or ""}
    command = [sys.executable, "-m", "impasto.runtime.cli", "serve", "--port", str(port), *options]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"server did not start: {process.stderr.read() if process.stderr else ''}")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def server():
    with serving("--max-upload-mb", "1", "--max-pixels", "4000000", "--queue", "4") as running:
        yield running


def _png(height: int, width: int, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.imencode(".png", pixels)[1].tobytes()


def _error(response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()["error"]


def test_every_endpoint_answers(server):
    base, _ = server
    page = httpx.get(f"{base}/")
    assert page.status_code == 200 and "<title>Impasto</title>" in page.text
    health = httpx.get(f"{base}/healthz").json()
    assert health["status"] == "ok"
    models = httpx.get(f"{base}/v1/models").json()
    assert NET in [style for m in models["models"] for style in m.get("styles") or [m["name"]]] and models["default"]
    raw = httpx.post(f"{base}/v1/stylize", params={"model": NET, "size": 96}, content=PHOTO.read_bytes())
    assert raw.status_code == 200 and raw.headers["content-type"] == "image/png"
    assert max(cv2.imdecode(np.frombuffer(raw.content, np.uint8), cv2.IMREAD_COLOR).shape[:2]) == 96
    form = httpx.post(
        f"{base}/v1/stylize", data={"model": NET, "size": "64", "format": "jpeg"},
        files={"image": ("cat.png", PHOTO.read_bytes(), "image/png")},
    )  # fmt: skip
    assert form.status_code == 200 and form.content[:3] == b"\xff\xd8\xff"
    metrics = httpx.get(f"{base}/metrics").text
    assert 'impasto_requests_total{endpoint="/v1/stylize",status="200"}' in metrics
    assert "impasto_request_seconds_bucket" in metrics and "impasto_queue_depth" in metrics


def test_api_result_equals_the_cli_result(server, tmp_path):
    base, _ = server
    output = tmp_path / "cli.png"
    done = run_cli("stylize", PHOTO, "--model", NET, "--size", "128", "-o", output, "--quiet")
    assert done.returncode == 0, done.stderr
    api = httpx.post(f"{base}/v1/stylize", params={"model": NET, "size": 128}, content=PHOTO.read_bytes())
    assert api.status_code == 200
    assert api.content == output.read_bytes()
    done = run_cli("stylize", PHOTO, "--model", NET, "--size", "128", "--strength", "0.4", "-o", output, "--quiet")
    api = httpx.post(
        f"{base}/v1/stylize", params={"model": NET, "size": 128, "strength": 0.4}, content=PHOTO.read_bytes()
    )
    assert api.status_code == 200 and api.content == output.read_bytes()


def test_gatys_job_runs_and_reports_progress(server):
    base, _ = server
    files = {
        "content": ("c.png", PHOTO.read_bytes()),
        "style": ("s.jpg", (PHOTO.parent / "great-wave.jpg").read_bytes()),
    }
    submitted = httpx.post(f"{base}/v1/jobs", data={"size": "48", "iters": "6"}, files=files)
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    seen = []
    deadline = time.time() + 120
    while job["state"] not in ("done", "failed") and time.time() < deadline:
        time.sleep(0.3)
        job = httpx.get(f"{base}/v1/jobs/{job['id']}").json()
        seen.append(job["progress"])
    assert job["state"] == "done", job
    assert job["iterations_done"] == job["iterations_total"] > 0 and seen == sorted(seen)
    result = httpx.get(f"{base}{job['result']}")
    assert result.status_code == 200
    assert max(cv2.imdecode(np.frombuffer(result.content, np.uint8), cv2.IMREAD_COLOR).shape[:2]) == 48
    assert _error(httpx.get(f"{base}/v1/jobs/nope"))["kind"] == "unknown_job"


def test_live_websocket_stylises_frames(server):
    from websockets.sync.client import connect

    base, _ = server
    frame = cv2.imencode(".jpg", np.full((120, 160, 3), 90, np.uint8))[1].tobytes()
    with connect(f"{base.replace('http', 'ws')}/v1/live?model={NET}&size=80") as live:
        for _ in range(3):
            live.send(frame)
            reply = live.recv(timeout=30)
            assert isinstance(reply, bytes) and reply[:3] == b"\xff\xd8\xff"
            assert max(cv2.imdecode(np.frombuffer(reply, np.uint8), cv2.IMREAD_COLOR).shape[:2]) == 80


def _huge_png_header() -> bytes:
    """A PNG whose header declares 100 000 × 100 000 pixels (and carries a few bytes of image data)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_bad_requests_get_4xx_json_and_leave_the_server_healthy(server):
    base, _ = server
    post = lambda body, **params: httpx.post(f"{base}/v1/stylize", params=params, content=body)  # noqa: E731
    photo = PHOTO.read_bytes()
    cases = [
        (post(b"hello, not an image" * 10), 400, "bad_image"),
        (post(photo[: len(photo) // 2]), 400, "bad_image"),
        (post(_huge_png_header()), 413, "image_too_large"),
        (post(photo, model="no-such-net"), 404, "unknown_model"),
        (post(photo, model="vgg16-avg"), 404, "unknown_model"),  # a loss graph is not a net to stylise with
        (post(b"\0" * (2 << 20)), 413, "upload_too_large"),
        (post(photo, size="huge"), 422, "bad_parameter"),
        (post(photo, size="100000"), 422, "bad_parameter"),
        (post(photo, format="gif"), 422, "bad_parameter"),
        (post(photo, strength="1.5"), 422, "bad_parameter"),
        (post(photo, strength="nan"), 422, "bad_parameter"),
        (post(photo, preserve_color="maybe"), 422, "bad_parameter"),
        (post(photo, colour="blue"), 422, "bad_parameter"),
        (post(_png(100, 1000), size="64"), 400, "bad_image"),  # 64×6: too thin for the net, said, not a 500
        (post(b""), 400, "no_image"),
        (httpx.post(f"{base}/v1/jobs", files={"content": ("c.png", photo)}), 400, "no_image"),
    ]
    for response, status, kind in cases:
        assert response.status_code == status, (kind, response.text)
        assert _error(response)["kind"] == kind
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    ok = httpx.post(f"{base}/v1/stylize", params={"size": 64}, content=photo)
    assert ok.status_code == 200
    metrics = httpx.get(f"{base}/metrics").text
    assert 'impasto_errors_total{kind="image_too_large"}' in metrics


def test_api_key_is_required_when_set():
    with serving(key=KEY) as (base, _):
        photo = PHOTO.read_bytes()
        missing = httpx.post(f"{base}/v1/stylize", content=photo)
        assert missing.status_code == 401 and _error(missing)["kind"] == "unauthorized"
        wrong = httpx.get(f"{base}/v1/models", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401
        assert httpx.get(f"{base}/v1/models", headers={"X-API-Key": KEY}).status_code == 200
        bearer = httpx.post(f"{base}/v1/stylize", params={"size": 48}, content=photo,
                            headers={"Authorization": f"Bearer {KEY}"})  # fmt: skip
        assert bearer.status_code == 200
        assert httpx.get(f"{base}/healthz").status_code == 200  # health checks need no key


def test_bounded_load_gives_only_successes_and_deliberate_503s():
    """200 requests from 16 concurrent clients against 1 slot and a queue of 4: the excess is turned away with
    503 + Retry-After, nothing else fails, and the server's memory stays bounded."""
    psutil = pytest.importorskip("psutil")
    with serving("--slots", "1", "--queue", "4") as (base, pid):
        body = _png(240, 320)
        httpx.post(f"{base}/v1/stylize", params={"size": 160}, content=body)  # load the model first
        server_process = psutil.Process(pid)
        before = server_process.memory_info().rss

        def one(_: int) -> tuple[int, str | None]:
            with httpx.Client(timeout=120) as client:
                response = client.post(f"{base}/v1/stylize", params={"size": 160}, content=body)
                return response.status_code, response.headers.get("retry-after")

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            results = list(pool.map(one, range(200)))
        statuses = [status for status, _ in results]
        assert set(statuses) <= {200, 503}, sorted(set(statuses))
        assert statuses.count(200) >= 20 and statuses.count(503) >= 1
        assert all(retry for status, retry in results if status == 503)
        growth = server_process.memory_info().rss - before
        assert growth < 300 << 20, f"server grew by {growth / 2**20:.0f} MB"
        assert httpx.get(f"{base}/healthz").json()["queue"] == 0


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        for folder in os.environ.get("PATH", "").split(os.pathsep):
            if (Path(folder) / name).is_file():
                return str(Path(folder) / name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="no chromium here (Debian: apt-get install chromium)")
def test_web_page_end_to_end_in_headless_chromium(server, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    base, _ = server
    photo = tmp_path / "generated.png"
    gradient = np.linspace(0, 255, 200 * 300 * 3).reshape(200, 300, 3).astype(np.uint8)
    cv2.imwrite(str(photo), gradient)
    args = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
    ]  # containers: small /dev/shm, no GPU
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=args, headless=True)
        page = browser.new_page()  # under the page's own Content-Security-Policy: the page works within it
        violations: list[str] = []
        page.on(
            "console", lambda message: "Content Security Policy" in message.text and violations.append(message.text)
        )
        page.goto(f"{base}/")
        page.wait_for_function("() => document.querySelector('#model').options.length >= 6")  # each style a choice
        page.select_option("#model", NET)
        page.set_input_files("#file", str(photo))
        page.wait_for_function("() => document.querySelector('#result').naturalWidth > 0", timeout=60_000)
        assert page.text_content("#caption").startswith(NET)
        # the blend control: another style of the same net, 30 % of it, one request with model=a:0.70,b:0.30
        blend_with = page.eval_on_selector_all("#blend option", "options => options.map((o) => o.value)")
        assert blend_with[0] == "" and NET not in blend_with and len(blend_with) == 6, blend_with
        page.select_option("#blend", "udnie")
        page.eval_on_selector("#mix", "e => { e.value = '0.3'; e.dispatchEvent(new Event('change')); }")
        page.wait_for_function(
            "() => document.querySelector('#caption').textContent.startsWith('great-wave:0.70,udnie:0.30')",
            timeout=60_000,
        )
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        page.click("#live")
        page.wait_for_function("() => document.querySelector('#caption').textContent.includes('FPS')", timeout=60_000)
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        page.click("#live")
        browser.close()
    assert violations == [], violations  # nothing the page does is blocked by its policy
    for shot in ("page.png", "live.png"):
        image = cv2.imread(str(tmp_path / shot))
        assert image is not None and image.shape[1] >= 600
    artifacts = Path(os.environ.get("IMPASTO_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    for shot in ("page.png", "live.png"):
        (artifacts / f"serve-{shot}").write_bytes((tmp_path / shot).read_bytes())


def test_time_limit_and_job_limit_answer_with_json_and_the_server_stays_up():
    with serving("--timeout", "0.001", "--max-jobs", "1") as (base, _):
        slow = httpx.post(f"{base}/v1/stylize", params={"size": 512}, content=PHOTO.read_bytes())
        assert slow.status_code == 504 and _error(slow)["kind"] == "timeout"
        files = {"content": ("c.png", PHOTO.read_bytes()), "style": ("s.png", PHOTO.read_bytes())}
        first = httpx.post(f"{base}/v1/jobs", data={"size": "64", "iters": "400"}, files=files)
        second = httpx.post(f"{base}/v1/jobs", data={"size": "64", "iters": "400"}, files=files)
        assert first.status_code == 202, first.text
        assert second.status_code == 503 and _error(second)["kind"] == "too_many_jobs"
        assert second.headers["retry-after"]
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        assert httpx.get(f"{base}/v1/jobs/{first.json()['id']}").json()["state"] in ("queued", "running", "done")
