"""The quality/steps curve of a training run on photos it never saw: peer_comparison.py's held-out content and style
losses (relative to the peer's, per style) for the run's net exported at several steps.

    for step in 2091 3000 …; do  # each: the run's checkpoint at that step, exported to /tmp/at-$step
      IMPASTO_MODELS=/tmp/at-$step python benchmarks/peer_comparison.py --no-speed --peer-cache /tmp/peer \\
        --json /tmp/at-$step.json
    done
    python benchmarks/quality_steps.py /tmp/at-*.json --json benchmarks/quality_steps.json \
        --plot benchmarks/quality_steps.png
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def step_of(path: Path) -> int:
    """The training step a measurement belongs to, from its file name (``…-<step>.json``)."""
    found = re.findall(r"\d+", path.stem)
    if not found:
        raise SystemExit(f"{path}: no step number in the file name")
    return int(found[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measurements", nargs="+", type=Path, help="peer_comparison.py --json files, one per step")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    curve: dict[str, dict[str, list[float]]] = {}
    for path in sorted(args.measurements, key=step_of):
        for row in json.loads(path.read_text())["results"]:
            points = curve.setdefault(row["painting"], {"step": [], "content_vs_peer": [], "style_vs_peer": []})
            points["step"].append(step_of(path))
            points["content_vs_peer"].append(row["ours_mean_content"] / row["peer_mean_content"])
            points["style_vs_peer"].append(row["ours_mean_style"] / row["peer_mean_style"])
    for painting, points in curve.items():
        figures = ", ".join(
            f"{s}: {c:.2f}/{t:.2f}"
            for s, c, t in zip(points["step"], points["content_vs_peer"], points["style_vs_peer"], strict=True)
        )
        print(f"{painting} (step: content/style vs peer) {figures}")
    if args.json:
        args.json.write_text(json.dumps(curve, indent=2) + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
        for painting, points in curve.items():
            axes[0].plot(points["step"], points["content_vs_peer"], marker="o", label=painting)
            axes[1].plot(points["step"], points["style_vs_peer"], marker="o", label=painting)
        for axis, what in zip(axes, ("content", "style"), strict=True):
            axis.axhline(1.0, color="black", linewidth=0.8)
            axis.set_xlabel("training step (batch 2, 192-px crops)")
            axis.set_ylabel(f"held-out {what} loss / peer's")
        axes[1].legend(fontsize=8)
        figure.suptitle("six-paintings net on the four held-out photos at 384 px (below 1: better than the peer)")
        figure.tight_layout()
        figure.savefig(args.plot, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
