"""``/v1/jobs`` as a service, against ``impasto serve`` on loopback: cost budget (the plan's, preset or custom),
strict parameters, presets, cancel, list, time limit, and uploads decoded only after a job place is reserved."""

from __future__ import annotations

import concurrent.futures
import time

import cv2
import numpy as np
import pytest
from test_serve import KEY, PHOTO, _error, _huge_png_header, _png, serving

from impasto.runtime.core.registry import LOSS, onnx_metadata, resolve
from impasto.runtime.gatys.schedule import DEFAULT_PRESET, PRESETS
from impasto.runtime.gatys.settings import OptimizeSettings
from impasto.runtime.serve.settings import ServeSettings

httpx = pytest.importorskip("httpx")

ACTIVE = ("queued", "running")
BUDGET = ServeSettings().max_job_cost  # the module's server runs with the default budget


def _plan(size: int, preset: str | None = None, iters: int | None = None):
    """The schedule a job of ``size`` runs, as the runtime plans it for the shipped loss graph the server opens."""
    min_side = int(onnx_metadata(resolve(ServeSettings().loss_model, LOSS, "loss").path)["impasto.min_side"])
    return OptimizeSettings(size=size, preset=preset, iters=iters).schedule(size, min_side)


@pytest.fixture(scope="module")
def server():
    with serving("--max-pixels", "4000000") as running:
        yield running


def _files() -> dict:
    """The photo, and noise as its style: far from each other, so L-BFGS does not converge and stop early."""
    return {"content": ("c.png", PHOTO.read_bytes()), "style": ("s.png", _png(96, 128))}


def _submit(base: str, headers: dict | None = None, **params: str) -> dict:
    response = httpx.post(f"{base}/v1/jobs", data=params, files=_files(), headers=headers, timeout=60)
    assert response.status_code == 202, response.text
    return response.json()


