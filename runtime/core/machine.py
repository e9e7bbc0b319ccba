"""What the benchmark runs on: processor and GPU names, their peak arithmetic rate, and this process's memory peaks.

Peak rates are the physical limit each measured figure is compared with. The CPU's is estimated from its cores,
clock and vector units (fused multiply-adds per cycle); the GPU's comes from the vendor's data sheet for the cards
named below (dense, without sparsity), since no API reports it.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
from functools import cache
from pathlib import Path

# data-sheet peaks in TFLOP/s: (fp32 on CUDA cores, fp16 on tensor cores, dense)
GPU_PEAK_TFLOPS = {
    "H100 80GB HBM3": (67.0, 989.0),
    "H100 PCIe": (51.0, 756.0),
    "H200": (67.0, 989.0),
    "A100": (19.5, 312.0),
    "L4": (30.3, 121.0),
    "T4": (8.1, 65.0),
}


def _cpuinfo() -> dict[str, str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def microarchitecture(vendor: str, family: int, flags: set[str]) -> tuple[str, int]:
    """(name, fp32 flops per cycle per core) from the vendor, family and vector flags.

    The flags alone do not give the rate: AMD Zen 4 has AVX-512 but executes it as two 256-bit halves (two 256-bit
    FMA pipes: 2 × 8 × 2 = 32 flops/cycle, like Zen 2/3), Zen 5 has full 512-bit pipes (64); Intel server cores with
    AVX-512 have two 512-bit FMA units (64), AVX2 cores two 256-bit ones (32).
    """
    avx512 = "avx512f" in flags
    fma256 = "avx2" in flags and "fma" in flags
    if vendor == "AuthenticAMD" or vendor == "HygonGenuine":
        if family >= 0x1A and avx512:
            return "AMD Zen 5", 64
        if family == 0x19 and avx512:
            return "AMD Zen 4", 32
        if family in (0x17, 0x19, 0x18) and fma256:
            return "AMD Zen 2/3" if family != 0x18 else "Hygon Dhyana", 32
    if vendor == "GenuineIntel":
        if avx512:
            return "Intel with AVX-512 (two 512-bit FMA units)", 64
        if fma256:
            return "Intel with AVX2", 32
    if avx512:
        return "x86-64 with AVX-512", 64
    if fma256:
        return "x86-64 with AVX2+FMA", 32
    return platform.machine() or "unknown", 8


@cache
def cpu_description() -> dict:
    """This machine's processor: name, cores usable here, clock, vector units, microarchitecture and fp32 peak."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    mhz = float(info.get("cpu MHz", "0") or 0)
    family = int(info.get("cpu family", "0") or 0)
    name, per_cycle = microarchitecture(info.get("vendor_id", ""), family, flags)
    return {
        "name": info.get("model name", platform.processor() or platform.machine()),
        "cores": cores,
        "mhz": mhz,
        "microarchitecture": name,
        "vector": "AVX-512" if "avx512f" in flags else "AVX2+FMA" if "avx2" in flags and "fma" in flags else "SSE",
        "flops_per_cycle_fp32": per_cycle,
        "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
        "bf16": "avx512_bf16" in flags,
        "peak_fp32_gflops": round(cores * mhz / 1000 * per_cycle, 1) if mhz else None,
    }


def _nvidia_smi(query: str) -> list[str] | None:
    """Lines of an ``nvidia-smi --query-…`` in CSV without header (None without a working nvidia-smi)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20,
            check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()


@cache
def gpu_description() -> dict | None:
    """The first NVIDIA GPU, from nvidia-smi (there is no torch here to ask)."""
    lines = _nvidia_smi("--query-gpu=name,memory.total,driver_version")
    if not lines:
        return None
    name, memory, driver = (part.strip() for part in lines[0].split(","))
    peaks = next((peak for key, peak in GPU_PEAK_TFLOPS.items() if key in name), (None, None))
    return {
        "name": name, "memory": f"{memory} MiB", "driver": driver, "peak_fp32_tflops": peaks[0],
        "peak_fp16_tflops": peaks[1],
    }  # fmt: skip


def peak_gflops(provider: str, precision: str) -> float | None:
    """The processor's peak for this provider and precision (None when unknown)."""
    if provider in ("cuda", "tensorrt"):
        gpu = gpu_description()
        if not gpu:
            return None
        tflops = gpu["peak_fp16_tflops"] if precision == "fp16" else gpu["peak_fp32_tflops"]
        return tflops * 1000 if tflops else None
    cpu = cpu_description()
    if precision == "int8" and cpu["peak_fp32_gflops"]:
        # 8-bit multiply-adds per cycle: AVX2's u8×s8 pair instruction gives 2× the fp32 rate, VNNI's 4×
        return cpu["peak_fp32_gflops"] * (4 if cpu["vnni"] else 2)
    return cpu["peak_fp32_gflops"]


def reset_peak_rss() -> bool:
    """Restart the kernel's resident-set high-water mark (Linux: ``clear_refs`` 5); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mb(key: str) -> float | None:
    """A memory line of /proc/self/status (``VmRSS``, ``VmHWM``) in MB; None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's resident-set high-water mark since the last reset (since start where none works)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    current = _status_mb("VmRSS")
    return current if current is not None else peak_rss_mb()


def gpu_memory_mb() -> float | None:
    """GPU memory this process holds (onnxruntime's arena keeps its high-water mark, so this is its peak)."""
    for line in _nvidia_smi("--query-compute-apps=pid,used_memory") or []:
        pid, _, used = line.partition(",")
        if pid.strip() == str(os.getpid()):
            return float(used)
    return None


def describe() -> dict:
    import onnxruntime

    return {
        "cpu": cpu_description(),
        "gpu": gpu_description(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
    }
