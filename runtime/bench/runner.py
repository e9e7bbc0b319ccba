"""``impasto bench``: latency of models across sizes, providers, precisions and ways of feeding the session.

Each configuration opens its own session (the time to open it and to run the first frame is reported as the
first-run time), runs ``warmup`` more untimed frames, then ``runs`` timed ones. Modes:
- ``host``: ``session.run`` with numpy arrays — end to end, the host↔device copies included (what a caller sees);
- ``iobinding``: inputs already on the device, outputs left there (GPU providers only) — the provider's own time;
- ``cudagraph``: as iobinding, replaying a captured CUDA graph (CUDA only; fixed size).
A model that cannot be opened, or a provider this onnxruntime lacks, is reported and skipped; the rest goes on.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from impasto.runtime.bench.spec import MODES, BenchSpec  # noqa: F401 — re-exported
from impasto.runtime.bench.targets import (
    BenchTarget,
    conv_multiply_adds,
    make_feeds,
    resolve_targets,
)
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.io_binding import BoundRunner
from impasto.runtime.core.machine import gpu_memory_mb, peak_gflops, peak_rss_mb, reset_peak_rss, rss_mb
from impasto.runtime.core.placement import cpu_fallbacks, node_providers
from impasto.runtime.core.providers import available_providers
from impasto.runtime.core.registry import LOSS, TRANSFORMER
from impasto.runtime.core.session_config import PROVIDER_NAMES, SessionConfig
from impasto.runtime.core.sessions import open_session


@dataclass
class BenchResult:
    model: str
    precision: str
    provider: str
    mode: str
    size: tuple[int, int]
    times_ms: list[float] = field(default_factory=list)
    session_ms: float = 0.0
    first_run_ms: float = 0.0
    peak_rss_mb: float | None = None
    rss_growth_mb: float | None = None
    gpu_memory_mb: float | None = None
    cpu_nodes: dict[str, int] = field(default_factory=dict)
    gmac: float | None = None
    peak_gflops: float | None = None
    error: str | None = None
    note: str | None = None

    def stat(self, q: float) -> float:
        return float(np.percentile(self.times_ms, q))

    def summary(self) -> dict:
        row = {
            "model": self.model, "precision": self.precision, "provider": self.provider, "mode": self.mode,
            "size": f"{self.size[0]}x{self.size[1]}", "height": self.size[0], "width": self.size[1],
        }  # fmt: skip
        if self.note:
            row["note"] = self.note
        if self.error:
            return {**row, "error": self.error}
        mean = statistics.fmean(self.times_ms)
        p50 = self.stat(50)
        achieved = 2 * self.gmac / (p50 / 1000) if self.gmac else None
        return {
            **row,
            "runs": len(self.times_ms),
            "mean_ms": round(mean, 3),
            "p50_ms": round(p50, 3),
            "p90_ms": round(self.stat(90), 3),
            "p99_ms": round(self.stat(99), 3),
            "fps": round(1000 / mean, 2),
            "session_ms": round(self.session_ms, 1),
            "first_run_ms": round(self.first_run_ms, 1),
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb, 1),
            "rss_growth_mb": None if self.rss_growth_mb is None else round(self.rss_growth_mb, 1),
            "gpu_memory_mb": self.gpu_memory_mb,
            "cpu_nodes": self.cpu_nodes,
            "gmac_per_run": None if self.gmac is None else round(self.gmac, 3),
            "achieved_gflops": None if achieved is None else round(achieved, 1),
            "peak_gflops": self.peak_gflops,
            "fraction_of_peak": round(achieved / self.peak_gflops, 4) if achieved and self.peak_gflops else None,
            "times_ms": [round(t, 3) for t in self.times_ms],
        }


@dataclass
class BenchPlan:
    targets: list[BenchTarget]
    providers: list[str]
    notes: list[str]


def plan(spec: BenchSpec) -> BenchPlan:
    """Targets and providers to run, with a note for each thing skipped."""
    notes: list[str] = []
    have = available_providers()
    wanted = spec.providers or have
    providers = []
    for provider in wanted:
        if provider not in PROVIDER_NAMES:
            notes.append(f"provider {provider!r} unknown (known: {', '.join(PROVIDER_NAMES)}); skipped")
        elif provider not in have:
            notes.append(
                f"provider {provider}: onnxruntime here has no {PROVIDER_NAMES[provider]} "
                f"(it has {', '.join(have)}); skipped"
            )
        else:
            providers.append(provider)
    targets: list[BenchTarget] = []
    for model in spec.models:
        try:
            found = resolve_targets(model, spec.precisions)
        except ImpastoError as error:
            notes.append(f"{error}; skipped" if str(error).startswith(model) else f"model {model}: {error}; skipped")
            continue
        if not found:
            notes.append(f"model {model}: no {'/'.join(spec.precisions or [])} variant; skipped")
        targets += found
    return BenchPlan(targets, providers, notes)


def _modes(provider: str, modes: list[str]) -> list[str]:
    if provider == "cpu" or provider == "openvino":
        return ["host"]
    return [m for m in modes if m != "cudagraph" or provider == "cuda"]


def time_steps(step: Callable[[], object], runs: int, warmup: int) -> tuple[float, list[float]]:
    """(first call's ms, timed calls' ms) after ``warmup`` untimed calls."""
    began = time.perf_counter()
    step()
    first = (time.perf_counter() - began) * 1000
    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        step()
        times.append((time.perf_counter() - began) * 1000)
    return first, times


def _placement(target: BenchTarget, config: SessionConfig, feeds: dict) -> dict[str, int]:
    """Compute nodes that fell back to the CPU from a GPU provider, from one profiled run."""
    if config.provider == "cpu":
        return {}
    session = open_session(target.path, config.with_(profile=True, cuda_graph=False, cache_dir=None))
    return cpu_fallbacks(node_providers(session, feeds), config.provider)


def measure(
    target: BenchTarget, config: SessionConfig, mode: str, size: tuple[int, int], runs: int, warmup: int
) -> BenchResult:
    """One configuration: open the session, feed it, time it."""
    result = BenchResult(target.label, target.precision, config.provider, mode, size)
    rss_before = rss_mb()
    peak_known = reset_peak_rss()
    try:
        static, outputs, probe_feeds = None, None, None
        if mode == "cudagraph":  # capture needs every node on the GPU: fixed shapes fold the shape arithmetic away
            config = config.with_(cuda_graph=True)
            probe = open_session(target.path, SessionConfig(optimization="disable"))
            probe_feeds = make_feeds(target, probe, size)
            static = {name: value.shape for name, value in probe_feeds.items()}
            names = [output.name for output in probe.get_outputs()]  # and fixed output buffers, from one CPU run
            outputs = {n: (v.shape, v.dtype) for n, v in zip(names, probe.run(None, probe_feeds), strict=True)}
        began = time.perf_counter()
        session = open_session(target.path, config, static)
        result.session_ms = (time.perf_counter() - began) * 1000
        feeds = probe_feeds if static else make_feeds(target, session, size)
        if mode == "host":
            step = partial(session.run, None, feeds)
        else:
            like_input = outputs is None and target.kind == TRANSFORMER
            bound = BoundRunner(session, config.device, output_like_input=like_input, output_shapes=outputs)
            bound.load(feeds)
            step = bound.run_on_device
        first, result.times_ms = time_steps(step, runs, warmup)
        result.first_run_ms = result.session_ms + first
        result.peak_rss_mb = peak_rss_mb() if peak_known else None
        result.rss_growth_mb = result.peak_rss_mb - rss_before if peak_known else None
        result.gpu_memory_mb = gpu_memory_mb() if config.device == "cuda" else None
        result.cpu_nodes = _placement(target, config, feeds)
    except ImpastoError as error:
        result.error = str(error)
    except Exception as error:  # noqa: BLE001 — onnxruntime's failures (no kernel, out of memory) end this row only
        result.error = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300] if str(error) else ''}"
    return result


def run_bench(spec: BenchSpec, bench_plan: BenchPlan | None = None) -> Iterator[BenchResult]:
    """Every configuration of the plan, in order: model variant, size, provider, mode."""
    bench_plan = bench_plan or plan(spec)
    macs: dict[tuple[str, tuple[int, int]], float | None] = {}
    for target in bench_plan.targets:
        for size in spec.sizes:
            key = (target.label, size)
            if macs.get(key) is None:
                try:
                    session = open_session(target.path, SessionConfig(optimization="disable"))
                    count = conv_multiply_adds(target, make_feeds(target, session, size))
                    macs[key] = count / 1e9 if count else None
                except Exception:  # noqa: BLE001 — a file that cannot be opened is reported by measure()
                    macs[key] = None
            for provider in bench_plan.providers:
                for mode in _modes(provider, spec.modes):
                    result = measure(target, spec.session.with_(provider=provider), mode, size, spec.runs, spec.warmup)
                    result.gmac = macs[key]
                    result.peak_gflops = peak_gflops(provider, target.precision)
                    yield result


def torch_available() -> bool:
    """Whether the export side (torch) is installed, found without importing it."""
    try:
        return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("impasto.export") is not None
    except (ImportError, ValueError):
        return False


def pytorch_baseline(
    label: str,
    fp32: Path,
    half: bool,
    sizes: list[tuple[int, int]],
    runs: int,
    warmup: int,
    device: str,
    threads: int | None,
) -> list[BenchResult]:
    """PyTorch eager timings of a transformer net (in half precision with ``half``) or a loss graph rebuilt from
    its fp32 file, in a child process: the runtime itself never imports torch."""
    command = [sys.executable, "-m", "impasto.export.torch_baseline", str(fp32), "--device", device]
    command += ["--sizes", *(f"{h}x{w}" for h, w in sizes), "--runs", str(runs), "--warmup", str(warmup)]
    command += ["--half"] if half else []
    command += ["--threads", str(threads)] if threads else []
    provider, precision = f"pytorch-{device}", "fp16" if half else "fp32"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    except (OSError, subprocess.SubprocessError, json.JSONDecodeError) as error:
        rows, done = [{"error": str(error)}], None
    if not rows:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1] if done else "did not run"
        rows = [{"error": reason[:300]}]
    results = []
    for row in rows:
        if "error" in row:
            return [BenchResult(label, precision, provider, "eager", size, error=row["error"]) for size in sizes]
        result = BenchResult(label, precision, provider, "eager", (row["height"], row["width"]))
        result.times_ms, result.first_run_ms = row["times_ms"], row["first_run_ms"]
        result.note = f"torch {row['torch']}; difference to onnxruntime {row['max_abs_diff']:.2g}"
        results.append(result)
    return results


def baseline_jobs(targets: list[BenchTarget], providers: list[str]) -> list[tuple[str, Path, bool, str]]:
    """(model, its fp32 file, half, device) for each PyTorch baseline the onnxruntime rows can be compared with:
    fp32 on the CPU for CPU rows; fp32, and fp16 where an fp16 variant is timed, on CUDA for GPU rows. Transformer
    nets and loss graphs have PyTorch counterparts; other ONNX files do not."""
    fp32 = {t.label: t.path for t in targets if t.kind in (TRANSFORMER, LOSS) and t.precision == "fp32"}
    halves = {t.label for t in targets if t.precision == "fp16"}
    jobs = []
    for label, path in fp32.items():
        if "cpu" in providers:
            jobs.append((label, path, False, "cpu"))
        if {"cuda", "tensorrt"} & set(providers):
            jobs.append((label, path, False, "cuda"))
            if label in halves:
                jobs.append((label, path, True, "cuda"))
    return jobs