def _wait(base: str, job_id: str, until, timeout: float = 60.0, headers: dict | None = None) -> dict:
    """Poll the job until ``until(status)`` holds (fails after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        status = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers).json()
        if until(status):
            return status
        assert time.monotonic() < deadline, f"job still {status} after {timeout} s"
        time.sleep(0.05)


def _refusal(response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    error = _error(response)
    assert error["kind"] == kind, error
    return error["message"]


def test_a_job_over_budget_is_refused_before_its_images_are_decoded(server):
    base, _ = server
    began = time.monotonic()
    files = {"content": ("bomb.png", _huge_png_header()), "style": ("bomb.png", _huge_png_header())}
    response = httpx.post(f"{base}/v1/jobs", data={"size": "1024", "iters": "1000"}, files=files, timeout=60)
    message = _refusal(response, 413, "job_too_costly")  # not image_too_large: nothing was decoded
    # the custom plan: 1000 iterations at 512 px, then 500 at 1024 (not 1024² × 1000)
    assert "512² × 1000 + 1024² × 500 = 786,432,000" in message and "19,660,800" in message, message
    assert time.monotonic() - began < 5


@pytest.mark.parametrize("preset", [*PRESETS, None])
def test_a_preset_job_over_budget_is_refused_at_its_plans_cost(server, preset):
    """A preset (or, without preset and iters, the default one) is costed by its plan: every scale's long side² ×
    its iteration cap, summed; at 1024 px every preset is over the default budget."""
    base, _ = server
    files = {"content": ("bomb.png", _huge_png_header()), "style": ("bomb.png", _huge_png_header())}
    data = {"size": "1024"} | ({"preset": preset} if preset else {})
    message = _refusal(httpx.post(f"{base}/v1/jobs", data=data, files=files, timeout=60), 413, "job_too_costly")
    plan = _plan(1024, preset or DEFAULT_PRESET)
    assert plan.cost() > BUDGET and len(plan.scales) > 1
    terms = " + ".join(f"{scale.long_side}² × {scale.iters}" for scale in plan.scales)
    assert f"{terms} = {plan.cost():,}" in message and f"{BUDGET:,}" in message, message


def test_a_preset_job_runs_its_plan_and_says_so(server):
    """Accepted (202); its status names the preset, its plan (scales and caps) and the plan's cost from the start;
    once running, the optimiser's own count of iterations is the plan's. A job without preset or iters runs the
    default preset; one with iters runs the custom schedule."""
    base, _ = server
    plan = _plan(64, "fast")
    job = _submit(base, size="64", preset="fast")
    assert job["preset"] == "fast" and job["iters"] is None
    assert job["plan"] == [{"size": scale.long_side, "iters": scale.iters} for scale in plan.scales]
    assert job["cost"] == plan.cost() and job["iterations_total"] == plan.iterations
    running = _wait(base, job["id"], lambda status: status["iterations_done"] >= 2 or status["state"] not in ACTIVE)
    assert running["state"] in ("running", "done") and running["iterations_total"] == plan.iterations, running
    listed = {item["id"]: item for item in httpx.get(f"{base}/v1/jobs").json()["jobs"]}
    assert listed[job["id"]]["preset"] == "fast" and listed[job["id"]]["plan"] == job["plan"]
    httpx.delete(f"{base}/v1/jobs/{job['id']}", timeout=30)

    default = _submit(base, size="64")
    custom = _submit(base, size="64", iters="7")
    for submitted in (default, custom):
        httpx.delete(f"{base}/v1/jobs/{submitted['id']}", timeout=30)
    assert default["preset"] == DEFAULT_PRESET and default["cost"] == _plan(64, DEFAULT_PRESET).cost()
    assert custom["preset"] == "custom" and custom["iters"] == 7 and custom["plan"] == [{"size": 64, "iters": 7}]


def test_the_budget_is_the_plans_cost_to_the_pixel():
    """With --max-job-cost set to exactly the fast preset's plan at 256 px, that job is accepted although its size²
    × its iterations is over the budget; one at 257 px (every scale's side the same or one larger) is refused."""
    plan = _plan(256, "fast")
    assert plan.cost() < 256 * 256 * plan.iterations  # what a size² × iterations budget would have refused
    with serving("--max-job-cost", str(plan.cost())) as (base, _):
        accepted = _submit(base, size="256", preset="fast")
        assert accepted["cost"] == plan.cost()
        httpx.delete(f"{base}/v1/jobs/{accepted['id']}", timeout=30)
        over = httpx.post(f"{base}/v1/jobs", data={"size": "257", "preset": "fast"}, files=_files(), timeout=60)
        assert f"{_plan(257, 'fast').cost():,}" in _refusal(over, 413, "job_too_costly")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"style_weight": "nan"}, "style_weight"),
        ({"style_weight": "inf"}, "style_weight"),
        ({"style_weight": "1e308"}, "style_weight"),
        ({"style_weight": "-1"}, "style_weight"),
        ({"preserve_color": "maybe"}, "preserve_color"),
        ({"size": "48.5"}, "size"),
        ({"size": "4096"}, "size"),
        ({"iters": "0"}, "iters"),
        ({"bogus": "1"}, "bogus"),
        ({"preset": "turbo"}, "preset"),
        ({"preset": "FAST"}, "preset"),
        ({"preset": "fast"}, "preset"),  # with the iters every case here sends: one or the other
    ],
)
def test_bad_job_parameters_get_422_naming_the_field(server, params, field):
    base, _ = server
    response = httpx.post(f"{base}/v1/jobs", data={"size": "48", "iters": "2", **params}, files=_files(), timeout=60)
    assert _refusal(response, 422, "bad_parameter").startswith(f"{field}:")


def test_unknown_query_field_and_unknown_file_field_get_422(server):
    base, _ = server
    query = httpx.post(f"{base}/v1/jobs", params={"colour": "1"}, data={"size": "48"}, files=_files(), timeout=60)
    assert _refusal(query, 422, "bad_parameter").startswith("colour:")
    extra = {"content": ("c.png", PHOTO.read_bytes()), "mask": ("m.png", PHOTO.read_bytes())}  # 2 files at most
    upload = httpx.post(f"{base}/v1/jobs", data={"size": "48"}, files=extra, timeout=60)
    assert _refusal(upload, 422, "bad_parameter").startswith("mask:")


