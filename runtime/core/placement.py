"""Where a session's nodes ran: proof that no compute node falls back from a GPU provider to the CPU."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import onnxruntime as ort


def node_providers(session: ort.InferenceSession, feeds: dict) -> Counter:
    """(op type, provider) → count of executed nodes, from a profiled run; the session must be opened with profile=True.

    Used to prove that no compute node falls back from CUDA to the CPU.
    """
    session.run(None, feeds)
    profile = session.end_profiling()
    try:
        events = json.loads(Path(profile).read_text())
    finally:
        Path(profile).unlink(missing_ok=True)
    return Counter(
        (event["args"]["op_name"], event["args"].get("provider", "?"))
        for event in events
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time")
    )


SHAPE_OPS = {
    "Shape", "Slice", "Gather", "Concat", "Unsqueeze", "Squeeze", "Cast", "Reshape", "ConstantOfShape", "Mod", "Div",
}  # fmt: skip


def cpu_fallbacks(placement: Counter, provider: str) -> dict[str, int]:
    """Compute nodes that ran on the CPU although ``provider`` is a GPU provider (shape arithmetic excluded: it is
    meant to stay on the CPU). Empty for the CPU provider."""
    if provider == "cpu":
        return {}
    fallen: Counter = Counter()
    for (op, where), count in placement.items():
        if where == "CPUExecutionProvider" and op not in SHAPE_OPS:
            fallen[op] += count
    return dict(fallen)
