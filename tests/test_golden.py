"""Golden outputs: every shipped style, in every precision the manifest lists, stylises the shipped photo of Chelsea
(long side 192 px) as it did when the golden was made.

The goldens are 8-bit RGB PNGs in tests/golden/ (about 70 kB each) plus golden.json, which records, per variant,
the ONNX file's SHA-256 and the float output's per-channel mean and standard deviation. Regenerate them after
retraining or re-exporting a net (and look at them before committing):

    IMPASTO_REGENERATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py     # or
    .venv/bin/python tests/test_golden.py

Why 192 px and not 256: a stylised image is nearly all texture and hardly compresses (256 px gave 100–124 kB PNGs);
192×128 keeps each file near 70 kB and still covers every layer, the instance normalisations and the whole image.

Bounds, in 8-bit levels, between the rounded output and the golden. They must hold on any x86-64 processor:
onnxruntime picks its kernels per processor (AVX2, AVX-512, VNNI), which round differently.

- fp32 and fp16: mean |Δ| < 0.5, 99.9th percentile ≤ 4, 8×8-block mean |Δ| < 0.25, PSNR ≥ 45 dB. Here the same
  nets with onnxruntime's graph optimisations off (other kernels, other fusions) moved the rounded output by a mean
  of 0.00–0.01 level and at most 1 level; input noise of ±0.1 level (ten thousand times a float32 rounding error)
  by a mean of 0.02–0.08, a 99.9th percentile of 1 and at most 2 levels. A net that is wrong in any way that matters
  fails: another style differs by a mean of 54 levels, a colour shift of one level fails the mean and block bounds.
- int8: mean |Δ| < 6, 99.9th percentile ≤ 40, 8×8-block mean |Δ| < 2, PSNR ≥ 30 dB (the precision goal). The
  quantised nets are chaotic to the last bit: multiplying 1 % of the input pixels by (1 + 10⁻⁶) — a float32
  rounding error — re-rolls the rounding of the whole output in about one try in four (mean 2.0–3.0 levels,
  99.9th percentile 10–16, PSNR 36–40 dB), as large as int8's own error against fp32 (mean 2.1–3.1, 99.9th
  percentile 12–18). Another processor's float32 kernels (the first and last convolutions and the instance
  normalisations stay float32) can therefore re-roll it. Input noise of ±0.1 level gave at worst a mean of 3.8,
  a 99.9th percentile of 22, a block mean of 1.3 and 34 dB: the bounds leave about 1.5× that.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

if __name__ == "__main__":  # run as a script: make conftest importable
    sys.path.insert(0, str(Path(__file__).parent))

from conftest import REPO, photo, shipped_styles, shipped_transformers  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
RECORD = GOLDEN / "golden.json"
PHOTO, SIDE = "chelsea", 192
REGENERATE = os.environ.get("IMPASTO_REGENERATE_GOLDEN", "") not in ("", "0")
BOUNDS = {  # precision: (mean |Δ|, 99.9th percentile |Δ|, 8×8-block mean |Δ|, minimum PSNR dB)
    "fp32": (0.5, 4, 0.25, 45.0),
    "fp16": (0.5, 4, 0.25, 45.0),
    "int8": (6.0, 40, 2.0, 30.0),
}
VARIANTS = [
    (style, precision)
    for m in shipped_transformers()
    for style in m.get("styles") or [m["name"]]
    for precision in m["files"]
]  # fmt: skip  (every style of every shipped file, in every precision)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _input() -> np.ndarray:
    from impasto.runtime.media.decode import read_image

    return read_image(photo(PHOTO))


def _stylize(name: str, precision: str) -> np.ndarray:
    """What a user gets: the whole Stylizer path (resize to the long side, one pass), on the CPU."""
    from impasto.runtime.nets.stylizer import Stylizer

    return Stylizer(name, precision=precision).stylize(_input(), size=SIDE)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _png_path(name: str, precision: str) -> Path:
    return GOLDEN / f"{name}.{precision}.png"


def _read_png(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.dtype == np.uint8 and image.ndim == 3, path
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _block_means(image: np.ndarray, k: int = 8) -> np.ndarray:
    height, width = image.shape[0] // k * k, image.shape[1] // k * k
    return image[:height, :width].reshape(height // k, k, width // k, k, 3).mean(axis=(1, 3))


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def compare(output: np.ndarray, golden: np.ndarray) -> dict[str, float]:
    """Statistics of |round(output) − golden| in 8-bit levels."""
    rounded = _to_uint8(output)
    difference = np.abs(rounded.astype(np.int16) - golden.astype(np.int16))
    blocks = np.abs(_block_means(rounded.astype(np.float64)) - _block_means(golden.astype(np.float64)))
    return {
        "mean": float(difference.mean()),
        "p99.9": float(np.percentile(difference, 99.9)),
        "max": float(difference.max()),
        "block_mean": float(blocks.mean()),
        "psnr_db": _psnr(rounded, golden),
    }


def _record() -> dict:
    return json.loads(RECORD.read_text()) if RECORD.is_file() else {"nets": {}}


def _entry(name: str) -> dict:
    """The manifest record of the file holding a style (or of a one-style net by its name)."""
    return next(m for m in shipped_transformers() if name in (m.get("styles") or [m["name"]]))


def _model_file(name: str, precision: str) -> Path:
    entry = _entry(name)
    return REPO / "models" / entry["files"][precision]


def regenerate(variants: list[tuple[str, str]] = VARIANTS) -> list[Path]:
    """Write the goldens of ``variants`` (default: all) and their record; returns the PNGs written."""
    import onnxruntime

    GOLDEN.mkdir(exist_ok=True)
    record = _record()
    record["input"] = {
        "photo": photo(PHOTO).name, "photo_sha256": _sha256(photo(PHOTO)), "long_side": SIDE,
        "path": "impasto.runtime.nets.stylizer.Stylizer(name, precision=...).stylize(read_image(photo), size=...)",
    }  # fmt: skip
    record["made_with"] = {"onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "opencv": cv2.__version__}
    written = []
    for name, precision in variants:
        output = _stylize(name, precision)
        path = _png_path(name, precision)
        ok, data = cv2.imencode(".png", cv2.cvtColor(_to_uint8(output), cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_PNG_COMPRESSION, 9])  # fmt: skip
        assert ok
        path.write_bytes(data.tobytes())
        record["nets"][f"{name}.{precision}"] = {
            "model": _model_file(name, precision).name,
            "model_sha256": _sha256(_model_file(name, precision)),
            "png": path.name,
            "shape": list(output.shape),
            "mean": [round(float(v), 4) for v in output.reshape(-1, 3).mean(axis=0)],
            "std": [round(float(v), 4) for v in output.reshape(-1, 3).std(axis=0)],
        }
        written.append(path)
    known = {f"{n}.{p}" for n, p in VARIANTS}
    record["nets"] = {key: value for key, value in sorted(record["nets"].items()) if key in known}
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    return written


def test_every_shipped_variant_has_a_golden_and_no_golden_is_stale():
    if REGENERATE:
        pytest.skip("regenerating")
    record = _record()
    assert record["input"]["photo_sha256"] == _sha256(photo(PHOTO)), "the sample photo changed: regenerate"
    assert sorted(record["nets"]) == sorted(f"{n}.{p}" for n, p in VARIANTS), (
        "goldens and shipped variants differ; regenerate with IMPASTO_REGENERATE_GOLDEN=1"
    )
    on_disk = sorted(p.name for p in GOLDEN.glob("*.png"))
    assert on_disk == sorted(entry["png"] for entry in record["nets"].values())
    for path in GOLDEN.iterdir():
        assert path.stat().st_size < 100_000, f"{path.name} is {path.stat().st_size} bytes"


@pytest.mark.parametrize(("name", "precision"), VARIANTS, ids=[f"{n}.{p}" for n, p in VARIANTS])
def test_shipped_net_reproduces_its_golden(name, precision):
    if REGENERATE:
        (path,) = regenerate([(name, precision)])
        pytest.skip(f"regenerated {path.relative_to(REPO)}")
    entry = _record()["nets"].get(f"{name}.{precision}")
    assert entry, f"no golden for {name} {precision}: regenerate with IMPASTO_REGENERATE_GOLDEN=1"
    model = _model_file(name, precision)
    assert _sha256(model) == entry["model_sha256"], (
        f"{model.name} is not the file the golden was made from (retrained or re-exported?): check the new output, "
        "then regenerate with IMPASTO_REGENERATE_GOLDEN=1"
    )
    golden = _read_png(_png_path(name, precision))
    output = _stylize(name, precision)
    assert list(output.shape) == entry["shape"] == list(golden.shape)
    assert output.dtype == np.float32 and output.min() >= 0 and output.max() <= 255

    found = compare(output, golden)
    mean, p999, block_mean, min_psnr = BOUNDS[precision]
    detail = f"{name} {precision} against its golden: {found}"
    assert found["mean"] < mean, detail
    assert found["p99.9"] <= p999, detail
    assert found["block_mean"] < block_mean, detail
    assert found["psnr_db"] >= min_psnr, detail
    if precision != "int8":  # a uniform shift smaller than one level does not show in the rounded images
        means = output.reshape(-1, 3).mean(axis=0)
        np.testing.assert_allclose(means, entry["mean"], atol=0.1, err_msg=detail)


@pytest.mark.parametrize("name", shipped_styles())
def test_variants_agree_with_the_fp32_golden(name):
    """Each lower precision against the fp32 golden: fp16 within a level, int8 at the precision goal (≥ 30 dB)."""
    if REGENERATE:
        pytest.skip("regenerating")
    golden = _read_png(_png_path(name, "fp32"))
    entry = _entry(name)
    for precision in entry["files"]:
        found = compare(_stylize(name, precision), golden)
        if precision == "fp16":
            assert found["mean"] < 1.0 and found["p99.9"] <= 8, (precision, found)
        elif precision == "int8":
            assert found["psnr_db"] >= 30.0, (precision, found)


def test_the_bounds_catch_a_wrong_net():
    """The fp32 bounds fail for the wrong net and for a one-level colour shift."""
    if REGENERATE:
        pytest.skip("regenerating")
    names = shipped_styles()
    golden = _read_png(_png_path(names[0], "fp32"))
    other = compare(_stylize(names[1], "fp32"), golden)
    assert other["mean"] > 10 * BOUNDS["fp32"][0], other
    shifted = compare(golden.astype(np.float32) + 1.0, golden)
    assert shifted["block_mean"] >= BOUNDS["fp32"][2] and shifted["mean"] >= BOUNDS["fp32"][0], shifted


if __name__ == "__main__":
    for written in regenerate():
        print(f"wrote {written.relative_to(REPO)} ({written.stat().st_size // 1024} kB)")
    print(f"wrote {RECORD.relative_to(REPO)}")
