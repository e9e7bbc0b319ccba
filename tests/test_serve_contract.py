"""The server's contract with strangers: every error in the documented JSON shape, keys in headers only (and checked
on the path routing uses), no redirects, security headers on the page, WebSocket refusals that say why."""

from __future__ import annotations

import json
import socket

import pytest
from test_serve import KEY, NET, PHOTO, serving

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def keyed():
    with serving(key=KEY) as running:
        yield running[0]


def _shape(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"kind", "message"}, body
    return body["error"]


def test_routing_and_parsing_errors_come_in_the_json_shape(keyed):
    key = {"X-API-Key": KEY}
    missing = httpx.get(f"{keyed}/no/such/page")
    assert missing.status_code == 404 and _shape(missing)["kind"] == "not_found"
    wrong_method = httpx.put(f"{keyed}/v1/models", headers=key)
    assert wrong_method.status_code == 405 and _shape(wrong_method)["kind"] == "method_not_allowed"
    broken = httpx.post(
        f"{keyed}/v1/stylize", headers={**key, "Content-Type": "multipart/form-data; boundary=zz"},
        content=b"--zz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\nabc",
    )  # fmt: skip
    assert broken.status_code == 400 and _shape(broken)["kind"] in ("bad_request", "no_image", "bad_image")


def test_a_trailing_slash_is_not_redirected_to_whatever_host_was_claimed(keyed):
    response = httpx.get(f"{keyed}/v1/models/", headers={"X-API-Key": KEY, "Host": "evil.example"})
    assert response.status_code == 404 and "location" not in response.headers
    assert _shape(response)["kind"] == "not_found"


def test_the_key_goes_in_a_header_never_the_url(keyed):
    assert httpx.get(f"{keyed}/v1/models", headers={"X-API-Key": KEY}).status_code == 200
    in_url = httpx.get(f"{keyed}/v1/models", params={"key": KEY})
    assert in_url.status_code == 401 and "header" in _shape(in_url)["message"]
    both = httpx.get(f"{keyed}/v1/models", params={"key": KEY}, headers={"X-API-Key": KEY})
    assert both.status_code == 401  # a key in the URL is refused even beside a good one: it was still logged


