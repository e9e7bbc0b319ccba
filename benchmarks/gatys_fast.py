"""Gatys in a minute (issue 14): wall time for each preset to reach the objective of 300 single-scale L-BFGS
iterations, on the four comparison-sheet pairs at 512 px, against the time those 300 iterations take.

    python benchmarks/gatys_fast.py --presets fast balanced --json benchmarks/gatys_fast.json \\
        --sheet benchmarks/gatys_fast_sheet.jpg

The objective is the one the result is judged by: evaluated at 512 px with the 512-px content and style targets
and the default weights, which is exactly the loss of every evaluation at a preset's last scale, so "reached" is
read from the run's own history. The reference is the 300-iteration run of ``comparison_sheet.py``
(``gatys_sheet.json``): with ``--reference-check K`` this run repeats its first K iterations, checks they give the
stored objectives (the same graph, targets and weights), and times them; the 300 iterations' time is that
per-iteration time × 300 (every iteration is at 512 px, so it does not change along the run). ``--reference run``
repeats all 300 instead (about 11 min a pair on a 2-core Zen 3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from impasto.runtime import GatysLossModel, OptimizeSettings, optimize, read_image
from impasto.runtime.core.machine import cpu_description
from impasto.runtime.core.registry import shipped_models_dir
from impasto.runtime.core.session_config import SessionConfig
from impasto.runtime.media.encode import encode_image, write_atomic

sys.path.insert(0, str(Path(__file__).parent))
from comparison_sheet import CELL, PAIRS, labelled_cell  # noqa: E402

REFERENCE_ITERS = 300


def reference(model: GatysLossModel, content, style, stored: dict, mode: str, check: int, size: int) -> dict:
    """The 300-iteration objective and its time: stored + a timed, checked prefix, or a full rerun."""
    iters = REFERENCE_ITERS if mode == "run" else max(2, check)
    start = time.perf_counter()
    result = optimize(model, content, [style], OptimizeSettings(size=size, iters=iters, scales=1), progress=False)
    seconds = time.perf_counter() - start
    mine = [step["loss"] for step in result.history]
    theirs = [step["loss"] for step in stored["history"][:iters]]
    drift = max(abs(a - b) / b for a, b in zip(mine, theirs, strict=True))
    if mode == "run":
        return {"objective": mine[-1], "seconds": seconds, "how": "run", "drift_from_stored": drift}
    first, later = result.history[0]["seconds"], result.history[-1]["seconds"] - result.history[0]["seconds"]
    per_iteration = later / (iters - 1)  # the first iteration also pays the session's first run at this size
    return {
        "objective": stored["history"][-1]["loss"],
        "seconds": first + per_iteration * (REFERENCE_ITERS - 1),
        "how": f"stored 300-iteration objective; first {iters} iterations rerun, checked and timed",
        "drift_from_stored": drift,
        "per_iteration_s": per_iteration,
    }


def stored_result(sheet: Path, row: int, shape: tuple[int, ...]) -> np.ndarray:
    """The 300-iteration result of pair ``row`` (its content of ``shape``) as comparison_sheet.py drew it: the
    third cell of its row, centred at the content's aspect ratio (the full-size images are not kept)."""
    scale = CELL / max(shape[:2])
    height, width = round(shape[0] * scale), round(shape[1] * scale)
    top, left = row * (CELL + 28) + (CELL - height) // 2, 2 * CELL + (CELL - width) // 2
    return read_image(sheet)[top : top + height, left : left + width]


def run_preset(model: GatysLossModel, content, style, preset: str, size: int, objective: float) -> dict:
    start = time.perf_counter()
    result = optimize(model, content, [style], OptimizeSettings(size=size, preset=preset), progress=False)
    seconds = time.perf_counter() - start
    final = [step for step in result.history if step["size"] == size]
    hit = next((step for step in final if step["loss"] <= objective), None)
    per_scale: dict[str, int] = {}
    for step in result.history:
        per_scale[str(step["size"])] = per_scale.get(str(step["size"]), 0) + 1
    return {
        "seconds": seconds,
        "reached_s": hit["seconds"] if hit else None,
        "final_objective": final[-1]["loss"],
        "final_over_reference": final[-1]["loss"] / objective,
        "iterations_per_scale": per_scale,
        "image": result.image,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--presets", nargs="+", default=["fast", "balanced"])
    parser.add_argument("--reference", choices=("stored", "run"), default="stored")
    parser.add_argument("--reference-check", type=int, default=15, help="iterations rerun to check and time")
    parser.add_argument("--stored", type=Path, default=Path("benchmarks/gatys_sheet.json"))
    parser.add_argument("--stored-sheet", type=Path, default=Path("benchmarks/gatys_sheet.jpg"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--pairs", type=int, nargs="*", help="indexes into the four pairs (default: all)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/gatys_fast.json"))
    parser.add_argument("--sheet", type=Path, default=Path("benchmarks/gatys_fast_sheet.jpg"))
    args = parser.parse_args()
    stored = {entry["content"]: entry for entry in json.loads(args.stored.read_text())}
    model = GatysLossModel("vgg16-avg", SessionConfig(threads=args.threads))
    images = shipped_models_dir() / "images"
    cpu = cpu_description()
    report = {"processor": cpu, "size": args.size, "pairs": []}
    rows = []
    for index, (content_name, style_name) in enumerate(PAIRS):
        if args.pairs and index not in args.pairs:
            continue
        content, style = read_image(images / content_name), read_image(images / style_name)
        ref = reference(model, content, style, stored[content_name], args.reference, args.reference_check, args.size)
        entry = {"content": content_name, "style": style_name, "reference": ref, "presets": {}}
        cells = [labelled_cell(content, content_name), labelled_cell(style, style_name)]
        cells.append(
            labelled_cell(
                stored_result(args.stored_sheet, index, content.shape), f"300 iterations, {ref['seconds']:.0f} s"
            )
        )
        for preset in args.presets:
            outcome = run_preset(model, content, style, preset, args.size, ref["objective"])
            image = outcome.pop("image")
            outcome["time_ratio"] = outcome["reached_s"] / ref["seconds"] if outcome["reached_s"] else None
            entry["presets"][preset] = outcome
            cells.append(labelled_cell(image, f"--preset {preset}, {outcome['seconds']:.0f} s"))
            reached = f"{outcome['reached_s']:.1f} s" if outcome["reached_s"] else "not reached"
            print(
                f"{content_name} × {style_name}: {preset} {outcome['seconds']:.1f} s, reference objective {reached} "
                f"(300 iterations: {ref['seconds']:.1f} s), final/reference {outcome['final_over_reference']:.3f}",
                flush=True,
            )
        report["pairs"].append(entry)
        rows.append(np.hstack(cells))
    write_atomic(args.json, json.dumps(report, indent=1).encode())
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    write_atomic(args.sheet, encode_image(np.vstack(rows), ".jpg"))
    print(f"wrote {args.json} and {args.sheet}; {cpu['name']} ({cpu.get('microarchitecture')})")


if __name__ == "__main__":
    main()