def test_a_finished_job_is_listed_and_its_result_served(server):
    base, _ = server
    job = _submit(base, size="48", iters="3", preserve_color="yes")
    done = _wait(base, job["id"], lambda status: status["state"] not in ACTIVE)
    assert done["state"] == "done", done
    listed = {item["id"]: item for item in httpx.get(f"{base}/v1/jobs").json()["jobs"]}
    assert job["id"] in listed
    assert {"id", "state", "progress", "created"} <= set(listed[job["id"]])
    assert listed[job["id"]]["state"] == "done" and listed[job["id"]]["progress"] == 1.0
    result = httpx.get(f"{base}{done['result']}")
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(result.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(image.shape[:2]) == 48
    assert _refusal(httpx.delete(f"{base}/v1/jobs/{job['id']}"), 409, "job_finished")
    assert _refusal(httpx.delete(f"{base}/v1/jobs/nope"), 404, "unknown_job")


def test_cancelling_a_running_job_stops_it_within_one_iteration(server):
    base, _ = server
    job = _submit(base, size="128", iters="1000")
    running = _wait(base, job["id"], lambda status: status["iterations_done"] >= 3)
    began = time.monotonic()
    cancelled = httpx.delete(f"{base}/v1/jobs/{job['id']}", timeout=30)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled" and time.monotonic() - began < 3
    stopped_at = cancelled.json()["iterations_done"]
    assert running["iterations_done"] <= stopped_at < 1000
    for _ in range(5):  # its iteration count no longer moves
        time.sleep(0.2)
        status = httpx.get(f"{base}/v1/jobs/{job['id']}").json()
        assert status["state"] == "cancelled" and status["iterations_done"] == stopped_at, status
    assert _refusal(httpx.get(f"{base}/v1/jobs/{job['id']}/result"), 409, "not_done")
    assert _refusal(httpx.delete(f"{base}/v1/jobs/{job['id']}"), 409, "job_finished")
    after = _submit(base, size="32", iters="1")  # its place was freed, the worker goes on
    assert _wait(base, after["id"], lambda status: status["state"] not in ACTIVE)["state"] == "done"


def test_a_waiting_job_is_cancelled_at_once(server):
    base, _ = server
    first = _submit(base, size="128", iters="1000")
    waiting = _submit(base, size="128", iters="1000")
    assert httpx.get(f"{base}/v1/jobs/{waiting['id']}").json()["state"] == "queued"
    cancelled = httpx.delete(f"{base}/v1/jobs/{waiting['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
    assert cancelled.json()["iterations_done"] == 0
    assert httpx.delete(f"{base}/v1/jobs/{first['id']}", timeout=30).json()["state"] == "cancelled"


def test_bomb_uploads_are_refused_without_the_server_growing(server):
    """Four concurrent job posts of decompression bombs (a 1.4 KB lossless WebP of 6000 × 6000 pixels, and a PNG
    header of 100 000 × 100 000): each is 413 (or 503 once the places are taken); the server's memory does not grow."""
    psutil = pytest.importorskip("psutil")
    base, pid = server
    warm = _submit(base, size="32", iters="1")  # the loss graph is open and has run once
    _wait(base, warm["id"], lambda status: status["state"] not in ACTIVE)
    process = psutil.Process(pid)
    before = process.memory_info().rss
    bomb = cv2.imencode(".webp", np.zeros((6000, 6000, 3), np.uint8), [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes()
    assert len(bomb) < 4096
    files = {"content": ("bomb.webp", bomb), "style": ("bomb.png", _huge_png_header())}

    def post(_: int) -> httpx.Response:
        return httpx.post(f"{base}/v1/jobs", data={"size": "64", "iters": "5"}, files=files, timeout=60)

    for _ in range(3):
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            responses = list(pool.map(post, range(4)))
        assert {response.status_code for response in responses} <= {413, 503}, [r.text for r in responses]
        kinds = {_error(response)["kind"] for response in responses}
        assert kinds <= {"image_too_large", "too_many_jobs"} and "image_too_large" in kinds
    growth = process.memory_info().rss - before
    assert growth < 100 << 20, f"server grew by {growth / 2**20:.0f} MB"
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    after = _submit(base, size="32", iters="1")  # every reserved place was given back
    assert _wait(base, after["id"], lambda status: status["state"] not in ACTIVE)["state"] == "done"


def test_job_timeout_ends_a_long_job_and_jobs_are_listed_for_the_key():
    headers = {"X-API-Key": KEY}
    with serving("--job-timeout", "5", key=KEY) as (base, _):  # a loaded 2-core CPU takes 2 s to a first iteration
        assert httpx.get(f"{base}/v1/jobs", headers=headers).json() == {"jobs": []}
        job = _submit(base, headers=headers, size="128", iters="1000")
        began = time.monotonic()
        ended = _wait(base, job["id"], lambda status: status["state"] not in ACTIVE, headers=headers)
        assert ended["state"] == "timed_out", ended
        assert "time limit" in ended["error"] and 0 < ended["iterations_done"] < 1000
        assert time.monotonic() - began < 20
        listed = httpx.get(f"{base}/v1/jobs", headers=headers).json()["jobs"]
        assert [item["id"] for item in listed] == [job["id"]] and listed[0]["state"] == "timed_out"
        assert httpx.get(f"{base}/v1/jobs").status_code == 401
        small = _submit(base, headers=headers, size="32", iters="2")
        assert _wait(base, small["id"], lambda s: s["state"] not in ACTIVE, headers=headers)["state"] == "done"


def test_healthz_stays_fast_while_48_results_are_fetched(server):
    """Result images are encoded on worker threads, not on the event loop every request shares. The 48 fetches come
    from another process, so this one's timing of /healthz is not slowed by its own threads."""
    import subprocess
    import sys

    base, _ = server
    job = _submit(base, size="256", iters="2")
    _wait(base, job["id"], lambda status: status["state"] == "done", timeout=180)
    fetch = (  # 48 clients made first, then told to go at once: their own start is not part of the measure
        "import concurrent.futures, httpx, sys\n"
        "clients = [httpx.Client(timeout=120) for _ in range(48)]\n"
        "print('ready', flush=True); sys.stdin.readline()\n"
        "with concurrent.futures.ThreadPoolExecutor(48) as pool:\n"
        "    codes = list(pool.map(lambda c: c.get(sys.argv[1]).status_code, clients))\n"
        "sys.exit(0 if codes == [200] * 48 else 1)\n"
    )
    latencies: list[float] = []
    with httpx.Client() as client:
        client.get(f"{base}/healthz")
        command = [sys.executable, "-c", fetch, f"{base}/v1/jobs/{job['id']}/result"]
        fetchers = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert fetchers.stdout.readline().strip() == "ready"
        fetchers.stdin.write("go\n")
        fetchers.stdin.flush()
        deadline = time.monotonic() + 120
        while fetchers.poll() is None and time.monotonic() < deadline:
            began = time.perf_counter()
            assert client.get(f"{base}/healthz").status_code == 200
            latencies.append(time.perf_counter() - began)
            time.sleep(0.005)
    assert fetchers.wait(timeout=60) == 0
    assert len(latencies) >= 3, latencies
    latencies.sort()
    print(f"healthz during 48 result fetches: median {latencies[len(latencies) // 2] * 1e3:.1f} ms, "
          f"max {latencies[-1] * 1e3:.1f} ms over {len(latencies)} probes")  # fmt: skip
    assert latencies[len(latencies) * 9 // 10] < 0.05, latencies  # 90 % of probes under 50 ms