def _read_to_close(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes (an answer's head and body may come in separate packets); what
    came before a timeout or a reset, if one ends it."""
    answer = b""
    try:
        while chunk := connection.recv(65536):
            answer += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return answer


def _raw(base: str, request: bytes) -> bytes:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        return _read_to_close(connection)


@pytest.mark.parametrize("host", [b"x?", b"x/v2?", b"127.0.0.1#"])
def test_a_host_header_cannot_move_the_path_past_the_key_check(keyed, host):
    answer = _raw(keyed, b"GET /v1/models HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
    status = int(answer.split(b" ", 2)[1])
    assert status == 401, answer[:200]  # the request reached the app, whose key check refused it
    assert b'"models"' not in answer


def test_the_page_carries_security_headers(keyed):
    page = httpx.get(f"{keyed}/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert "script-src 'sha256-" in policy  # the page's own inline script, by hash
    for response in (page, httpx.get(f"{keyed}/healthz"), httpx.get(f"{keyed}/v1/models")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_websocket_refusals_and_bad_frames_say_why(keyed):
    from websockets.sync.client import connect

    ws = keyed.replace("http", "ws")
    with connect(f"{ws}/v1/live?model=no-such-style&key={KEY}") as live:
        error = json.loads(live.recv(timeout=30))["error"]
        assert error["kind"] == "unknown_model"
        with pytest.raises(Exception) as closed:
            live.recv(timeout=30)
        assert getattr(closed.value, "rcvd", None) is not None and closed.value.rcvd.code == 1008
    with connect(f"{ws}/v1/live?model={NET}&size=64&key={KEY}") as live:
        live.send("hello")  # a text frame: a JSON error, and the socket stays usable
        assert json.loads(live.recv(timeout=30))["error"]["kind"] == "bad_frame"
        live.send(PHOTO.read_bytes())
        reply = live.recv(timeout=60)
        assert isinstance(reply, bytes) and reply[:2] == b"\xff\xd8"  # a JPEG frame back


# --- admission before cost: headers, bodies and images bounded before they are spent --------------------------------


@pytest.fixture(scope="module")
def small():
    options = ("--max-upload-mb", "1", "--slots", "1", "--queue", "4", "--upload-timeout", "3", "--max-pixels",
               "4000000")  # fmt: skip
    with serving(*options) as running:
        yield running


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def _send_head(base: str, head: bytes) -> bytes:
    """What the server answers to ``head``, sent 64 KiB at a time and stopping as soon as an answer is there (the
    server answers and closes once 32 KiB are buffered; sending on would meet a reset that can hide the answer)."""
    import select

    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        try:
            for at in range(0, len(head), 64 << 10):
                connection.sendall(head[at : at + (64 << 10)])
                if select.select([connection], [], [], 0.01)[0]:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_to_close(connection)
    return answer if answer.startswith(b"HTTP/1.1") else b"reset"


@pytest.mark.parametrize(
    "head",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * (2 << 20),  # 2 MB, never finished
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * (1 << 20) + b"\r\n\r\n",  # 1 MB, complete
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(10_000)) + b"\r\n",
    ],
    ids=["2-MB-unfinished", "1-MB", "10000-headers"],
)
def test_oversized_headers_get_431_and_cost_nothing(small, head):
    base, pid = small
    before = _rss_mb(pid)
    answers = [_send_head(base, head) for _ in range(3)]
    assert all(a.startswith(b"HTTP/1.1 431") or a == b"reset" for a in answers), [a[:80] for a in answers]
    assert any(a.startswith(b"HTTP/1.1 431") and b'"headers_too_large"' in a for a in answers), answers
    grown = _rss_mb(pid) - before
    print(f"{len(head):,}-byte head: {[a[:12] for a in answers]}, RSS +{grown:.1f} MB")
    assert grown < 20
    assert httpx.get(f"{base}/healthz").status_code == 200


def test_stalled_uploads_hold_at_most_the_queue_and_are_closed_after_the_deadline(small):
    import time

    base, pid = small
    host, port = base.removeprefix("http://").split(":")
    before = _rss_mb(pid)
    body = b"\0" * (1 << 20)
    head = (
        b"POST /v1/stylize HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: "
        + str(len(body)).encode() + b"\r\n\r\n"
    )  # fmt: skip
    connections = []
    try:
        for _ in range(40):
            connection = socket.create_connection((host, int(port)), timeout=10)
            connection.sendall(head + body[: len(body) * 98 // 100])  # 98 % of the body, then nothing
            connections.append(connection)
        time.sleep(1.0)
        held = _rss_mb(pid) - before
        print(f"40 stalled 1-MB uploads: server RSS +{held:.1f} MB")
        assert held < (1 + 4) * 1 + 100, held  # (slots + queue) × limit + 100 MB
        answers: list[bytes] = []
        deadline = time.monotonic() + 15
        for connection in connections:
            connection.settimeout(max(0.1, deadline - time.monotonic()))
            answers.append(_read_to_close(connection))
        statuses = sorted(int(a.split(b" ", 2)[1]) for a in answers if a.startswith(b"HTTP/1.1"))
        print(f"answers: {statuses.count(503)} × 503 at once, {statuses.count(408)} × 408 after the 3-s deadline")
        assert len(statuses) == 40, answers  # every connection answered and closed, none left hanging
        assert set(statuses) <= {408, 503} and statuses.count(408) <= 5, statuses
    finally:
        for connection in connections:
            connection.close()
    assert httpx.get(f"{base}/healthz").json()["queue"] == 0


def _webp_bomb() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (7000, 7000), (10, 20, 30)).save(buffer, "WEBP", quality=1)
    return buffer.getvalue()


def _jpeg_bomb_with_fill_byte() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (7000, 7000), (10, 20, 30)).save(buffer, "JPEG", quality=5)
    data = buffer.getvalue()
    frame = data.index(b"\xff\xc0")
    return data[:frame] + b"\xff" + data[frame:]  # a legal fill byte before the frame header


@pytest.mark.parametrize("bomb", [_webp_bomb, _jpeg_bomb_with_fill_byte])
def test_header_bombs_are_refused_unopened(small, bomb):
    import time

    base, pid = small
    data = bomb()
    before = _rss_mb(pid)
    with httpx.Client() as client:  # made beforehand: a client's own start (its TLS context) is not the server's
        client.get(f"{base}/healthz")
        began = time.perf_counter()
        response = client.post(f"{base}/v1/stylize", content=data)
        elapsed = time.perf_counter() - began
    assert response.status_code == 413 and _shape(response)["kind"] == "image_too_large", response.text
    assert "7000×7000" in _shape(response)["message"]
    grown = _rss_mb(pid) - before
    print(f"{bomb.__name__} ({len(data):,} bytes, 7000×7000): 413 in {elapsed * 1e3:.1f} ms, RSS +{grown:.1f} MB")
    assert elapsed < 0.1 + len(data) / 50e6, elapsed  # loopback upload of the file plus a header read
    assert grown < 50


@pytest.mark.parametrize(
    ("params", "field"),
    [({"strength": "nan"}, "strength"), ({"strength": "inf"}, "strength"), ({"size": "1e308"}, "size"),
     ({"preserve_color": "maybe"}, "preserve_color"), ({"colour": "blue"}, "colour"), ({"format": "gif"}, "format"),
     ({"size": "8"}, "size")],
)  # fmt: skip
def test_every_bad_option_is_a_422_naming_its_field(keyed, params, field):
    response = httpx.post(f"{keyed}/v1/stylize", params=params, content=PHOTO.read_bytes(), headers={"X-API-Key": KEY})
    assert response.status_code == 422, response.text
    error = _shape(response)
    assert error["kind"] == "bad_parameter" and error["message"].startswith(f"{field}: "), error


def test_an_image_larger_than_max_size_is_stylised_at_max_size(small):
    """The work one request can cost, and so what a request abandoned at its time limit holds, is one pass at
    --max-size (2048 by default), whatever the image's own size within the pixel limit."""
    import cv2
    import numpy as np

    base, _ = small
    big = cv2.imencode(".png", np.full((1400, 2400, 3), 120, np.uint8))[1].tobytes()
    response = httpx.post(f"{base}/v1/stylize", content=big, timeout=120)
    assert response.status_code == 200, response.text
    result = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert max(result.shape[:2]) == 2048


def test_idle_and_slowloris_connections_are_closed_and_cannot_shut_others_out(tmp_path):
    """uvicorn times out nothing before a first response: 8 idle sockets used to hold all of --max-connections 8
    until every route answered 503. Each connection now has 10 s to send a whole request head."""
    import time

    with serving("--max-connections", "8") as (base, _):
        host, port = base.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=20) for _ in range(8)]
        slow = socket.create_connection((host, int(port)), timeout=20)
        try:
            began = time.monotonic()
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":  # two bytes a second for 9 s, never finished
                slow.sendall(bytes([byte]))
                time.sleep(0.5)
                if time.monotonic() - began > 9:
                    break
            answers = [_read_to_close(connection) for connection in [*idle, slow]]
            assert all(a.startswith(b"HTTP/1.1 408") and b'"head_timeout"' in a for a in answers), answers
            assert time.monotonic() - began < 20
            assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
        finally:
            for connection in [*idle, slow]:
                connection.close()


def test_a_stalled_job_upload_meets_the_same_deadline(tmp_path):
    import time

    with serving("--upload-timeout", "2") as (base, _):
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=20) as connection:
            connection.sendall(
                b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=zz\r\n"
                b"Content-Length: 100000\r\n\r\n--zz\r\n"
            )
            began = time.monotonic()
            answer = _read_to_close(connection)
            assert answer.startswith(b"HTTP/1.1 408") and b'"upload_timeout"' in answer, answer
            assert 1.5 < time.monotonic() - began < 6
