"""Throughput and latency of ``impasto serve``'s /v1/stylize against calling the runtime directly, same machine.

    python benchmarks/serve_load.py --json benchmarks/serve_load.json

The server runs in its own process (defaults: 1 slot, the queue raised to 32 so no request is turned away);
clients are threads with keep-alive connections posting the same 512-px JPEG photo (raw body, PNG back). The
direct figure is the same work in one process (decode, stylise, encode), one request after another.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import sys
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_serve import serving  # noqa: E402  (the tests' way of starting a server, as a user would)

from impasto.runtime.core.registry import shipped_models_dir  # noqa: E402
from impasto.runtime.media.decode import decode_image
from impasto.runtime.media.encode import encode_image
from impasto.runtime.media.resize import resize_long_side  # noqa: E402
from impasto.runtime.nets.stylizer import Stylizer  # noqa: E402

NET = "great-wave"


def _summary(latencies: list[float], seconds: float, statuses: list[int]) -> dict:
    ok = [t for t, s in zip(latencies, statuses, strict=True) if s == 200]
    return {
        "requests": len(statuses), "ok": len(ok), "status_503": statuses.count(503),
        "rps": round(len(ok) / seconds, 2), "p50_ms": round(1000 * statistics.median(ok), 1),
        "p99_ms": round(1000 * float(np.percentile(ok, 99)), 1),
    }  # fmt: skip


def direct(body: bytes, requests: int) -> dict:
    stylizer = Stylizer(NET)

    def one() -> None:
        encode_image(stylizer.stylize(decode_image(body, "photo"), size=512), ".png")

    one()
    latencies = []
    began = time.perf_counter()
    for _ in range(requests):
        start = time.perf_counter()
        one()
        latencies.append(time.perf_counter() - start)
    return _summary(latencies, time.perf_counter() - began, [200] * requests)


def against_server(base: str, body: bytes, clients: int, requests: int) -> dict:
    def one(client: httpx.Client) -> tuple[float, int]:
        start = time.perf_counter()
        response = client.post(f"{base}/v1/stylize", params={"model": NET, "size": 512}, content=body)
        return time.perf_counter() - start, response.status_code

    pool = [httpx.Client(timeout=300) for _ in range(clients)]
    one(pool[0])  # the model is opened on first use
    began = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as executor:
        results = list(executor.map(lambda i: one(pool[i % clients]), range(requests)))
    seconds = time.perf_counter() - began
    for client in pool:
        client.close()
    return _summary([t for t, _ in results], seconds, [s for _, s in results])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    body = (shipped_models_dir() / "images" / "astronaut.png").read_bytes()
    body = encode_image(resize_long_side(decode_image(body, "photo"), 512), ".jpg")
    report = {"image": "astronaut, 512 px JPEG", "model": NET, "direct": direct(body, args.requests)}
    print("direct, one process:", report["direct"], flush=True)
    time.sleep(2)
    with serving("--queue", "32") as (base, _):
        for clients in (1, 4, 16):
            report[f"server_{clients}_clients"] = against_server(base, body, clients, args.requests)
            print(f"server, {clients:>2} clients:", report[f"server_{clients}_clients"], flush=True)
    for clients in (1, 4, 16):
        row = report[f"server_{clients}_clients"]
        row["overhead_ratio"] = round(report["direct"]["rps"] / row["rps"], 3) if row["rps"] else None
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
