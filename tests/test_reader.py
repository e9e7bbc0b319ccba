"""The one image reader, with what phones and cameras make: each test builds its own file.

Orientation in every format that carries it, Motion Photos (a video after the JPEG's end), HEIC, colour profiles,
truncation told by the decoder, and the pixel limit enforced from the header before anything is decoded.
"""

from __future__ import annotations

import io
import struct
import threading
import time

import av
import numpy as np
import pytest
from conftest import assert_one_line_failure, photo, run_cli
from PIL import Image, ImageCms

from impasto.runtime.core.errors import ImpastoError
from impasto.runtime.media.decode import ImageTooLarge, decode_image, read_image, read_size

FORMATS = {"JPEG": ".jpg", "WEBP": ".webp", "PNG": ".png", "TIFF": ".tif", "HEIF": ".heic", "AVIF": ".avif"}
LOSSY = {"JPEG", "WEBP", "HEIF", "AVIF"}


def _scene() -> np.ndarray:
    """48×72 (H×W), upright: a red block in the top-left corner, a blue one in the bottom-right, grey between."""
    scene = np.full((48, 72, 3), 128, np.uint8)
    scene[:16, :24] = (230, 20, 20)
    scene[-16:, -24:] = (20, 20, 230)
    return scene


# how a camera stores the upright scene for each EXIF orientation (the inverse of what the tag says to do)
STORED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: np.transpose(a, (1, 0, 2)),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transposed about the anti-diagonal
    8: lambda a: np.rot90(a, -1),
}


def _encoded(pixels: np.ndarray, fmt: str, orientation: int = 1, **extra) -> bytes:
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    quality = {"quality": 95} if fmt in LOSSY else {}
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, fmt, exif=exif.tobytes(), **quality, **extra)
    return buffer.getvalue()


def _assert_upright(image: np.ndarray, tolerance: float = 40) -> None:
    assert image.shape == (48, 72, 3), image.shape
    np.testing.assert_allclose(image[2:14, 2:22].mean((0, 1)), (230, 20, 20), atol=tolerance)
    np.testing.assert_allclose(image[-14:-2, -22:-2].mean((0, 1)), (20, 20, 230), atol=tolerance)
    assert abs(image[20:28, 30:42].mean() - 128) < tolerance / 2


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_exif_orientation_6_is_applied_in_every_format_that_carries_it(fmt):
    data = _encoded(STORED[6](_scene()), fmt, orientation=6)
    _assert_upright(decode_image(data, fmt, min_side=8))
    assert read_size(data, fmt) == (72, 48)  # the upright size, from the header alone


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG", "AVIF"])
def test_every_exif_orientation(fmt):
    for orientation, stored in STORED.items():
        _assert_upright(decode_image(_encoded(stored(_scene()), fmt, orientation), fmt, min_side=8))


def test_a_sideways_webp_comes_out_upright_from_the_command(tmp_path):
    source = tmp_path / "phone.webp"
    source.write_bytes(_encoded(STORED[6](_scene()), "WEBP", orientation=6))
    output = tmp_path / "out.png"
    done = run_cli("stylize", source, "-o", output, "--quiet")
    assert done.returncode == 0, done.stderr
    assert Image.open(output).size == (72, 48)  # stored 48 wide and 72 high


def _mp4_bytes() -> bytes:
    """A real two-second H.264 clip, as a Motion Photo carries after its JPEG."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 10, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def test_a_motion_photo_is_stylised(tmp_path):
    still = photo("coffee").read_bytes() if photo("coffee").suffix == ".jpg" else None
    still = still or _encoded(np.asarray(Image.open(photo("coffee")).convert("RGB")), "JPEG")
    motion = tmp_path / "PXL_20261130_MP.jpg"
    motion.write_bytes(still + _mp4_bytes())  # what Google and Samsung phones write
    assert len(motion.read_bytes()) > len(still) + 1000
    np.testing.assert_array_equal(read_image(motion), decode_image(still, "still"))
    output = tmp_path / "out.jpg"
    done = run_cli("stylize", motion, "-o", output, "--size", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    assert max(Image.open(output).size) == 64


def test_a_heic_photo_is_stylised(tmp_path):
    pixels = np.asarray(Image.open(photo("chelsea")).convert("RGB"))
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(_encoded(pixels, "HEIF"))
    read = read_image(heic)
    assert read.shape == pixels.shape
    assert np.abs(read - pixels).mean() < 4  # HEVC at quality 95
    folder = tmp_path / "out"
    done = run_cli("stylize", heic, "-o", f"{folder}/", "--size", "64", "--quiet")
    assert done.returncode == 0, done.stderr
    written = list(folder.iterdir())
    assert [p.suffix for p in written] == [".jpg"]  # a phone photo's result as a JPEG, not a PNG
    assert max(Image.open(written[0]).size) == 64


def _icc_profile(description: str, primaries: list[tuple[float, float, float]]) -> bytes:
    """An ICC v2 RGB display profile: D50-adapted colorants ``primaries`` (red, green, blue XYZ) and the sRGB tone
    curve, as Display P3 is defined. Written out by hand, as no profile file ships with the test machine."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def xyz(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    codes = np.linspace(0, 1, 1024)
    linear = np.where(codes <= 0.04045, codes / 12.92, ((codes + 0.055) / 1.055) ** 2.4)
    curve = b"curv\0\0\0\0" + struct.pack(">I", len(codes)) + np.round(linear * 65535).astype(">u2").tobytes()
    text = description.encode() + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    tags = [
        (b"desc", desc), (b"wtpt", xyz((0.9642, 1.0, 0.8249))), (b"rXYZ", xyz(primaries[0])),
        (b"gXYZ", xyz(primaries[1])), (b"bXYZ", xyz(primaries[2])), (b"rTRC", curve), (b"gTRC", curve),
        (b"bTRC", curve), (b"cprt", b"text\0\0\0\0public domain\0"),
    ]  # fmt: skip
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ " + b"\0" * 12
        + b"acsp" + b"\0" * 24 + struct.pack(">I", 0) + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\0" * 48
    )  # fmt: skip
    assert len(header) == 128
    return header + table + body


