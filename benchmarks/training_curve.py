"""The loss curves of a training run, per style, from its checkpoint's history (every step's content and style loss
as trained): how quality grows with steps, and where more steps stop paying.

    python benchmarks/training_curve.py benchmarks/training/six-paintings --plot benchmarks/six_paintings_curve.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

WINDOW = 60  # steps per point (a multiple of the number of styles)


def curves(history: list[dict], styles: list[str]) -> dict[str, dict[str, list[float]]]:
    """Per style: step, content and style loss, averaged over windows of WINDOW steps of that style."""
    out: dict[str, dict[str, list[float]]] = {}
    first_row = max(0, max((r.get("style_index", 0) for r in history), default=0) + 1 - len(styles))  # --add-style
    for index, name in enumerate(styles or ["style"]):
        rows = [r for r in history if r.get("style_index", 0) == first_row + index]
        points = {"step": [], "content": [], "style": []}
        for start in range(0, len(rows) - WINDOW // max(1, len(styles)) + 1, max(1, WINDOW // max(1, len(styles)))):
            window = rows[start : start + WINDOW // max(1, len(styles))]
            points["step"].append(window[-1]["step"])
            points["content"].append(float(np.mean([r["content"] for r in window])))
            points["style"].append(float(np.mean([r["style"] for r in window])))
        out[name] = points
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="the run's --work folder (holding checkpoint.pt)")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    state = torch.load(args.work / "checkpoint.pt", map_location="cpu", weights_only=False)
    styles = [Path(p).stem for p in state["settings"].get("styles", [])]
    result = curves(state["history"], styles)
    print(f"{args.work}: step {state['step']}")
    for name, points in result.items():
        if points["step"]:
            print(f"  {name:<28} content {points['content'][0]:.3g} → {points['content'][-1]:.3g}, "
                  f"style {points['style'][0]:.3g} → {points['style'][-1]:.3g}")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"step": state["step"], "curves": result}, indent=2) + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=110)
        for name, points in result.items():
            left.plot(points["step"], points["content"], label=name)
            right.plot(points["step"], points["style"], label=name)
        for axes, title in ((left, "content loss (relu2_2)"), (right, "style loss (Gram, 4 layers)")):
            axes.set_xlabel("step (all styles)")
            axes.set_yscale("log")
            axes.set_title(title, fontsize=10)
            axes.grid(True, alpha=0.3)
        right.legend(fontsize=7)
        figure.tight_layout()
        figure.savefig(args.plot)


if __name__ == "__main__":
    main()
