"""``impasto bench`` results as a terminal table, a JSON document and a PNG plot of latency against image size."""

from __future__ import annotations

import json
from pathlib import Path

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.encode import write_atomic

COLUMNS = (
    ("model", "model", "<"), ("precision", "prec", "<"), ("provider", "provider", "<"), ("mode", "mode", "<"),
    ("size", "HxW", ">"), ("mean_ms", "mean ms", ">"), ("p50_ms", "p50 ms", ">"), ("p90_ms", "p90 ms", ">"),
    ("p99_ms", "p99 ms", ">"), ("fps", "FPS", ">"), ("first_run_ms", "first ms", ">"),
    ("rss_growth_mb", "+RSS MB", ">"), ("gpu_memory_mb", "GPU MB", ">"), ("vs_pytorch", "vs PyTorch", ">"),
    ("fraction_of_peak", "% peak", ">"),
)  # fmt: skip


def add_ratios(rows: list[dict]) -> None:
    """``vs_pytorch`` on each onnxruntime row: PyTorch eager's p50 / this row's p50 for the same net and size on the
    same device (> 1: onnxruntime is faster). The PyTorch side is fp32, except fp16 rows on a GPU, which meet
    PyTorch in half precision; int8 rows meet fp32 PyTorch, what one would run instead."""
    eager = {
        (r["model"], r["precision"], r["size"], r["provider"].removeprefix("pytorch-")): r["p50_ms"]
        for r in rows
        if r["provider"].startswith("pytorch") and "p50_ms" in r
    }
    for row in rows:
        if row["provider"].startswith("pytorch") or "p50_ms" not in row:
            continue
        device = "cuda" if row["provider"] in ("cuda", "tensorrt") else "cpu"
        precision = "fp16" if device == "cuda" and row["precision"] == "fp16" else "fp32"
        reference = eager.get((row["model"], precision, row["size"], device))
        if reference:
            row["vs_pytorch"] = round(reference / row["p50_ms"], 2)


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key == "fraction_of_peak":
        return f"{100 * value:.1f}"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:.0f}"
    return str(value)


def table(rows: list[dict]) -> str:
    """Fixed-width text; failed rows show their error instead of figures."""
    header = [title for _, title, _ in COLUMNS]
    cells = []
    for row in rows:
        if "error" in row:
            first = [_cell(row, key) for key, _, _ in COLUMNS[:5]]
            cells.append((first, f"FAILED: {row['error']}"))
        else:
            cells.append(([_cell(row, key) for key, _, _ in COLUMNS], None))
    widths = [len(title) for title in header]
    for values, _ in cells:
        for i, value in enumerate(values):
            widths[i] = max(widths[i], len(value))
    align = [how for _, _, how in COLUMNS]

    def line(values: list[str]) -> str:
        return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(values, align, widths, strict=False)).rstrip()

    lines = [line(header), line(["-" * w for w in widths])]
    for values, error in cells:
        lines.append(line(values) + (f"  {error}" if error else ""))
    return "\n".join(lines)


def fallbacks(rows: list[dict]) -> list[str]:
    """One line per GPU configuration whose compute nodes fell back to the CPU."""
    out = []
    for row in rows:
        if row.get("cpu_nodes"):
            nodes = ", ".join(f"{op}×{count}" for op, count in sorted(row["cpu_nodes"].items()))
            out.append(f"{row['model']} {row['precision']} on {row['provider']} at {row['size']}: on the CPU: {nodes}")
    return out


def write_json(path: Path, document: dict) -> None:
    write_atomic(path, (json.dumps(document, indent=2) + "\n").encode())


def plot(path: Path, rows: list[dict], title: str) -> None:
    """Median latency against megapixels, one line per model/precision/provider/mode; PyTorch dashed."""
    try:
        import matplotlib
    except ImportError as error:
        raise ImpastoError(f"--plot needs matplotlib (pip install 'impasto[bench]'): {error}") from error

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        if "p50_ms" in row:
            label = f"{row['model']} {row['precision']} {row['provider']} {row['mode']}"
            series.setdefault(label, []).append((row["height"] * row["width"] / 1e6, row["p50_ms"]))
    figure, axes = plt.subplots(figsize=(9, 5.5), dpi=110)
    for label, points in sorted(series.items()):
        points.sort()
        style = "--" if " pytorch-" in label else "-"
        axes.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", label=label)
    axes.set_xlabel("image size (megapixels)")
    axes.set_ylabel("median latency per run (ms)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    for axis in (axes.xaxis, axes.yaxis):
        axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axes.grid(True, which="both", alpha=0.3)
    axes.set_title(title, fontsize=9)
    if series:
        axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    suffix = path.suffix or ".png"
    temporary = path.with_name(f".{path.name}.tmp{suffix}")
    figure.savefig(temporary)
    plt.close(figure)
    temporary.replace(path)