DISPLAY_P3 = [(0.515102, 0.241182, -0.001050), (0.291965, 0.692236, 0.041882), (0.157153, 0.066582, 0.784378)]
P3_TO_SRGB_LINEAR = np.array([[1.2249, -0.2247, 0.0], [-0.0420, 1.0419, 0.0], [-0.0197, -0.0786, 1.0983]])


def test_a_display_p3_patch_is_read_as_its_srgb_value():
    profile = _icc_profile("Display P3 (test)", DISPLAY_P3)
    patch = np.zeros((32, 32, 3), np.uint8)
    patch[:, :16] = (180, 140, 100)
    patch[:, 16:] = (60, 170, 200)
    data = _encoded(patch, "PNG", icc_profile=profile)
    read = decode_image(data, "p3.png")
    # what ImageCms makes of it
    expected = ImageCms.profileToProfile(
        Image.fromarray(patch), ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
    )
    np.testing.assert_array_equal(read, np.asarray(expected, np.float32))
    # and what the colour science says, independently of LittleCMS: P3 → linear → sRGB matrix → sRGB curve
    for colour, got in (((180, 140, 100), read[0, 0]), ((60, 170, 200), read[0, -1])):
        code = np.array(colour) / 255
        linear = P3_TO_SRGB_LINEAR @ np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)
        linear = np.clip(linear, 0, 1)  # outside sRGB's gamut: clipped, as the relative colorimetric intent does
        srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
        np.testing.assert_allclose(got, srgb * 255, atol=1.5)
        assert np.abs(got - np.array(colour)).max() >= 6  # read as sRGB it would be this far off


def test_a_heic_tagged_display_p3_by_primaries_is_read_as_srgb():
    """Android phones tag HEIC colour with an nclx box (primaries, no ICC profile)."""
    patch = np.full((32, 32, 3), (60, 170, 200), np.uint8)
    buffer = io.BytesIO()
    nclx = {"color_primaries": 12, "transfer_characteristics": 13, "matrix_coefficients": 6, "full_range_flag": 1}
    Image.fromarray(patch).save(buffer, "HEIF", quality=-1, nclx_profile=nclx)
    read = decode_image(buffer.getvalue(), "p3.heic").mean((0, 1))
    # the same colour through the P3 ICC path above: (0, 173, 204); read as sRGB it would stay (60, 170, 200)
    np.testing.assert_allclose(read, (0, 173, 204), atol=2.5)


def test_a_palette_png_with_a_profile_is_converted():
    profile = _icc_profile("Display P3 (test)", DISPLAY_P3)
    patch = Image.fromarray(np.full((24, 24, 3), (180, 140, 100), np.uint8)).convert("P")
    buffer = io.BytesIO()
    patch.save(buffer, "PNG", icc_profile=profile)
    read = decode_image(buffer.getvalue(), "palette.png")
    expected = decode_image(_encoded(np.asarray(patch.convert("RGB")), "PNG", icc_profile=profile), "rgb.png")
    np.testing.assert_array_equal(read, expected)
    assert np.abs(read[0, 0] - (180, 140, 100)).max() >= 6  # converted, not read as sRGB


def test_an_adobe_rgb_jpeg_is_converted_and_an_srgb_one_left_alone():
    adobe = [(0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446)]
    patch = np.full((24, 24, 3), (40, 160, 90), np.uint8)
    converted = decode_image(_encoded(patch, "JPEG", icc_profile=_icc_profile("Adobe RGB (test)", adobe)), "a")
    assert np.abs(converted.mean((0, 1)) - (40, 160, 90)).max() > 15  # Adobe RGB's green is far outside sRGB's
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    plain = decode_image(_encoded(patch, "PNG", icc_profile=srgb), "s")
    np.testing.assert_array_equal(plain, patch.astype(np.float32))


def test_truncation_is_told_by_the_decoder():
    for name in ("rocket", "chelsea"):
        data = photo(name).read_bytes()
        with pytest.raises(ImpastoError, match="truncated or corrupt"):
            decode_image(data[: len(data) * 2 // 3], name)
    pixels = np.asarray(Image.open(photo("chelsea")).convert("RGB"))
    for fmt in ("HEIF", "AVIF", "WEBP"):
        data = _encoded(pixels, fmt)
        for cut in (0.1, 0.5, 0.9):  # the header, the middle, the end of the data
            with pytest.raises(ImpastoError, match="truncated or corrupt"):
                decode_image(data[: int(len(data) * cut)], f"{fmt} cut at {cut}")


def test_damaged_files_whose_decoder_raises_its_own_errors_are_one_line():
    """Pillow's AVIF plugin raises RuntimeError for damaged data, not OSError: the reader still says one line."""
    data = bytearray(_encoded(np.asarray(Image.open(photo("chelsea")).convert("RGB")), "AVIF"))
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(300):
        damaged = bytearray(data)
        for at in rng.integers(0, len(damaged), 8):
            damaged[at] = int(rng.integers(0, 256))
        try:
            decode_image(bytes(damaged), "damaged.avif")
        except ImpastoError as error:
            kinds.add(str(error).split("(")[0])
    assert kinds <= {
        "damaged.avif: cannot decode image: the file is truncated or corrupt ",
        "damaged.avif: cannot decode image: not an image in a format read here ",
    }, kinds


def test_a_webp_declaring_9000_by_9000_is_refused_before_decoding(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (9000, 9000), (90, 120, 200)).save(buffer, "WEBP", quality=5)
    bomb = tmp_path / "bomb.webp"
    bomb.write_bytes(buffer.getvalue())  # a few hundred kB for 81 M pixels
    began = time.perf_counter()
    with pytest.raises(ImageTooLarge, match="9000×9000"):
        read_image(bomb)  # the default limit, the CLI's --max-pixels default
    assert time.perf_counter() - began < 0.1  # decoding it takes seconds and ~1 GB
    output = tmp_path / "out.png"
    done = run_cli("stylize", bomb, "-o", output, "--quiet")
    assert_one_line_failure(done, output, "bomb.webp", "9000×9000", "--max-pixels")
    done = run_cli("stylize", bomb, "-o", output, "--quiet", "--max-pixels", "1000")
    assert_one_line_failure(done, output, "more than the 1,000 allowed")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF"])
def test_every_accepted_format_says_its_size_before_decoding(fmt):
    noise = np.random.default_rng(1).integers(0, 256, (400, 560, 3), dtype=np.uint8)
    data = _encoded(noise, fmt)
    assert read_size(data, fmt) == (560, 400)
    with pytest.raises(ImageTooLarge, match="560×400"):
        decode_image(data, fmt, max_pixels=560 * 400 - 1)
    # proof that nothing was decoded: with its pixel data cut off, a reader that decoded first would say
    # "truncated"; this one still answers from the header alone. (The WebP, HEIF and AVIF readers check their
    # whole container when they open it: a cut file is refused as damaged, a whole one answered in under 1 ms.)
    if fmt not in ("WEBP", "HEIF", "AVIF"):
        with pytest.raises(ImageTooLarge, match="560×400"):
            decode_image(data[: len(data) // 2], fmt, max_pixels=560 * 400 - 1)


def test_a_jpeg_with_a_fill_byte_before_its_frame_header_is_still_measured():
    data = _encoded(np.zeros((40, 56, 3), np.uint8), "JPEG")
    frame = data.index(b"\xff\xc0")
    filled = data[:frame] + b"\xff" + data[frame:]  # a legal fill byte before the SOF marker
    with pytest.raises(ImageTooLarge, match="56×40"):
        decode_image(filled, "filled.jpg", max_pixels=100)


def test_formats_outside_the_list_are_refused_unopened():
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buffer, "ICO")
    with pytest.raises(ImpastoError, match="not an image in a format read here"):
        decode_image(buffer.getvalue(), "icon.ico")


def test_decoding_in_threads_needs_no_process_wide_state():
    """The server decodes in threads: truncated and good images at once, each thread gets its own answer."""
    good = photo("rocket").read_bytes()
    bad = good[: len(good) // 2]
    results: dict[int, object] = {}

    def work(index: int) -> None:
        try:
            results[index] = decode_image(good if index % 2 else bad, f"image {index}").shape
        except ImpastoError as error:
            results[index] = str(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    expected_shape = decode_image(good, "rocket").shape
    for index in range(12):
        if index % 2:
            assert results[index] == expected_shape
        else:
            assert isinstance(results[index], str) and "truncated" in results[index]
